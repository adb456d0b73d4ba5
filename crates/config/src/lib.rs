//! keepup's configuration: one TOML file, validated at load time.
//!
//! [`load`] reads a file and returns either a fully validated [`Config`] or
//! every problem found, each with `file:line:col`, the offending key and, for
//! unknown keys, the closest valid one. Regexes, JSON pointers, URLs and
//! secrets are compiled/resolved here so that a probe never fails on a
//! configuration mistake.

mod spec;
pub use spec::*;

pub mod actions;
pub use actions::Action;
pub mod backup;
pub use backup::BackupPlan;
pub mod backup_checks;
pub use backup_checks::{BackupCheckSpec, BackupJob, backup_check_id};
pub mod browser;
pub use browser::{BrowserSettings, BrowserSpec};
pub mod channels;
pub use channels::ChannelSpec;

pub mod contract;
pub use contract::{Contract, SlaCheckSpec, SlaJob, sla_check_id};
pub mod cron;
pub mod domain;
pub mod elasticsearch;
pub use domain::{DomainSettings, DomainSpec, IANA_DNS_BOOTSTRAP, WhoisServer};
pub use elasticsearch::ElasticsearchSpec;
pub mod database;
pub use database::{CustomQuery, DbRole, DbServer, DbTls};
pub mod descriptors;
pub mod dns;
pub mod http;
pub use dns::{DelegationSpec, DnsSettings, DnsSpec, DnsblSpec, HostResolution};
pub use http::{BasicAuth, BodyAssertion, HttpSpec, JsonAssertion, JsonExpect, StatusRange};
mod diag;
pub mod forecast;
pub use forecast::Forecast;
pub mod host;
pub use host::{AgentMode, AgentSpec, HostSpec};
mod implicit;
pub mod listener;
pub mod login;
pub use listener::{IpNetwork, ListenerLimits};
mod load;
pub mod mail;
pub use mail::{MailLogin, MailProtocol, MailSpec, MailTls, SmtpAuthMechanism};
pub mod maintenance;
pub mod nagios;
pub use nagios::{AgentPluginSpec, NagiosSpec};
pub mod pages;
pub use pages::{AddressFamily, ChainSpec, PageSpec, PingSpec, SecurityTxtSpec, StatusPageSpec};
pub mod postgres;
pub use postgres::PostgresSpec;
pub mod capacity;
pub mod prometheus;
pub use prometheus::PrometheusSpec;
pub mod redis;
pub use redis::RedisSpec;
pub mod mysql;
pub use mysql::MysqlSpec;
mod raw;
pub mod recovery;
pub use recovery::RecoveryPlan;
pub mod recovery_checks;
pub use recovery_checks::{DrillCheckSpec, drill_check_id};
pub mod ssh;
pub use ssh::SshSpec;
pub mod status_page;
pub mod store;
pub use status_page::StatusPage;
pub use store::PostgresStore;
pub mod routing;
pub mod runbook;
pub use runbook::{NoteSource, RunbookNote, Runbooks};
pub mod scenario;
pub use scenario::{ScenarioSpec, ScenarioStep, Template};
mod tables;
pub mod tcp;
pub use tcp::TcpSpec;
pub mod threshold;
pub use threshold::{Direction, Threshold, Unit};
pub mod tls;
pub use tls::{CertThresholds, TlsOptions, TlsSpec};
pub mod web;
pub mod webstatus;
pub use web::{TlsFiles, WebSecurity};
pub use webstatus::WebStatusSpec;

pub use diag::{Problem, Problems};
pub use load::{CONNECTIVITY_TAG, SELF_SITE, load, load_str, toml_string};
