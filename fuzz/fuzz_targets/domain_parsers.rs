//! Domain registration parsers on arbitrary input: every WHOIS layout (the
//! answer as text, UTF-8 or not), the RDAP domain object, the RDAP
//! bootstrap file and registry dates. None may panic; a registration that
//! comes out must be consistent.

#![no_main]

use keepup_probe::domain::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the layout, the rest is the answer; every
    // layout also sees the whole input.
    let text = String::from_utf8_lossy(data);
    if let Some((&first, rest)) = data.split_first() {
        let layout = fuzzing::LAYOUTS[usize::from(first) % fuzzing::LAYOUTS.len()];
        let _ = fuzzing::whois(layout, &String::from_utf8_lossy(rest));
    }
    for layout in fuzzing::LAYOUTS {
        if let fuzzing::Answer::Registered(reg) = fuzzing::whois(*layout, &text) {
            assert!(reg.name.is_some() || reg.expires.is_some());
            assert!(reg.nameservers.len() <= 64 && reg.statuses.len() <= 64);
        }
    }
    if let Ok(reg) = fuzzing::rdap(data) {
        assert!(reg.statuses.len() <= 32 && reg.nameservers.len() <= 32);
    }
    let _ = fuzzing::bootstrap(data, "shop.example.com.br");
    for line in text.lines().take(64) {
        let _ = fuzzing::date(line);
    }
});
