//! The whole SMTP dialogue of the mail probe (greeting, capabilities,
//! STARTTLS, login, goodbye) against arbitrary server output: it must end
//! in an outcome without panicking, within its limits, and never show the
//! test account's password in what the client sent.

#![no_main]

use keepup_config::MailProtocol;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(outcome) = keepup_probe::mail::fuzzing::dialogue(MailProtocol::Smtp, data) else {
        return;
    };
    assert!(!outcome.message.is_empty());
    let transcript = outcome.evidence.details.get("transcript");
    for line in transcript.and_then(|t| t.as_array()).into_iter().flatten() {
        let line = line.as_str().unwrap_or_default();
        if line.starts_with("C: ") {
            // The fuzz account's password is "secret".
            assert!(
                !line.contains("secret")
                    && !line.contains("c2VjcmV0")
                    && !line.contains("AHNlY3JldA"),
                "{line}"
            );
        }
    }
    assert!(transcript.and_then(|t| t.as_array()).map_or(0, Vec::len) <= 201);
});
