//! S3 targets end to end, against moto's S3 server on loopback with request
//! signatures checked (crates/testkit/src/s3.rs): keepup writes, the Debian
//! `restic` (its own S3 client) lists, checks every byte and restores
//! identical files, and the reverse; a plan with a local and an S3 copy
//! survives the loss of the local one; listings past S3's 1000-key page;
//! verification and freshness on S3; and the bad cases: a wrong secret, an
//! unknown key, a missing bucket, a server that is down or silent, hostile
//! servers (endless bodies, garbage and endless listings).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use keepup_backup::backend::{Location, Secret, TargetAccess, TargetOptions, open_backend};
use keepup_backup::{RestoreTo, SnapshotRef, freshness, list, restore, run_plan_with};
use keepup_config::backup::ReadData;
use keepup_model::Status;
use keepup_model::codes;
use keepup_testkit::TestServer;
use keepup_testkit::hostile::{Behaviour, HostileServer};
use keepup_testkit::s3::MotoS3;
use rustic_core::{BytesList, FileType, Id, WriteBackend};
use support::*;

// ---------------------------------------------------------------- helpers

/// The test user's credentials in files next to the repository password,
/// as an operator would keep them.
fn credential_files(fx: &Fixture, moto: &MotoS3, secret: &str) -> (String, String) {
    let id = fx.path("s3.id");
    let key = fx.path("s3.secret");
    std::fs::write(&id, format!("{}\n", moto.access_key_id())).unwrap();
    std::fs::write(&key, format!("{secret}\n")).unwrap();
    (id.display().to_string(), key.display().to_string())
}

/// A `[[backup.target]]` table for `location` with credentials by file.
fn s3_target(fx: &Fixture, moto: &MotoS3, id: &str, location: &str, secret: &str) -> String {
    let (id_file, secret_file) = credential_files(fx, moto, secret);
    format!(
        r#"
[[backup.target]]
id = "{id}"
repository = "{location}"
offsite = true
s3_access_key_id_file = "{id_file}"
s3_secret_access_key_file = "{secret_file}"
"#
    )
}

/// A plan backing up `src` (and a command's output) to one S3 target.
fn s3_plan(fx: &Fixture, moto: &MotoS3, location: &str, secret: &str) -> keepup_config::BackupPlan {
    let src = fx.path("src");
    fx.plan(&format!(
        r#"[[backup]]
id = "files"
hostname = "shop-prod"
allow_single_target = true
[[backup.source]]
kind = "paths"
paths = ["{src}"]
[[backup.source]]
kind = "command"
command = ["sh", "-c", "seq 1 20000"]
filename = "numbers.txt"
{target}"#,
        src = src.display(),
        target = s3_target(fx, moto, "s3", location, secret),
    ))
}

/// The Debian `restic` on an S3 repository with the test user's keys in
/// its environment, as restic users give them. Must succeed.
fn restic_s3(fx: &Fixture, moto: &MotoS3, repo: &str, args: &[&str]) -> String {
    let mut restic = keepup_testkit::restic::command(repo, &fx.password_file);
    restic
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_ACCESS_KEY_ID", moto.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", moto.secret_access_key())
        .args(args);
    keepup_testkit::restic::run(&mut restic).unwrap_or_else(|e| panic!("{e}"))
}

/// Backend options with the test user's keys.
fn s3_opts(moto: &MotoS3) -> TargetOptions {
    TargetOptions {
        access: TargetAccess {
            s3_access_key_id: Some(Secret::new(moto.access_key_id().to_owned())),
            s3_secret_access_key: Some(Secret::new(moto.secret_access_key().to_owned())),
            ..TargetAccess::default()
        },
        ..TargetOptions::default()
    }
}

/// Options that give up quickly, with any credentials.
fn quick_opts(attempts: u32) -> TargetOptions {
    TargetOptions {
        access: TargetAccess {
            s3_access_key_id: Some(Secret::new("AKIAQUICKTEST".into())),
            s3_secret_access_key: Some(Secret::new("quick-test-secret".into())),
            ..TargetAccess::default()
        },
        attempts,
        connect_timeout: Duration::from_secs(2),
        io_timeout: Duration::from_secs(2),
        ..TargetOptions::default()
    }
}

fn backend(loc: &str, opts: &TargetOptions) -> Arc<dyn WriteBackend> {
    open_backend(&Location::parse(loc).unwrap(), opts).unwrap()
}

/// The error of `op` on a backend for the (test) server at `addr`.
fn failure<T: std::fmt::Debug>(
    addr: std::net::SocketAddr,
    attempts: u32,
    op: impl FnOnce(&dyn WriteBackend) -> rustic_core::RusticResult<T>,
) -> String {
    let be = backend(&format!("s3:http://{addr}/bucket/r"), &quick_opts(attempts));
    op(be.as_ref()).unwrap_err().to_string()
}

fn list_snapshots(be: &dyn WriteBackend) -> rustic_core::RusticResult<Vec<(Id, u32)>> {
    be.list_with_size(FileType::Snapshot)
}

fn the_numbers() -> String {
    (1..=20000).map(|n| format!("{n}\n")).collect()
}

// ---------------------------------------------------------------- interop

#[test]
fn keepup_writes_to_s3_and_restic_lists_checks_and_restores() {
    let moto = MotoS3::start().unwrap();
    let fx = Fixture::new();
    let src = fx.path("src");
    generate_tree(&src, 11, 80, 400_000);
    let loc = moto.location("shop-backups", "files/prod");
    let plan = s3_plan(&fx, &moto, &loc, moto.secret_access_key());
    // Initialising creates the bucket (as `restic init` does).
    keepup_backup::init(&plan, "s3").expect("init");
    let report = run_plan_with(&plan, None, &quick(), progress());
    assert!(report.ok(), "{report:#?}");
    let id = report.targets[0].snapshot.clone().unwrap();

    let snaps: serde_json::Value =
        serde_json::from_str(&restic_s3(&fx, &moto, &loc, &["snapshots", "--json"])).unwrap();
    let ids: Vec<&str> = snaps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()], "restic lists the snapshot keepup wrote");
    let check = restic_s3(&fx, &moto, &loc, &["check", "--read-data"]);
    assert!(check.contains("no errors were found"), "{check}");
    let out = fx.path("restic-restore");
    restic_s3(
        &fx,
        &moto,
        &loc,
        &["restore", "latest", "--target", out.to_str().unwrap()],
    );
    assert_eq!(
        digest(&out.join(src.strip_prefix("/").unwrap())),
        digest(&src),
        "restic restores the tree byte for byte"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("files/numbers.txt")).unwrap(),
        the_numbers(),
        "and the command's output"
    );

    // restic's layout: packs under data/<2 hex>/, found by a prefix
    // listing of the bucket (restic reads them there, above, too).
    let be = backend(&loc, &s3_opts(&moto));
    let packs = be.list_with_size(FileType::Pack).unwrap();
    let restic_packs = restic_s3(&fx, &moto, &loc, &["list", "packs"]);
    assert_eq!(packs.len(), restic_packs.lines().count(), "{restic_packs}");
    for (id, size) in &packs {
        assert!(restic_packs.contains(id.to_hex().as_str()));
        assert!(*size > 0);
    }

    // An unchanged second run adds nothing.
    // A second run: the unchanged tree comes from the parent snapshot.
    let again = run_plan_with(&plan, None, &quick(), progress());
    assert!(again.ok(), "{again:#?}");
    let t = &again.targets[0];
    // (The command's output is stored again: never "unchanged".)
    assert_eq!(t.files_new, 0, "{t:?}");
    assert!(t.files_changed <= 1, "{t:?}");
    assert_eq!(list(&plan, "s3").unwrap().len(), 2);
}

#[test]
fn restic_writes_to_s3_and_keepup_reads_and_restores() {
    let moto = MotoS3::start().unwrap();
    let fx = Fixture::new();
    let src = fx.path("src");
    generate_tree(&src, 12, 40, 300_000);
    let loc = moto.location("written-by-restic", "");
    restic_s3(&fx, &moto, &loc, &["init"]);
    restic_s3(
        &fx,
        &moto,
        &loc,
        &[
            "backup",
            "--host",
            "shop-prod",
            "--tag",
            "keepup:files",
            src.to_str().unwrap(),
        ],
    );
    let plan = s3_plan(&fx, &moto, &loc, moto.secret_access_key());
    let snaps = list(&plan, "s3").unwrap();
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    let now = jiff::Zoned::now();
    let checked = keepup_backup::check(&plan, "s3", ReadData::All, &now, progress()).unwrap();
    assert!(checked.errors.is_empty(), "{checked:?}");
    let out = fx.path("keepup-restore");
    restore(
        &plan,
        "s3",
        &SnapshotRef::Latest,
        RestoreTo::Dir(out.clone()),
        progress(),
    )
    .unwrap();
    assert_eq!(
        digest(&out.join(src.strip_prefix("/").unwrap())),
        digest(&src)
    );
}

#[test]
fn after_losing_the_local_copy_everything_is_restored_from_s3() {
    let moto = MotoS3::start().unwrap();
    let fx = Fixture::new();
    let src = fx.path("src");
    generate_tree(&src, 13, 60, 300_000);
    let local = fx.repo_dir("local-repo");
    let loc = moto.location("offsite", "shop");
    let plan = fx.plan(&format!(
        r#"[[backup]]
id = "files"
[[backup.source]]
kind = "paths"
paths = ["{src}"]
[[backup.source]]
kind = "command"
command = ["sh", "-c", "seq 1 20000"]
filename = "numbers.txt"
[[backup.target]]
id = "local"
repository = "{local}"
{s3}"#,
        src = src.display(),
        local = local.display(),
        s3 = s3_target(&fx, &moto, "s3", &loc, moto.secret_access_key()),
    ));
    for t in ["local", "s3"] {
        keepup_backup::init(&plan, t).unwrap();
    }
    let report = run_plan_with(&plan, None, &quick(), progress());
    assert!(report.ok(), "{report:#?}");
    assert_eq!(
        report.outcome().message,
        "backup files stored on 2 of 2 targets"
    );
    let want = digest(&src);

    // The machine's disk is gone: the local repository and the source.
    std::fs::remove_dir_all(&local).unwrap();
    std::fs::remove_dir_all(&src).unwrap();
    let now = jiff::Zoned::now();
    assert!(freshness(&plan, "local", &now).is_err());
    assert_eq!(
        freshness(&plan, "s3", &now).unwrap().outcome().status,
        Status::Up
    );
    let out = fx.path("disaster");
    let r = restore(
        &plan,
        "s3",
        &SnapshotRef::Latest,
        RestoreTo::Dir(out.clone()),
        progress(),
    )
    .unwrap();
    assert!(r.files > 50, "{r:?}");
    assert_eq!(digest(&out.join(src.strip_prefix("/").unwrap())), want);
    assert_eq!(
        std::fs::read_to_string(out.join("files/numbers.txt")).unwrap(),
        the_numbers()
    );
}

#[test]
fn listings_past_one_page_find_every_object() {
    let moto = MotoS3::start().unwrap();
    let fx = Fixture::new();
    let src = fx.path("src");
    generate_tree(&src, 14, 10, 50_000);
    let loc = moto.location("paging", "repo");
    let plan = s3_plan(&fx, &moto, &loc, moto.secret_access_key());
    keepup_backup::init(&plan, "s3").unwrap();
    assert!(run_plan_with(&plan, None, &quick(), progress()).ok());

    let be = backend(&loc, &s3_opts(&moto));
    let real = be.list_with_size(FileType::Pack).unwrap();
    // 1100 more objects in data/<2 hex>/ than moto's page of 1000 keys,
    // written from four threads.
    let extra: Vec<(Id, u32)> = (0..1100u32)
        .map(|i| {
            let mut hex = format!("{:064x}", u128::from(i) * 0x9E37_79B9_7F4A_7C15_F39C);
            hex.truncate(64);
            (hex.parse().unwrap(), 100 + i % 7)
        })
        .collect();
    std::thread::scope(|s| {
        for part in extra.chunks(275) {
            let be = Arc::clone(&be);
            s.spawn(move || {
                for (id, size) in part {
                    let body = Bytes::from(vec![0u8; *size as usize]);
                    be.write_bytes(FileType::Pack, id, false, body.into())
                        .unwrap();
                }
            });
        }
    });
    let mut listed = be.list_with_size(FileType::Pack).unwrap();
    assert_eq!(listed.len(), real.len() + extra.len());
    listed.sort();
    let mut want: Vec<(Id, u32)> = real.iter().chain(&extra).copied().collect();
    want.sort();
    assert_eq!(listed, want, "every object, with its size");
    // restic pages through the same listing.
    let restic_packs = restic_s3(&fx, &moto, &loc, &["list", "packs"]);
    assert_eq!(restic_packs.lines().count(), want.len());

    for (id, _) in &extra {
        be.remove(FileType::Pack, id, false).unwrap();
    }
    assert_eq!(be.list_with_size(FileType::Pack).unwrap().len(), real.len());
    let check = restic_s3(&fx, &moto, &loc, &["check"]);
    assert!(check.contains("no errors were found"), "{check}");
}

#[test]
fn verify_and_freshness_work_on_s3_and_find_a_damaged_pack() {
    let moto = MotoS3::start().unwrap();
    let fx = Fixture::new();
    let src = fx.path("src");
    generate_tree(&src, 15, 40, 300_000);
    let loc = moto.location("verified", "");
    let plan = s3_plan(&fx, &moto, &loc, moto.secret_access_key());
    let now = jiff::Zoned::now();
    keepup_backup::init(&plan, "s3").unwrap();
    let none = freshness(&plan, "s3", &now).unwrap().outcome();
    assert_eq!(none.findings[0].code, codes::BACKUP_NO_SNAPSHOT);
    assert!(run_plan_with(&plan, None, &quick(), progress()).ok());
    let fresh = freshness(&plan, "s3", &jiff::Zoned::now())
        .unwrap()
        .outcome();
    assert_eq!(fresh.status, Status::Up, "{fresh:?}");
    for read in [
        ReadData::Percent(50.0),
        ReadData::Part { n: 1, m: 2 },
        ReadData::All,
    ] {
        let r = keepup_backup::check(&plan, "s3", read, &now, progress()).unwrap();
        assert!(r.errors.is_empty(), "{r:?}");
        assert_eq!(r.outcome().status, Status::Up);
    }

    // Flip bytes in the biggest pack, in place on the server.
    let be = backend(&loc, &s3_opts(&moto));
    let (id, _) = be
        .list_with_size(FileType::Pack)
        .unwrap()
        .into_iter()
        .max_by_key(|(_, size)| *size)
        .unwrap();
    let mut data = be.read_full(FileType::Pack, &id).unwrap().to_vec();
    let mid = data.len() / 2;
    for b in &mut data[mid..mid + 16] {
        *b ^= 0xff;
    }
    be.write_bytes(FileType::Pack, &id, false, Bytes::from(data).into())
        .unwrap();
    let r = keepup_backup::check(&plan, "s3", ReadData::All, &now, progress()).unwrap();
    assert!(!r.errors.is_empty(), "the damage is found: {r:?}");
    let o = r.outcome();
    assert_eq!(o.status, Status::Down);
    assert!(
        o.findings
            .iter()
            .any(|f| f.code == codes::BACKUP_CHECK_FAILED),
        "{o:?}"
    );
}

#[test]
fn another_region_and_a_session_token_are_signed() {
    let moto = MotoS3::start().unwrap();
    let loc = moto.location("eu-bucket", "r");
    let temporary = moto.temporary_credentials();
    let opts = TargetOptions {
        access: TargetAccess {
            s3_region: Some("eu-central-1".into()),
            s3_access_key_id: Some(Secret::new(temporary.access_key_id.clone())),
            s3_secret_access_key: Some(Secret::new(temporary.secret_access_key.clone())),
            s3_session_token: Some(Secret::new(temporary.session_token.clone())),
            ..TargetAccess::default()
        },
        ..TargetOptions::default()
    };
    let be = backend(&loc, &opts);
    // The bucket is made in that region (LocationConstraint), and every
    // request's signature, which covers the token header, is accepted.
    be.create().unwrap();
    be.create().unwrap();
    let id = Id::default();
    // A body of two chunks, hashed and sent as one.
    let mut two = BytesList::from(Bytes::from_static(b"hello "));
    two.add(Bytes::from_static(b"world"));
    be.write_bytes(FileType::Key, &id, false, two).unwrap();
    assert_eq!(
        &be.read_full(FileType::Key, &id).unwrap()[..],
        b"hello world"
    );
    assert_eq!(
        &be.read_partial(FileType::Key, &id, false, 6, 5).unwrap()[..],
        b"world"
    );
    assert_eq!(be.list_with_size(FileType::Key).unwrap(), vec![(id, 11)]);
    be.remove(FileType::Key, &id, false).unwrap();
    assert!(be.list_with_size(FileType::Key).unwrap().is_empty());

    // Without its token (or with another) the temporary key is refused.
    let tokenless = {
        let mut opts = opts.clone();
        opts.access.s3_session_token = None;
        opts
    };
    let err = backend(&loc, &tokenless)
        .list_with_size(FileType::Key)
        .unwrap_err()
        .to_string();
    assert!(err.contains("HTTP 403"), "{err}");
    let forged = {
        let mut opts = opts;
        opts.access.s3_session_token = Some(Secret::new("forged-token".into()));
        opts
    };
    let err = backend(&loc, &forged)
        .list_with_size(FileType::Key)
        .unwrap_err()
        .to_string();
    assert!(err.contains("InvalidToken"), "{err}");
    assert!(!err.contains(&temporary.session_token), "{err}");
}

// ---------------------------------------------------------------- bad input

#[test]
fn a_wrong_secret_or_unknown_key_is_a_clear_error_without_the_secret() {
    let moto = MotoS3::start().unwrap();
    let fx = Fixture::new();
    generate_tree(&fx.path("src"), 16, 3, 1000);
    let loc = moto.location("shop", "");
    let good = s3_plan(&fx, &moto, &loc, moto.secret_access_key());
    keepup_backup::init(&good, "s3").unwrap();

    let wrong = "Wr0ng-Secret/Key+XYZ";
    let plan = s3_plan(&fx, &moto, &loc, wrong);
    let report = run_plan_with(&plan, None, &quick(), progress());
    assert!(!report.ok());
    let err = report.targets[0].error.clone().unwrap();
    assert!(err.contains("target \"s3\""), "{err}");
    assert!(err.contains("SignatureDoesNotMatch"), "{err}");
    assert!(
        err.contains("(authentication failed: the server signs the request differently, so the secret access key is wrong; check s3_secret_access_key_env or s3_secret_access_key_file)"),
        "{err}"
    );
    let everything = format!("{report:?} {:?}", report.outcome());
    assert!(
        !everything.contains(wrong),
        "the secret leaked: {everything}"
    );
    assert!(!everything.contains(moto.secret_access_key()));
    assert!(
        !err.contains("attempts"),
        "a refused signature is not retried: {err}"
    );

    let unknown = {
        let mut opts = s3_opts(&moto);
        opts.access.s3_access_key_id = Some(Secret::new("AKIAUNKNOWNKEY000000".into()));
        opts
    };
    let err = backend(&loc, &unknown)
        .list_with_size(FileType::Snapshot)
        .unwrap_err()
        .to_string();
    assert!(err.contains("InvalidAccessKeyId"), "{err}");
    assert!(
        err.contains("the server does not know this access key id; check s3_access_key_id_env or s3_access_key_id_file"),
        "{err}"
    );
    assert!(err.contains(&loc), "names the target: {err}");
    assert!(!err.contains(moto.secret_access_key()), "{err}");
}

#[test]
fn a_missing_bucket_is_a_clear_error() {
    let moto = MotoS3::start().unwrap();
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.path("src")).unwrap();
    let loc = moto.location("no-such-bucket", "repo");
    let plan = s3_plan(&fx, &moto, &loc, moto.secret_access_key());
    let report = run_plan_with(&plan, None, &quick(), progress());
    assert!(!report.ok());
    let err = report.targets[0].error.clone().unwrap();
    assert!(
        err.contains("the bucket \"no-such-bucket\" does not exist"),
        "{err}"
    );
    let err = list(&plan, "s3").unwrap_err().to_string();
    assert!(err.contains("does not exist"), "{err}");
    let err = freshness(&plan, "s3", &jiff::Zoned::now()).unwrap_err();
    let o = keepup_backup::freshness::unavailable_outcome(&plan, "s3", &err);
    assert_eq!(o.status, Status::Down);
    assert_eq!(o.findings[0].code, codes::BACKUP_UNAVAILABLE);
    // Listing a type directly says the same.
    let err = backend(&loc, &s3_opts(&moto))
        .list_with_size(FileType::Index)
        .unwrap_err()
        .to_string();
    assert!(err.contains("NoSuchBucket"), "{err}");
    assert!(err.contains("the bucket does not exist"), "{err}");
}

#[test]
fn missing_credentials_are_a_clear_error_naming_the_variables() {
    let fx = Fixture::new();
    let plan = fx.plan(
        r#"[[backup]]
id = "files"
allow_single_target = true
[[backup.source]]
kind = "command"
command = ["true"]
filename = "x"
[[backup.target]]
id = "s3"
repository = "s3:http://127.0.0.1:9/bucket"
"#,
    );
    let env_has_keys = std::env::var_os("AWS_ACCESS_KEY_ID").is_some()
        && std::env::var_os("AWS_SECRET_ACCESS_KEY").is_some();
    let err = list(&plan, "s3").unwrap_err().to_string();
    if env_has_keys {
        // This environment provides keys: they are used (and the closed
        // port is what fails).
        assert!(err.contains("cannot connect"), "{err}");
    } else {
        assert!(err.contains("target \"s3\""), "{err}");
        assert!(err.contains("no S3 credentials"), "{err}");
        assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
        assert!(err.contains("s3_access_key_id_env"), "{err}");
    }
}

#[test]
fn a_server_that_is_down_or_silent_fails_in_bounded_time_naming_the_target() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let loc = format!("s3:http://127.0.0.1:{port}/bucket/repo");
    let started = Instant::now();
    let err = backend(&loc, &quick_opts(2))
        .list_with_size(FileType::Snapshot)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&loc), "{err}");
    assert!(
        err.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(err.contains("after 2 attempts"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));

    let silent = HostileServer::start_background(Behaviour::Silent).unwrap();
    let loc = format!("s3:http://{}/bucket", silent.addr());
    let started = Instant::now();
    let err = backend(&loc, &quick_opts(2))
        .read_full(FileType::Config, &Id::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains(&loc), "{err}");
    assert!(err.contains("no answer within 2s"), "{err}");
    assert!(err.contains("after 2 attempts"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn hostile_servers_give_errors_not_hangs_or_panics() {
    for (behaviour, want) in [
        // An endless listing body: cut at the page limit.
        (
            Behaviour::EndlessBody,
            "response larger than 16777216 bytes",
        ),
        (Behaviour::Garbage, "request failed"),
        (Behaviour::EndlessHeaders, "request failed"),
        (Behaviour::HugeContentLength, "response larger than"),
    ] {
        let server = HostileServer::start_background(behaviour.clone()).unwrap();
        let started = Instant::now();
        let err = failure(server.addr(), 2, |be| be.list_with_size(FileType::Index));
        assert!(err.contains(want), "{behaviour:?}: {err}");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{behaviour:?}: {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn garbage_listings_are_clear_errors() {
    let server = TestServer::start_background(|_req| async {
        keepup_testkit::http::html(200, "<html><body>Welcome to nginx!</body></html>")
    })
    .unwrap();
    let err = failure(server.addr(), 1, list_snapshots);
    assert!(err.contains("not an S3 ListObjectsV2 answer"), "{err}");
    assert!(err.contains("Welcome to nginx"), "{err}");

    // Truncated, and the same token again and again.
    let server = TestServer::start_background(|_req| async {
        keepup_testkit::http::text(
            200,
            "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>again</NextContinuationToken></ListBucketResult>",
        )
    })
    .unwrap();
    let err = failure(server.addr(), 1, list_snapshots);
    assert!(err.contains("pages without progress"), "{err}");
    assert!(server.requests() <= 3, "{}", server.requests());
}

#[test]
fn an_endless_listing_stops_at_the_listing_limit() {
    // Every page: 1000 keys of 1 kB, truncated, with a new token.
    let filler = "k".repeat(1000);
    let contents: String = (0..1000)
        .map(|_| format!("<Contents><Key>{filler}</Key><Size>1</Size></Contents>"))
        .collect();
    let contents = Arc::new(contents);
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let server = TestServer::start_background(move |_req| {
        let contents = Arc::clone(&contents);
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            keepup_testkit::http::text(
                200,
                format!(
                    "<ListBucketResult><IsTruncated>true</IsTruncated>{contents}<NextContinuationToken>t{n}</NextContinuationToken></ListBucketResult>"
                ),
            )
        }
    })
    .unwrap();
    let err = failure(server.addr(), 1, |be| be.list_with_size(FileType::Pack));
    assert!(err.contains("listing larger than 268435456 bytes"), "{err}");
    // About 1 MB a page: it stopped after some 256 pages.
    let pages = server.requests();
    assert!((250..300).contains(&pages), "{pages}");
}

#[test]
fn slow_down_is_retried_then_reported() {
    let server = TestServer::start_background(|_req| async {
        keepup_testkit::http::text(
            503,
            "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
        )
    })
    .unwrap();
    let err = failure(server.addr(), 3, |be| {
        be.read_full(FileType::Snapshot, &Id::default())
    });
    assert!(err.contains("HTTP 503"), "{err}");
    assert!(
        err.contains("SlowDown: Please reduce your request rate."),
        "{err}"
    );
    assert!(err.contains("after 3 attempts"), "{err}");
    assert_eq!(server.requests(), 3);
}

#[test]
fn requests_are_signed_path_style_with_the_payload_hash() {
    let server =
        TestServer::start_background(|_req| async { keepup_testkit::http::text(200, "") }).unwrap();
    let loc = format!("s3:http://{}/bucket/pre", server.addr());
    let be = backend(&loc, &quick_opts(1));
    let id: Id = "ab00000000000000000000000000000000000000000000000000000000000000"
        .parse()
        .unwrap();
    be.write_bytes(
        FileType::Pack,
        &id,
        false,
        Bytes::from_static(b"Welcome to Amazon S3.").into(),
    )
    .unwrap();
    let got = server.received();
    let r = &got[0];
    assert_eq!(r.method, "PUT");
    assert_eq!(
        r.uri.path(),
        format!("/bucket/pre/data/ab/{}", id.to_hex().as_str())
    );
    assert_eq!(
        r.headers["x-amz-content-sha256"],
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    );
    let auth = r.headers["authorization"].to_str().unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIAQUICKTEST/"),
        "{auth}"
    );
    assert!(
        auth.contains("/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="),
        "{auth}"
    );
    assert!(!auth.contains("quick-test-secret"));
}

#[test]
fn credentials_in_the_location_are_refused() {
    let err = Location::parse("s3:https://AKIAXX:s3cr3t/abc@minio.example/bucket")
        .unwrap_err()
        .to_string();
    assert!(err.contains("credentials"), "{err}");
    assert!(!err.contains("s3cr3t"), "{err}");
}

#[test]
fn https_endpoints_trust_the_ca_file_only() {
    let ca = keepup_testkit::CertAuthority::new("keepup s3 test root").unwrap();
    let leaf = ca
        .issue(&["127.0.0.1"], keepup_testkit::pki::validity::current())
        .unwrap();
    let ca_file = ca.root_pem_file().unwrap();
    let server = TestServer::builder()
        .tls(keepup_testkit::ServerTls::new(&leaf))
        .start_background(|_req| async {
            keepup_testkit::http::text(
                200,
                "<ListBucketResult><Contents><Key>r/keys/0000000000000000000000000000000000000000000000000000000000000001</Key><Size>7</Size></Contents></ListBucketResult>",
            )
        })
        .unwrap();
    let loc = format!("s3:https://{}/bucket/r", server.addr());

    // Without the CA: a certificate error, not retried.
    let err = backend(&loc, &quick_opts(3))
        .list_with_size(FileType::Key)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("TLS handshake with 127.0.0.1 failed: the certificate for 127.0.0.1 is not issued by a certificate authority keepup trusts (self-signed or from a private CA?): add its CA with `ca_file`"),
        "{err}"
    );
    assert!(!err.contains("attempts"), "{err}");

    let opts = {
        let mut opts = quick_opts(1);
        opts.access.ca_file = Some(ca_file.path().to_owned());
        opts
    };
    let keys = backend(&loc, &opts).list_with_size(FileType::Key).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].1, 7);
    let got = server.received();
    assert_eq!(
        got.last().unwrap().uri.to_string(),
        "/bucket?list-type=2&max-keys=1000&prefix=r%2Fkeys%2F"
    );
}
