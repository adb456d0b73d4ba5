//! The shop's HTTP and HTTPS servers and its nightly job.
//!
//! The shop runs as three copies on the same ports: production on
//! [`PRODUCTION`](crate::PRODUCTION), its standby on [`STANDBY`] and a drill
//! copy on [`DRILL`], each serving the storefront only once its own
//! directory holds the shop's files (the standby's and the drill's are
//! restored there from the demo's backup by the recovery plan). While the
//! file [`PRODUCTION_LOST`] exists in the demo directory, production drops
//! every connection, as a lost server would. The registry, the payment
//! vendor and the notification inbox are another server (the outside
//! world), which production's loss does not touch.

use crate::faults::{Fault, FaultPlan};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use keepup_pki::{CertAuthority, Issued, validity};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The standby's address (the production's ports).
pub const STANDBY: Ipv4Addr = Ipv4Addr::new(127, 77, 0, 20);
/// The drill environment's address (the production's ports).
pub const DRILL: Ipv4Addr = Ipv4Addr::new(127, 77, 0, 30);
/// The file in the demo directory whose presence means production is lost.
pub const PRODUCTION_LOST: &str = "production-lost";

/// Loses the production of the demo shop in `dir` (see
/// [`DemoShop::lose_production`]).
pub fn lose_production(dir: &Path) -> std::io::Result<()> {
    std::fs::write(
        dir.join(PRODUCTION_LOST),
        "production is lost while this file exists\n",
    )
}

/// The running demo shop.
pub struct DemoShop {
    /// Production's plain HTTP address.
    pub http: SocketAddr,
    /// Production's HTTPS address.
    pub https: SocketAddr,
    /// The outside world: the registry's RDAP, the payment vendor and the
    /// notification inbox.
    pub services: SocketAddr,
    /// The demo directory.
    pub dir: PathBuf,
    /// SMTP address (STARTTLS with the shop's certificate).
    pub smtp: SocketAddr,
    /// The demo CA's certificate, which the generated config trusts.
    pub ca_file: PathBuf,
    /// The fault timeline.
    pub faults: FaultPlan,
    /// Notifications keepup sent to the shop's demo inbox (a webhook).
    pub inbox: Inbox,
    /// The shop's DNS world (root, TLD, shop zone, test blacklist).
    pub dns: crate::dns::DemoDns,
    quick_add_broken: Arc<AtomicBool>,
    /// Whether the demo checks the quick add in Chromium (configured when
    /// Debian's Chromium is installed).
    quick_add_in_browser: bool,
    /// Whether this shop started the order worker (stopped with it).
    worker_started: bool,
    tasks: Vec<JoinHandle<()>>,
}

/// The demo's notification inbox: what keepup's webhook channel delivered,
/// one line per notification, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Inbox(Arc<std::sync::Mutex<Vec<String>>>);

impl Inbox {
    /// Lines received since the last call.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

async fn inbox(State(inbox): State<Inbox>, body: axum::body::Bytes) -> &'static str {
    let line = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v) => format!(
            "{} {}",
            v["event"].as_str().unwrap_or("?").to_uppercase(),
            v["title"].as_str().unwrap_or("(no title)")
        ),
        Err(_) => "(unreadable notification)".to_owned(),
    };
    let mut lines = inbox.0.lock().unwrap_or_else(|p| p.into_inner());
    if lines.len() < 1_000 {
        lines.push(line);
    }
    "ok"
}

impl Drop for DemoShop {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if self.worker_started {
            crate::worker::crash(&self.dir);
        }
    }
}

/// Why the shop could not start.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

impl DemoShop {
    /// Starts the shop on loopback with `faults` as its timeline; writes
    /// the CA certificate into `dir`.
    pub async fn start(dir: &Path, faults: FaultPlan) -> Result<DemoShop, Error> {
        let ca = CertAuthority::new("keepup demo root CA")?;
        let issuing = ca.intermediate("keepup demo issuing CA")?;
        let www = format!("www.{}", crate::web::DOMAIN);
        let names = ["localhost", "127.0.0.1", crate::web::DOMAIN, &www];
        let good = issuing.issue(&names, validity::days_around(-10, 80))?;
        let expired = issuing.issue(&names, validity::days_around(-100, -3))?;
        let ca_file = dir.join("demo-ca.pem");
        std::fs::write(&ca_file, ca.ca_pem())?;

        let inbox_state = Inbox::default();
        let services_listener = TcpListener::bind("127.0.0.1:0").await?;
        let services = services_listener.local_addr()?;
        let quick_add_broken = Arc::new(AtomicBool::new(false));
        let store = crate::store_front::Store::new(
            faults,
            crate::store_front::Credentials::create(dir)?,
            Arc::clone(&quick_add_broken),
            format!("http://{services}/vendor/pay/form"),
        );
        let router = shop_router(faults, store);
        let outside = crate::web::outside_services().with_state(faults).merge(
            Router::new()
                .route("/inbox", axum::routing::post(inbox))
                .with_state(inbox_state.clone()),
        );
        let copies = bind_copies().await?;
        let (http, https) = (copies[0].0.local_addr()?, copies[0].1.local_addr()?);

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let resolver = Arc::new(FaultyCert {
            good: certified(&good, &provider)?,
            expired: certified(&expired, &provider)?,
            faults,
        });
        let mut tls = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(resolver);
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        // The mail server always presents the good certificate: the
        // expired-certificate fault is about HTTPS.
        let mail_tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(GoodCert(certified(&good, &provider)?)));
        let smtp_listener = TcpListener::bind("127.0.0.1:0").await?;
        let smtp = smtp_listener.local_addr()?;

        let dns = crate::dns::DemoDns::start(crate::web::DOMAIN, update_key(dir)?).await?;
        let media = dir.join("shop-media");
        // Production holds the shop's files from the start (keepup demo
        // adds the rest of the media it backs up).
        std::fs::create_dir_all(&media)?;
        if !media.join("product-0.txt").is_file() {
            std::fs::write(media.join("product-0.txt"), "product 0 image\n")?;
        }
        // restore_files puts a path at `to/<path>`, and a drill's `to`
        // under the drill's files_root.
        let under = |root: &Path, path: &Path| root.join(path.strip_prefix("/").unwrap_or(path));
        let standby_to = dir.join("standby");
        let roles = [
            Copy {
                data: media.clone(),
                lost_when: Some(dir.join(PRODUCTION_LOST)),
            },
            Copy {
                data: under(&standby_to, &media),
                lost_when: None,
            },
            Copy {
                data: under(&under(&dir.join("drill"), &standby_to), &media),
                lost_when: None,
            },
        ];
        let mut tasks = vec![tokio::spawn(serve(services_listener, outside, None, None))];
        for ((http_l, https_l), copy) in copies.into_iter().zip(roles) {
            let copy = Arc::new(copy);
            tasks.push(tokio::spawn(serve(
                http_l,
                router.clone(),
                None,
                Some(Arc::clone(&copy)),
            )));
            tasks.push(tokio::spawn(serve(
                https_l,
                router.clone(),
                Some(acceptor.clone()),
                Some(copy),
            )));
        }
        tasks.extend([tokio::spawn(crate::mail::serve(
            smtp_listener,
            tokio_rustls::TlsAcceptor::from(Arc::new(mail_tls)),
            crate::web::DOMAIN.to_owned(),
        ))]);
        Ok(DemoShop {
            http,
            https,
            services,
            dir: dir.to_path_buf(),
            smtp,
            ca_file,
            faults,
            inbox: inbox_state,
            dns,
            quick_add_broken,
            quick_add_in_browser: Path::new(CHROMIUM).is_file(),
            worker_started: false,
            tasks,
        })
    }

    /// What `fault` breaks, as the demo tells it (the quick add's browser
    /// check included when there is one).
    pub fn describe(&self, fault: Fault) -> &'static str {
        fault.describe(self.quick_add_in_browser)
    }

    /// The file holding the demo customer's password (customer
    /// [`CUSTOMER_EMAIL`](crate::CUSTOMER_EMAIL)), for a config's
    /// `password_file`.
    pub fn customer_password_file(&self) -> PathBuf {
        self.dir.join(crate::store_front::PASSWORD_FILE)
    }

    /// The file holding the OAuth2 client secret of client
    /// [`OAUTH_CLIENT_ID`](crate::OAUTH_CLIENT_ID) at `/oauth/token`.
    pub fn oauth_secret_file(&self) -> PathBuf {
        self.dir.join(crate::store_front::OAUTH_SECRET_FILE)
    }

    /// Breaks (or mends) only the product page's JavaScript quick add:
    /// `/static/cart.js` then throws on click while the HTML and the
    /// cart's HTTP routes stay as they are, so an HTTP scenario still
    /// passes and a browser scenario fails.
    pub fn break_quick_add(&self, broken: bool) {
        self.quick_add_broken.store(broken, Ordering::Relaxed);
    }

    /// Loses production: it stops answering until the file
    /// [`PRODUCTION_LOST`] is removed (the recovery plan's return does).
    pub fn lose_production(&self) -> std::io::Result<()> {
        lose_production(&self.dir)
    }

    /// Whether production is lost now.
    pub fn production_lost(&self) -> bool {
        self.dir.join(PRODUCTION_LOST).exists()
    }

    /// Starts the shop's "nightly job": it pings `ping_url` (an
    /// `http://host:port/path` on loopback) every `every`, except while the
    /// missing-heartbeat fault is active.
    pub fn start_job(&mut self, ping: SocketAddr, path: String, every: Duration) {
        let faults = self.faults;
        self.tasks.push(tokio::spawn(async move {
            loop {
                if faults.current() != Fault::MissingHeartbeat
                    && let Err(e) = http_get(ping, &path).await
                {
                    tracing::warn!(error = %e, "demo job could not ping keepup");
                }
                tokio::time::sleep(every).await;
            }
        }));
    }

    /// Starts the shop's order worker, a process of its own (`exe
    /// demo-worker run`, see [`crate::worker`]), by running the command
    /// that [`crate::worker::start_command`] gives (the one the demo
    /// agent's action runs to restart it); the worker-crash step of the
    /// fault timeline kills it with SIGKILL as the step begins. Returns
    /// what the start printed. The worker ends with the shop (or, when
    /// the demo process dies first, by itself).
    pub async fn start_worker(&mut self, exe: &Path) -> Result<String, Error> {
        let (program, args) = crate::worker::start_command(exe, &self.dir, std::process::id())?;
        let out = tokio::process::Command::new(&program)
            .args(&args)
            .env_clear()
            .stdin(std::process::Stdio::null())
            .output()
            .await?;
        if !out.status.success() {
            return Err(format!(
                "{} {}: {}",
                program.display(),
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )
            .into());
        }
        self.worker_started = true;
        let (faults, dir) = (self.faults, self.dir.clone());
        self.tasks.push(tokio::spawn(async move {
            // Killed when its step begins, once: it stays dead until
            // something restarts it, the step's end does not.
            let mut was = Fault::None;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let now = faults.current();
                if now == Fault::WorkerCrash
                    && was != Fault::WorkerCrash
                    && let Some(pid) = crate::worker::crash(&dir)
                {
                    tracing::info!(pid, "demo: the shop's order worker was killed (fault)");
                }
                was = now;
            }
        }));
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// The configuration `keepup demo` monitors the shop with.
    pub fn config(&self, store: &Path, listen: SocketAddr, token: &str) -> String {
        let (http, https, ca) = (self.http, self.https, self.ca_file.display());
        format!(
            r##"# keepup demo configuration, generated for a demo shop on loopback.
# Validate it with: keepup validate -c {store_dir}/keepup.toml

[server]
listen = "{listen}"

[store]
path = "{store}"

[defaults]
interval = "5s"
timeout = "4s"

[defaults.tls]
ca_file = "{ca}"   # the demo shop's own certificate authority

[dns]
# The demo's own DNS hierarchy on loopback: a root, the test. TLD, the shop's zone.
root_hints = ["{dns_root}:{dns_port}"]
port = {dns_port}
# The checks resolve www.{domain} at the demo's resolver (the system's
# does not know the demo's hierarchy), so they follow a DNS switch to the
# standby at once.
resolver = ["{dns_resolver}:{dns_port}"]
resolve_hosts = "resolver"

[domain]
refresh = false   # never fetch IANA's RDAP bootstrap; the demo domain's registry is given below

[[site]]
id = "shop"
name = "Demo shop"

[[site.check]]
id = "home"
name = "Home page (HTTPS)"
kind = "http"
url = "https://www.{domain}:{https_port}/"
contains = ["Add to cart"]
degraded_latency = "1s"

[[site.check]]
id = "product"
name = "Product page"
kind = "http"
url = "http://www.{domain}:{http_port}/product/42"
matches = ['Price: \d+\.\d\d EUR']
degraded_latency = "1s"
down_latency = "3s"

[[site.check]]
id = "checkout"
name = "Checkout (HTTPS)"
kind = "http"
url = "https://www.{domain}:{https_port}/checkout"
expect_status = [200]
not_contains = ["Fatal error"]

# A customer's walk through the shop (a real shop runs it every minute; the
# demo's faults last 20 s, so it looks every 10 s): browse, add a teapot to
# the cart with the page's form key, see it in the cart, reach the checkout
# with its payment form; the cart is emptied afterwards whatever happened.
[[site.check]]
id = "cart"
name = "Add to cart and checkout"
kind = "scenario"
interval = "10s"
timeout = "8s"
failure_threshold = 1
base_url = "http://www.{domain}:{http_port}"
variables = {{ sku = "42" }}

[[site.check.step]]
name = "home"
url = "/"
contains = ["Add to cart"]

[[site.check.step]]
name = "category"
url = "/category/teapots"
contains = ["Blue teapot"]

[[site.check.step]]
name = "product page"
url = "/product/{{{{ sku }}}}"
matches = ['Price: \d+\.\d\d EUR']
[[site.check.step.extract]]
var = "form_key"
css = "input[name=form_key]"
attr = "value"

[[site.check.step]]
name = "add to cart"
method = "POST"
url = "/cart/add"
form = {{ form_key = "{{{{ form_key }}}}", product = "{{{{ sku }}}}", qty = "1" }}
expect_status = [303]
follow_redirects = false

[[site.check.step]]
name = "cart shows the product"
url = "/cart"
contains = ["Blue teapot × 1"]
[[site.check.step.css]]
selector = "#minicart .count"
text = "1"

[[site.check.step]]
name = "checkout"
url = "/checkout"
contains = ["Checkout"]
[[site.check.step.css]]
selector = "iframe#payment"

[[site.check.cleanup]]
name = "empty the cart"
method = "POST"
url = "/cart/clear"
form = {{ form_key = "{{{{ form_key }}}}" }}

# The customer login: the form with its CSRF token, the password from the
# file keepup demo wrote, the account page's greeting, then log out.
[[site.check]]
id = "login"
name = "Customer login"
kind = "login"
style = "form"
interval = "10s"
timeout = "8s"
failure_threshold = 1
base_url = "http://www.{domain}:{http_port}"
login_url = "/login"
username = "{customer}"
username_field = "email"
password_file = "{password_file}"
token_field = "form_key"
success_text = "Welcome back"
success_cookie = "shop_customer"
logout_url = "/logout"

{browser}[[site.check]]
id = "api"
name = "Shop API health"
kind = "http"
url = "http://www.{domain}:{http_port}/api/health"
[[site.check.json]]
pointer = "/status"
equals = "ok"

[[site.check]]
id = "certificate"
name = "TLS certificate"
kind = "tls"
host = "www.{domain}"
port = {https_port}

[[site.check]]
id = "web-port"
name = "Web server port"
kind = "tcp"
host = "www.{domain}"
port = {http_port}

[[site.check]]
id = "nightly-job"
name = "Nightly job heartbeat"
kind = "heartbeat"
token = "{token}"
period = "6s"
grace = "4s"

[[site.check]]
id = "ping"
name = "Shop host answers ping"
kind = "ping"
host = "127.0.0.1"
count = 3

[[site.check]]
id = "domain"
name = "Domain registration (RDAP)"
kind = "domain"
domain = "{domain}"
rdap_url = "http://127.0.0.1:{services_port}/rdap/"   # the demo registry's RDAP service

[[site.check]]
id = "privacy"
name = "Privacy policy page"
kind = "page"
url = "https://www.{domain}:{https_port}/privacy"
phrases = ["Privacy policy", "data controller"]
detect_changes = false

[[site.check]]
id = "security-txt"
name = "security.txt"
kind = "security_txt"
url = "https://www.{domain}:{https_port}/.well-known/security.txt"

[[site.check]]
id = "payment-vendor"
name = "Payment vendor (API and status page)"
kind = "chain"
url = "http://127.0.0.1:{services_port}/vendor/v1/payments/health"
status_page = "http://127.0.0.1:{services_port}/vendor/status/"
components = ["{payments}"]

[[site.check]]
id = "mail"
name = "Mail server (SMTP with STARTTLS)"
kind = "smtp"
host = "127.0.0.1"
port = {smtp_port}
tls = "starttls"
ehlo = "monitor.{domain}"
expect_banner = '^220 .*ESMTP'

[[site.check]]
id = "delegation"
name = "DNS delegation of {domain}"
kind = "delegation"
zone = "{domain}"

[[site.check]]
id = "dns-www"
name = "www address in DNS (production's)"
kind = "dns"
record = "www.{domain}"
type = "A"
equals = ["127.0.0.1"]

[[site.check]]
id = "blacklists"
name = "Shop address on spam blacklists"
kind = "dnsbl"
ips = ["127.0.0.1"]
zones = [{{ zone = "{blocklist}", ipv4 = true }}]
resolver = ["{dns_resolver}:{dns_port}"]   # the demo resolver holding a test blacklist

# Notifications go to the demo shop's inbox (a webhook); keepup demo prints them.
[[channel]]
id = "demo-inbox"
kind = "webhook"
url = "http://127.0.0.1:{services_port}/inbox"

[[policy]]
id = "demo"
group_window = "2s"
[[policy.level]]
notify = ["channel:demo-inbox"]

# The hosting contract of the shop front: `keepup sla -c {store_dir}/keepup.toml`
# shows the figures of the faults injected so far (the month before the demo
# started is unknown time, not counted), `keepup report -c ... --out DIR`
# writes this month's report. Repair times are demo-sized so faults breach them.
[[contract]]
id = "shop-front"
name = "Demo shop: storefront and checkout"
site = "shop"
down_when = "home | product | checkout | api"
target = 99.5
time_zone = "Europe/Berlin"
degraded = 0.5
repair_time = {{ critical = "20s", major = "1m" }}
repair_breach_credit = 25.0
credit_cap = 50
monthly_fee = 500.0
currency = "EUR"
[[contract.credit]]
below = 99.5
percent = 10
[[contract.credit]]
below = 99.0
percent = 25

# The shop's public status page: http://{listen}/status/shop (its customers
# see component names, states and the public updates posted with
# `keepup incident update`, no hosts, addresses or messages).
[[status_page]]
slug = "shop"
title = "Demo shop status"
description = "Live status of the demo shop, its checkout, payments and mail."
[[status_page.component]]
name = "Storefront"
checks = ["home", "product"]
[[status_page.component]]
name = "Checkout"
checks = ["checkout", "api"]
[[status_page.component]]
name = "Payments"
checks = ["payment-vendor"]
[[status_page.component]]
name = "E-mail"
checks = ["mail"]
[[status_page.component]]
name = "Domain and DNS"
checks = ["delegation", "dns-www", "domain"]
"##,
            store_dir = store
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            store = store.display(),
            http_port = http.port(),
            https_port = https.port(),
            smtp_port = self.smtp.port(),
            services_port = self.services.port(),
            domain = crate::web::DOMAIN,
            dns_root = crate::dns::ROOT,
            dns_resolver = crate::dns::RESOLVER,
            dns_port = self.dns.port,
            blocklist = crate::dns::BLOCKLIST,
            payments = crate::web::PAYMENT_COMPONENT,
            browser = if self.quick_add_in_browser {
                browser_check(http)
            } else {
                String::new()
            },
            customer = crate::store_front::CUSTOMER_EMAIL,
            password_file = self.customer_password_file().display(),
        )
    }
}

/// Where Debian installs Chromium; the demo's browser check is configured
/// only when it is there.
const CHROMIUM: &str = "/usr/bin/chromium";

/// The quick add in a real browser: the product page's JavaScript posts to
/// the cart API and updates the minicart, which no HTTP check sees.
fn browser_check(http: SocketAddr) -> String {
    format!(
        r##"# The JavaScript quick add in headless Chromium (configured because
# {CHROMIUM} exists). Chromium asks the system's resolver, which does not
# know the demo's DNS, so this check goes to the address.
[[site.check]]
id = "quick-add"
name = "Quick add in the browser"
kind = "browser"
interval = "15s"
timeout = "12s"
failure_threshold = 1
base_url = "http://{http}"

[[site.check.step]]
name = "product page"
goto = "/product/42"

[[site.check.step]]
name = "quick add"
click = "#quick-add"

[[site.check.step]]
name = "added"
wait_for_text = "Added to cart"

[[site.check.step]]
name = "minicart"
assert_text = "1"
selector = "#minicart .count"

"##
    )
}

/// The name of the TSIG key the demo's DNS takes updates signed with.
pub const TSIG_KEY_NAME: &str = "keepup-demo-update";
/// The file in the demo directory that holds its secret (base64, 0600),
/// which the demo's recovery plan reads; never printed.
pub const TSIG_KEY_FILE: &str = "tsig.key";

/// The demo DNS's update key: a new random hmac-sha256 secret, written to
/// [`TSIG_KEY_FILE`] in `dir` for the recovery plan.
fn update_key(dir: &Path) -> Result<keepup_tsig::Key, Error> {
    use std::io::Read;
    let mut secret = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut secret)?;
    write_secret_file(
        &dir.join(TSIG_KEY_FILE),
        &format!("{}\n", keepup_model::text::base64(&secret)),
    )?;
    Ok(keepup_tsig::Key::new(
        TSIG_KEY_NAME,
        keepup_tsig::Algorithm::HmacSha256,
        &secret,
    )?)
}

/// Writes `contents` to a new file at `path` readable by its owner only.
pub(crate) fn write_secret_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // Replaced, never rewritten in place: the file is created 0600.
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

impl DemoShop {
    /// The demo's disaster-recovery plan: the standby restored from the
    /// backup plan `shop` (its media files), the shop's names switched to
    /// it by a TSIG-signed update of the demo DNS, the storefront
    /// verified, the inbox told; the return brings production back the
    /// same way. Its drill, which the daemon runs every five minutes,
    /// restores under `DIR/drill` and publishes `drill.<domain>` at
    /// [`DRILL`].
    pub fn recovery_config(&self) -> String {
        format!(
            r#"
# Disaster recovery of the demo shop: when production is lost (touch
# {dir}/{lost}, or keepup demo --lose-production-after 3m), run
#   keepup dr activate shop-dr -c {dir}/keepup.toml --yes
# (keepup dr plan shop-dr -c ... shows the steps first; keepup dr drill
# shop-dr -c ... --yes rehearses them on the drill copy, keepup dr return
# shop-dr -c ... --yes comes back).
[[recovery]]
id = "shop-dr"
name = "Demo shop: production to its standby"
site = "shop"
rto = "2m"
rpo = "5m"
drill_schedule = "3-59/5 * * * *"   # keepup drills the plan on the drill copy every 5 minutes (check shop/dr-shop-dr)

[recovery.production]
addresses = ["{production}"]

[recovery.standby]
addresses = ["{standby}"]   # the same ports as production

[recovery.drill]
addresses = ["{drill}"]
dns_names = ["drill.{domain}"]
files_root = "{dir}/drill"

[[recovery.tsig_key]]
id = "demo-dns"
name = "{key_name}"
algorithm = "hmac-sha256"
secret_file = "{dir}/{key_file}"   # written by keepup demo at start

[[recovery.activate]]
name = "restore the shop's files onto the standby"
kind = "restore_files"
backup = "shop"
paths = ["{dir}/shop-media"]
to = "{dir}/standby"

[[recovery.activate]]
name = "point the shop's names at the standby"
kind = "dns"
zone = "{domain}"
names = ["www.{domain}", "{domain}"]
server = "{ns1}:{dns_port}"
key = "demo-dns"
ttl = 60
verify_timeout = "30s"

[[recovery.activate]]
name = "the storefront answers"
kind = "verify"
checks = ["home", "product", "checkout", "api"]
deadline = "2m"
interval = "1s"

[[recovery.activate]]
name = "tell the team"
kind = "notify"
channels = ["demo-inbox"]
message = "DR activated: the demo shop runs on its standby"

[[recovery.return]]
name = "production rebuilt (in the demo: the production-lost fault ends)"
kind = "command"
run = ["/bin/rm", "-f", "{dir}/{lost}"]
timeout = "10s"

[[recovery.return]]
name = "production into maintenance"
kind = "maintenance"
action = "start"
duration = "10m"

[[recovery.return]]
name = "restore the shop's files onto production"
kind = "restore_files"
backup = "shop"
paths = ["{dir}/shop-media"]
to = "/"

[[recovery.return]]
name = "point the shop's names back at production"
kind = "dns"
zone = "{domain}"
names = ["www.{domain}", "{domain}"]
server = "{ns1}:{dns_port}"
key = "demo-dns"
ttl = 60
verify_timeout = "30s"

[[recovery.return]]
name = "the storefront answers"
kind = "verify"
checks = ["home", "product", "checkout", "api"]
deadline = "2m"
interval = "1s"

[[recovery.return]]
name = "production out of maintenance"
kind = "maintenance"
action = "end"

[[recovery.return]]
name = "tell the team"
kind = "notify"
channels = ["demo-inbox"]
message = "Returned to production"
"#,
            dir = self.dir.display(),
            lost = PRODUCTION_LOST,
            production = crate::dns::PRODUCTION,
            standby = STANDBY,
            drill = DRILL,
            domain = crate::web::DOMAIN,
            key_name = TSIG_KEY_NAME,
            key_file = TSIG_KEY_FILE,
            ns1 = crate::dns::SHOP_NS[0],
            dns_port = self.dns.port,
        )
    }
}

fn certified(
    issued: &Issued,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<Arc<CertifiedKey>, Error> {
    let key = provider.key_provider.load_private_key(issued.key_der())?;
    Ok(Arc::new(CertifiedKey::new(issued.served_chain(), key)))
}

/// Presents the expired certificate while that fault is active.
#[derive(Debug)]
struct FaultyCert {
    good: Arc<CertifiedKey>,
    expired: Arc<CertifiedKey>,
    faults: FaultPlan,
}

/// Always the good certificate.
#[derive(Debug)]
struct GoodCert(Arc<CertifiedKey>);

impl ResolvesServerCert for GoodCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

impl ResolvesServerCert for FaultyCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(if self.faults.current() == Fault::ExpiredCertificate {
            self.expired.clone()
        } else {
            self.good.clone()
        })
    }
}

fn shop_router(faults: FaultPlan, store: crate::store_front::Store) -> Router {
    Router::new()
        .route("/api/health", get(api_health))
        .merge(crate::web::shop_pages())
        .with_state(faults)
        .merge(crate::store_front::routes(store))
}

async fn api_health() -> Response {
    (
        [("content-type", "application/json")],
        r#"{"status":"ok","orders_last_hour":17}"#,
    )
        .into_response()
}

/// One copy of the shop: where its files are, and the file whose presence
/// means it is lost.
struct Copy {
    data: PathBuf,
    lost_when: Option<PathBuf>,
}

impl Copy {
    fn lost(&self) -> bool {
        self.lost_when.as_ref().is_some_and(|f| f.exists())
    }

    /// Whether its directory holds the shop's files (a standby's once
    /// restored).
    fn has_data(&self) -> bool {
        self.data.join("product-0.txt").is_file()
    }
}

/// Binds production's HTTP and HTTPS on free ports, then the standby's and
/// the drill's on the same ports at their addresses (tried again on other
/// ports if one is taken there).
async fn bind_copies() -> std::io::Result<Vec<(TcpListener, TcpListener)>> {
    let mut last = None;
    for _ in 0..20 {
        let http = TcpListener::bind((crate::dns::PRODUCTION, 0)).await?;
        let https = TcpListener::bind((crate::dns::PRODUCTION, 0)).await?;
        let ports = (http.local_addr()?.port(), https.local_addr()?.port());
        let mut copies = vec![(http, https)];
        for ip in [STANDBY, DRILL] {
            let pair = async {
                let h = TcpListener::bind(SocketAddr::new(IpAddr::V4(ip), ports.0)).await?;
                let s = TcpListener::bind(SocketAddr::new(IpAddr::V4(ip), ports.1)).await?;
                std::io::Result::Ok((h, s))
            };
            match pair.await {
                Ok(p) => copies.push(p),
                Err(e) => {
                    last = Some(e);
                    break;
                }
            }
        }
        if copies.len() == 3 {
            return Ok(copies);
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free ports for the shop's copies")))
}

/// What a copy without its files answers.
fn not_restored() -> Router {
    Router::new().fallback(|| async {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "this copy of the demo shop has no data yet: it is restored from the backup by the recovery plan\n",
        )
    })
}

/// Accepts connections and serves `router`, over TLS when given an
/// acceptor; for a copy of the shop, drops them while it is lost and
/// answers 503 while it has no files.
async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    copy: Option<Arc<Copy>>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let router = match &copy {
            Some(c) if c.lost() => {
                drop(stream);
                continue;
            }
            Some(c) if !c.has_data() => not_restored(),
            _ => router.clone(),
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = hyper_util::service::TowerToHyperService::new(router);
            let http = hyper::server::conn::http1::Builder::new();
            match tls {
                None => {
                    let _ = http
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                }
                Some(acceptor) => {
                    if let Ok(Ok(s)) =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
                    {
                        let _ = http
                            .serve_connection(hyper_util::rt::TokioIo::new(s), service)
                            .await;
                    }
                }
            }
        });
    }
}

/// A minimal HTTP/1.1 GET, as a cron job's `curl` would do.
async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<()> {
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).await?;
        if buf[..n].starts_with(b"HTTP/1.1 200") {
            Ok(())
        } else {
            Err(std::io::Error::other(
                String::from_utf8_lossy(&buf[..n.min(64)]).into_owned(),
            ))
        }
    };
    tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .unwrap_or_else(|_| Err(std::io::Error::other("timed out")))
}

/// The scheduler benchmark's target: answers every request with a short 200.
pub async fn bench_target(listener: TcpListener) {
    let router = Router::new().fallback(|| async { "ok\n" });
    serve(listener, router, None, None).await;
}
