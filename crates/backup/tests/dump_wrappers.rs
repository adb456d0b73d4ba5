//! Dumps cut short behind a wrapper that hides it: `mysqldump` and
//! `pg_dump` are replaced (on `PATH`) by scripts that pipe the real
//! program through `head -c LIMIT`, so the dump ends early while the
//! script exits with status 0. The run must still fail, because the
//! stored dump lacks the program's completion line, and record no
//! snapshot. The message quotes the wrapper's stderr with the database
//! password blanked out.
//!
//! It changes `PATH` (`set_var`), so it is the only test of this binary:
//! no other thread reads the environment meanwhile.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use keepup_backup::list;
use keepup_testkit::mariadb::MariaDb;
use keepup_testkit::postgres::Postgres;
use keepup_testkit::shopdata::ShopSize;
use support::*;

/// The program `name` on the current `PATH`.
fn which(name: &str) -> PathBuf {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed"))
}

#[test]
fn dumps_cut_short_behind_a_wrapper_fail_the_run() {
    let fx = Fixture::new();
    let bin = fx.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let limit = fx.path("limit");
    for name in ["pg_dump", "mysqldump"] {
        let real = which(name);
        let wrapper = bin.join(name);
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\n[ -x {bin}/echo-password ] && {bin}/echo-password\n\
                 \"{}\" \"$@\" | head -c \"$(cat {})\"\n",
                real.display(),
                limit.display(),
                bin = bin.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // SAFETY: the only test of this binary, before it starts any thread.
    unsafe { std::env::set_var("PATH", path) };

    let pg = Postgres::start().expect("start postgres");
    pg.load_shop("shop", &ShopSize::tiny(), 1).expect("load");
    let db = MariaDb::start().expect("start mariadb");
    db.load_shop("shop", &ShopSize::tiny(), 1).expect("load");
    for (kind, port, user, password, line) in [
        (
            "postgres",
            pg.port(),
            pg.user(),
            pg.password(),
            "-- PostgreSQL database dump complete",
        ),
        (
            "mysql",
            db.port(),
            db.user(),
            db.password(),
            "-- Dump completed",
        ),
    ] {
        let pw = fx.path(&format!("{kind}.pass"));
        std::fs::write(&pw, password).unwrap();
        let repo = fx.repo_dir(&format!("repo-{kind}"));
        let plan = fx.plan(&format!(
            "[[backup]]\nid = \"{kind}\"\nallow_single_target = true\n\
             [[backup.source]]\nkind = \"{kind}\"\nhost = \"127.0.0.1\"\nport = {port}\n\
             user = \"{user}\"\ndbname = \"shop\"\npassword_file = \"{}\"\n\
             [[backup.target]]\nid = \"local\"\nrepository = \"{}\"\n",
            pw.display(),
            repo.display()
        ));
        keepup_backup::init(&plan, "local").expect("init");

        // Through the wrapper, uncut: a good snapshot.
        std::fs::write(&limit, "1000000000").unwrap();
        assert_eq!(run_one_target(&plan), None, "{kind}");
        let whole = stored_stream(&plan, "shop.sql");
        assert!(String::from_utf8_lossy(&whole).contains(line), "{kind}");
        let before = list(&plan, "local").unwrap();
        assert_eq!(before.len(), 1);

        // Cut in the middle, exit status 0: a failed run, no snapshot.
        std::fs::write(&limit, (whole.len() / 2).to_string()).unwrap();
        let err =
            run_one_target(&plan).unwrap_or_else(|| panic!("{kind}: a cut dump was recorded"));
        eprintln!("{err}");
        assert!(err.contains("shop.sql"), "{err}");
        assert!(err.contains("exited with status 0"), "{err}");
        assert!(err.contains("completion line"), "{err}");
        assert!(err.contains("no snapshot was recorded"), "{err}");
        let after = list(&plan, "local").unwrap();
        assert_eq!(after.len(), 1, "{kind}: no snapshot for the cut dump");
        assert_eq!(after[0].id, before[0].id);

        // A limit that is not a number: head complains and the pipeline
        // fails. The wrapper also echoes the password it was given to
        // stderr: the message shows it blanked out.
        std::fs::write(&limit, "not-a-number").unwrap();
        let echo = bin.join("echo-password");
        std::fs::write(
            &echo,
            "#!/bin/sh\necho \"password is ${PGPASSWORD}${MYSQL_PWD}\" >&2\n",
        )
        .unwrap();
        std::fs::set_permissions(&echo, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err =
            run_one_target(&plan).unwrap_or_else(|| panic!("{kind}: an empty dump was recorded"));
        eprintln!("{err}");
        assert!(err.contains("password is ***"), "{err}");
        assert!(!err.contains(password), "{err}");
    }
}
