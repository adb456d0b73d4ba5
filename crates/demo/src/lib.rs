//! The demo shop that `keepup demo` starts and monitors.
//!
//! A small shop on loopback, served over HTTP and over HTTPS with its own
//! certificate authority: a storefront (`store_front`: catalogue, a cart in
//! a session guarded by a form key, a JavaScript quick add, customer login,
//! an OAuth2 token endpoint, a checkout embedding the payment vendor's
//! form) and a JSON health endpoint, plus a "nightly job" that pings
//! keepup's heartbeat URL;
//! for the newer check kinds a privacy page, `security.txt`, an RDAP
//! registry, a payment vendor with a status page (`web`), an SMTP server
//! with STARTTLS (`mail`) and a DNS hierarchy with a test blacklist
//! (`dns`), all in process on loopback.
//! The shop has a standby and a drill copy on other loopback addresses and
//! a disaster-recovery plan for them ([`DemoShop::recovery_config`]);
//! "production lost" ([`lose_production`]) stops production until the
//! plan's return. The shop's order worker is a process of its own
//! ([`worker`]). Every [`CYCLE`] it injects faults in turn (a slow product page, a failing
//! checkout, an expired certificate, a job that stops pinging, a payment
//! vendor outage, the cart's form key refused, every login refused, the
//! worker killed) so that a newcomer sees checks change state within a
//! minute.
//!
//! It also provides [`bench_target`], the trivial HTTP server the scheduler
//! benchmark runs in a child process. Nothing here is used by `keepup run`.
//! Its certificates come from `keepup-pki`; it links nothing of the test
//! kit, which the binary must not carry.

mod dns;
mod faults;
mod mail;
mod shop;
mod store_front;
mod web;
pub mod worker;

pub use dns::{DemoDns, PRODUCTION, ROOT, SHOP_NS};
pub use faults::{CYCLE, Fault, FaultPlan, fault_at};
pub use shop::{
    DRILL, DemoShop, Inbox, PRODUCTION_LOST, STANDBY, TSIG_KEY_FILE, TSIG_KEY_NAME, bench_target,
    lose_production,
};
pub use store_front::{
    CUSTOMER_COOKIE, CUSTOMER_EMAIL, OAUTH_CLIENT_ID, OAUTH_SECRET_FILE, PASSWORD_FILE,
    SESSION_COOKIE,
};
pub use web::DOMAIN;
