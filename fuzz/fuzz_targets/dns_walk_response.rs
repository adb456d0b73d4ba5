//! Name server responses as the delegation walk handles them: decoding with
//! the length checks, matching against the query, classification (answer,
//! referral, NXDOMAIN, no data, alias, unusable) against several questions
//! and zone cuts, SOA and record extraction, the evidence summary, and the
//! DNSBL decoding of A records. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    keepup_probe::dns::fuzzing::walk_response(data);
});
