//! Runbook notes on the dashboard over real HTTP: a real monitor runs a
//! `tcp` check of a port nobody listens on (Down with TCP_CONNECT_FAILED,
//! an incident); the check page and the incident page show the check's
//! note, the `[[runbook]]` note of the finding's code and the site's note
//! (from a file), rendered from Markdown with the raw HTML as text and the
//! `javascript:` link refused.

mod support;

use keepup_model::Status;
use keepup_store::Role;
use support::{Reply, Web};

const PASSWORD: &str = "correct horse battery";

const NOTE: &str = "Restart **the database**: `systemctl restart postgresql`\n\n<script>alert(1)</script>\n\n[click me](javascript:alert(2)) · [wiki](https://wiki.example/db)";

async fn start() -> Web {
    let closed = keepup_testkit::ports::free_port(std::net::Ipv4Addr::LOCALHOST).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("runbooks")).unwrap();
    std::fs::write(
        dir.path().join("runbooks/shop.md"),
        "# The shop\n\nCall Ann <img src=x onerror=alert(3)>.",
    )
    .unwrap();
    let src = format!(
        "[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\nfailure_threshold = 1\n\
         [[site]]\nid = \"shop\"\nrunbook = {{ file = \"runbooks/shop.md\" }}\n\
         [[site.check]]\nid = \"db\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = {closed}\nrunbook = {}\n\
         [[runbook]]\ncodes = [\"TCP_CONNECT_FAILED\"]\ntext = \"Is the *service* listening? `ss -ltnp`\"\n",
        keepup_config::toml_string(NOTE)
    );
    let web = support::start_in(dir, &src, None).await;
    web.add_user("ann", PASSWORD, Role::Viewer);
    web
}

fn texts(reply: &Reply, selector: &str) -> Vec<String> {
    let doc = reply.doc();
    let sel = scraper::Selector::parse(selector).unwrap();
    doc.select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

/// What every page with the notes must show, and must not.
fn assert_notes_shown_safely(page: &Reply) {
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        texts(page, "section.runbook article.note > h3:first-child"),
        [
            "shop/db (the check's note)",
            "TCP_CONNECT_FAILED (configured for this finding code)",
            "site shop (the site's note)",
        ],
        "{}",
        page.body
    );
    let html = &page.body;
    let section = html
        .split_once("<section class=\"runbook\"")
        .map(|(_, s)| s.split_once("</section>").map_or(s, |(s, _)| s))
        .unwrap_or_else(|| panic!("no runbook section: {html}"));
    assert!(
        section.contains(
            "Restart <strong>the database</strong>: <code>systemctl restart postgresql</code>"
        ),
        "{section}"
    );
    assert!(
        section.contains("Is the <em>service</em> listening?"),
        "{section}"
    );
    // The note's own heading sits below the section's.
    assert!(section.contains("<h3>The shop</h3>"), "{section}");
    // Raw HTML is text, the script link is not a link.
    assert!(
        section.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{section}"
    );
    assert!(
        section.contains("&lt;img src=x onerror=alert(3)&gt;"),
        "{section}"
    );
    assert!(!section.contains("<script"), "{section}");
    assert!(!section.contains("<img"), "{section}");
    assert!(
        !section.to_ascii_lowercase().contains("javascript"),
        "{section}"
    );
    assert!(section.contains("click me"), "{section}");
    let doc = page.doc();
    let links: Vec<String> = doc
        .select(&scraper::Selector::parse("section.runbook a").unwrap())
        .filter_map(|a| a.value().attr("href").map(str::to_owned))
        .collect();
    assert_eq!(links, ["https://wiki.example/db"]);
    // The only script on the page is the page's own file.
    let scripts = doc
        .select(&scraper::Selector::parse("script").unwrap())
        .count();
    assert_eq!(scripts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_and_incident_pages_show_the_notes_rendered_safely() {
    let web = start().await;
    web.wait_for_status("shop/db", Status::Down).await;
    web.wait_for_incident("shop/db").await;
    let mut b = web.browser(1);
    let login = b.login("ann", PASSWORD).await;
    assert_eq!(login.status, 303, "{}", login.body);

    let check = b.get("/checks/shop/db").await;
    assert_notes_shown_safely(&check);

    let incident = web
        .monitor
        .store()
        .open_incidents()
        .unwrap()
        .into_iter()
        .find(|i| i.check.as_str() == "shop/db")
        .unwrap();
    let page = b.get(&format!("/incidents/{}", incident.id)).await;
    assert_notes_shown_safely(&page);
}
