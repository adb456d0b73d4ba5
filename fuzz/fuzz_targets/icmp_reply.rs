//! ICMP reply parsing on arbitrary packets, as each socket kind hands them
//! over: no panic, and a parsed reply's payload lies inside the packet.
#![no_main]

use keepup_probe::icmp::parse_reply;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for (v6, with_ip_header) in [(false, false), (false, true), (true, false)] {
        if let Some(reply) = parse_reply(v6, with_ip_header, data) {
            assert!(reply.payload.len() + 8 <= data.len());
        }
    }
});
