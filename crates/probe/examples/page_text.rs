//! Speed of the policy-page text pipeline on a realistic page: HTML to
//! visible text, the noise filter, SHA-256 (via the hash the page check
//! uses: the change hash) and the soft-404 similarity.
//!
//! ```sh
//! cargo run --release -p keepup-probe --example page_text -- 200
//! ```
//!
//! The argument is the page size in KiB (default 200); the page is a
//! shop's privacy policy in a site template with scripts, styles, dates,
//! tokens and entities, repeated to size.

use std::time::{Duration, Instant};

use keepup_probe::page::{similarity, visible_text, without_noise};

fn page(kib: usize) -> String {
    let mut html = String::from(
        "<!DOCTYPE html><html lang=\"de\"><head><meta charset=\"utf-8\"><title>Datenschutz</title>\
         <style>body{font-family:sans-serif}.nav a{color:#333}</style>\
         <script>window.__STATE__={\"csrf\":\"Zm9vYmFyMTIzNDU2Nzg5MA==\",\"ts\":1718038123};</script>\
         </head><body><nav class=\"nav\"><a href=\"/\">Shop</a> <a href=\"/cart\">Warenkorb</a></nav><main>",
    );
    let mut section = 0;
    while html.len() < kib * 1024 {
        section += 1;
        html.push_str(&format!(
            "<h2>{section}. Verarbeitung personenbezogener Daten</h2>\
             <p>Wir verarbeiten Ihre Daten gem&auml;&szlig; Art. 6 Abs. 1 lit. b DSGVO, um Bestellungen \
             auszuf&uuml;hren. Rechnungen bewahren wir zehn Jahre auf. Stand: 1. Mai 2024, 14:05 Uhr.</p>\
             <ul><li>Name &amp; Anschrift</li><li>E-Mail-Adresse</li><li>Zahlungsdaten</li></ul>\
             <!-- build a8f5f167f44f4964e6c998dee827110c --><script>track({{id:{section}}});</script>"
        ));
    }
    html.push_str(
        "</main><footer>Impressum &middot; Datenschutz &middot; AGB</footer></body></html>",
    );
    html
}

fn main() {
    let kib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let html = page(kib);
    let other = html.replace("zehn Jahre", "acht Jahre");
    // Warm up (compiles the noise regexes once).
    let _ = without_noise(&visible_text(html.as_bytes(), Some("text/html")), &[]);

    let rounds = 50;
    let mut text_time = Duration::ZERO;
    let mut noise_time = Duration::ZERO;
    let mut similarity_time = Duration::ZERO;
    let mut chars = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        let text = visible_text(html.as_bytes(), Some("text/html; charset=utf-8"));
        text_time += t.elapsed();
        let t = Instant::now();
        let clean = without_noise(&text, &[]);
        noise_time += t.elapsed();
        let other_clean = without_noise(&visible_text(other.as_bytes(), Some("text/html")), &[]);
        let t = Instant::now();
        let score = similarity(&clean, &other_clean);
        similarity_time += t.elapsed();
        assert!(score > 0.5 && score < 1.0);
        chars = clean.len();
    }
    let mib = html.len() as f64 / (1024.0 * 1024.0);
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / f64::from(rounds);
    println!(
        "page={:.0} KiB text={} KiB visible_text={:.2} ms ({:.0} MiB/s) noise={:.2} ms similarity={:.2} ms total={:.2} ms per page",
        html.len() as f64 / 1024.0,
        chars / 1024,
        per(text_time),
        mib / (per(text_time) / 1000.0),
        per(noise_time),
        per(similarity_time),
        per(text_time + noise_time + similarity_time),
    );
}
