//! Screenshots of failing browser checks: stored beside their result and
//! named in its evidence, the newest per check kept, deleted with the raw
//! results by compaction.

use std::time::Duration;

use keepup_model::{Attachment, CheckId, Outcome, Status};
use keepup_store::{ResultRecord, Retention, SCREENSHOTS_KEPT_PER_CHECK, Store};

fn failing(n: u8) -> Outcome {
    let mut outcome = Outcome::new(Status::Down, "step 2 \"add\" failed: no visible element");
    outcome.attachments.push(Attachment {
        mime: "image/jpeg".into(),
        bytes: vec![0xff, 0xd8, n],
    });
    outcome
}

fn screenshot_id(store: &Store, check: &CheckId) -> Option<i64> {
    let latest = store.latest_for(check).unwrap().expect("a result");
    latest.outcome.evidence.details.get("screenshot").map(|s| {
        assert_eq!(s["mime"], "image/jpeg");
        assert_eq!(s["bytes"], 3);
        s["id"].as_i64().expect("an id")
    })
}

#[test]
fn a_screenshot_is_kept_beside_its_result_newest_first_and_goes_with_it() {
    let store = Store::open_in_memory().unwrap();
    let walk = CheckId::new("shop", "walk");
    let kept = SCREENSHOTS_KEPT_PER_CHECK as u8;
    let mut ids = Vec::new();
    for n in 0..kept + 5 {
        let at = 60_000 * (i64::from(n) + 1);
        store
            .record(&[ResultRecord {
                check: walk.clone(),
                at,
                outcome: failing(n),
                backfill: false,
            }])
            .unwrap();
        let id = screenshot_id(&store, &walk).expect("the evidence names the screenshot");
        let shot = store.screenshot(id).unwrap().expect("stored");
        assert_eq!((shot.check.as_str(), shot.at), ("shop/walk", at));
        assert_eq!(shot.bytes, vec![0xff, 0xd8, n]);
        assert_eq!(store.screenshot_of_result(&walk, at).unwrap(), Some(id));
        ids.push(id);
    }
    // Only the newest are kept.
    for (i, id) in ids.iter().enumerate() {
        let stored = store.screenshot(*id).unwrap().is_some();
        assert_eq!(stored, i >= 5, "screenshot {i}");
    }
    // A result without one, or with something that is not an image, names none.
    let mut text = Outcome::new(Status::Down, "failed");
    text.attachments.push(Attachment {
        mime: "text/plain".into(),
        bytes: b"x".to_vec(),
    });
    let at = 60_000 * 40;
    store
        .record(&[ResultRecord {
            check: walk.clone(),
            at,
            outcome: text,
            backfill: false,
        }])
        .unwrap();
    assert_eq!(screenshot_id(&store, &walk), None);
    assert_eq!(store.screenshot_of_result(&walk, at).unwrap(), None);

    // Compaction a day later with an hour of raw results keeps none.
    let retention = Retention {
        raw: Duration::from_secs(3600),
        ..Retention::default()
    };
    let report = store.compact(at + 86_400_000, &retention).unwrap();
    assert_eq!(report.screenshots_deleted, u64::from(kept));
    assert!(store.screenshot(ids[ids.len() - 1]).unwrap().is_none());
}
