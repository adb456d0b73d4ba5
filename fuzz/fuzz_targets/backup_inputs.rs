//! What an operator writes for backups: repository locations in restic's
//! syntax, `--into-db` database URLs and read-data subsets; and what an S3
//! server answers (ListObjectsV2 pages, error documents). Nothing may
//! panic, a printed location that parses again is the same location, and
//! the XML reader keeps no text longer than its bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(page) = keepup_backup::backend::fuzzing::s3_list_page(data) {
        assert!(page.objects.iter().all(|(k, _)| k.len() <= 4096));
    }
    let _ = keepup_backup::backend::fuzzing::s3_error(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(loc) = keepup_backup::backend::Location::parse(text)
        && let Ok(again) = keepup_backup::backend::Location::parse(&loc.to_string())
    {
        // What is printed in messages never names another repository.
        assert_eq!(loc, again);
    }
    let _ = keepup_backup::dbrestore::RestoreTarget::from_url(text);
    let _ = keepup_config::backup::parse_read_data(text);
});
