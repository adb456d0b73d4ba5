//! Statuspage summaries: arbitrary bytes are either a summary or a reason,
//! never a panic; the mapping of a summary never panics either.
#![no_main]

use keepup_probe::statuspage::{parse_summary, vendor_status};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_summary(data) {
        Ok(summary) => {
            let watched = ["API".to_owned(), "Checkout".to_owned()];
            let v = vendor_status(&summary, &watched);
            assert!(v.missing.len() <= watched.len());
            let _ = vendor_status(&summary, &[]);
        }
        Err(why) => assert!(!why.is_empty()),
    }
});
