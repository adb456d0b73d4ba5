//! [`WhoisResponder`]: an in-process WHOIS server (RFC 3912, TCP) on
//! loopback, whose answers come from a closure over the query line, plus
//! [`samples`]: answers in the real layouts of the registries keepup reads
//! (fictitious domains, data made up).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use keepup_testkit::whois::{Reply, WhoisResponder, samples};
//! let server = WhoisResponder::start(|query| match query {
//!     "keepup-shop.it" => Reply::Text(samples::nic_it("keepup-shop.it", "2027-04-21")),
//!     _ => Reply::Text(samples::nic_it_available("nope.it")),
//! })
//! .await?;
//! let port = server.port(); // ask 127.0.0.1:<port>
//! # let _ = port; Ok(()) }
//! ```
//!
//! Like a registry, the server reads one query line (CRLF or LF, at most
//! [`MAX_QUERY`] bytes), writes the answer and closes. Besides answers it
//! can misbehave: stay silent, send forever, close without a byte.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::runner::{self, ConnHandler, Running, Stop};

/// A query line longer than this is cut (no registry takes longer ones).
pub const MAX_QUERY: usize = 1024;

/// How long the server waits for a query line.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// What the server does with one query.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Sends the text and closes, as every registry does.
    Text(String),
    /// Sends the text one byte every `interval`, then closes.
    Trickle {
        /// The answer.
        text: String,
        /// Pause between bytes.
        interval: Duration,
    },
    /// Reads the query and never answers (until the client leaves).
    Silent,
    /// Answers with text forever, as fast as the client reads.
    Endless,
    /// Closes the connection without sending a byte.
    Close,
}

type Handler = Arc<dyn Fn(&str) -> Reply + Send + Sync>;

/// A WHOIS server on loopback. Stops when dropped.
pub struct WhoisResponder {
    running: Running,
    queries: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for WhoisResponder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhoisResponder")
            .field("addr", &self.addr())
            .finish_non_exhaustive()
    }
}

impl WhoisResponder {
    /// Starts on `127.0.0.1:<free port>` on the current tokio runtime.
    pub async fn start<F>(handler: F) -> io::Result<Self>
    where
        F: Fn(&str) -> Reply + Send + Sync + 'static,
    {
        Self::start_at(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), handler).await
    }

    /// Starts on `addr` (a loopback address) on the current tokio runtime.
    pub async fn start_at<F>(addr: SocketAddr, handler: F) -> io::Result<Self>
    where
        F: Fn(&str) -> Reply + Send + Sync + 'static,
    {
        let (conn, queries) = Self::prepare(Arc::new(handler));
        let running = runner::start_here(addr, conn)?;
        Ok(Self { running, queries })
    }

    /// Starts on `127.0.0.1:<free port>` on a dedicated thread, for callers
    /// without a runtime (benchmarks, the demo).
    pub fn start_background<F>(handler: F) -> io::Result<Self>
    where
        F: Fn(&str) -> Reply + Send + Sync + 'static,
    {
        let (conn, queries) = Self::prepare(Arc::new(handler));
        let running = runner::start_on_thread(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), conn)?;
        Ok(Self { running, queries })
    }

    fn prepare(handler: Handler) -> (ConnHandler, Arc<Mutex<Vec<String>>>) {
        let queries = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&queries);
        let conn: ConnHandler = Arc::new(move |stream, _peer, stop| {
            Box::pin(serve(stream, Arc::clone(&handler), Arc::clone(&log), stop))
        });
        (conn, queries)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// `127.0.0.1:<port>`, as a `whois_server` value.
    pub fn server(&self) -> String {
        self.addr().to_string()
    }

    /// The query lines received so far, oldest first (at most 1000).
    pub fn queries(&self) -> Vec<String> {
        match self.queries.lock() {
            Ok(q) => q.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

async fn serve(
    mut stream: TcpStream,
    handler: Handler,
    log: Arc<Mutex<Vec<String>>>,
    mut stop: Stop,
) {
    let query = tokio::select! {
        _ = stop.requested() => return,
        q = tokio::time::timeout(QUERY_TIMEOUT, read_line(&mut stream)) => match q {
            Ok(Some(q)) => q,
            _ => return,
        },
    };
    if let Ok(mut log) = log.lock()
        && log.len() < 1000
    {
        log.push(query.clone());
    }
    let reply = handler(&query);
    tokio::select! {
        _ = stop.requested() => {}
        _ = act(&mut stream, reply) => {}
    }
}

/// Reads up to the first LF (or [`MAX_QUERY`] bytes, or the end).
async fn read_line(stream: &mut TcpStream) -> Option<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 256];
    loop {
        let n = stream.read(&mut byte).await.ok()?;
        if n == 0 {
            break;
        }
        line.extend_from_slice(&byte[..n]);
        if line.contains(&b'\n') || line.len() >= MAX_QUERY {
            break;
        }
    }
    let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    line.truncate(end.min(MAX_QUERY));
    Some(String::from_utf8_lossy(&line).trim().to_owned())
}

async fn act(stream: &mut TcpStream, reply: Reply) {
    match reply {
        Reply::Text(text) => {
            let _ = stream.write_all(text.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
        Reply::Trickle { text, interval } => {
            for b in text.bytes() {
                if stream.write_all(&[b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(interval).await;
            }
            let _ = stream.shutdown().await;
        }
        Reply::Silent => {
            // Read until the client gives up.
            let mut sink = [0u8; 256];
            while let Ok(n) = stream.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        }
        Reply::Endless => {
            let block =
                "% keepup-testkit endless answer, this line repeats forever\r\n".repeat(128);
            while stream.write_all(block.as_bytes()).await.is_ok() {}
        }
        Reply::Close => {}
    }
}

/// WHOIS answers in the layouts the registries really use, for fictitious
/// domains. Dates are parameters where the registry publishes one (write
/// them as the registry does: `YYYY-MM-DD`, `YYYY/MM/DD` for .jp, RFC 3339
/// for gTLDs).
pub mod samples {
    /// DENIC (.de), answer to `-T dn,ace <domain>`: no expiry, ever.
    pub fn denic(domain: &str) -> String {
        format!(
            "% Restricted rights.\n\
             %\n\
             % Terms and Conditions of Use\n\
             %\n\
             % The above data may only be used within the scope of technical or\n\
             % administrative necessities of Internet operation or to remedy legal\n\
             % problems.\n\
             % The use for other purposes, in particular for advertising, is not permitted.\n\
             %\n\
             % The DENIC whois service on port 43 doesn't disclose any information concerning\n\
             % the domain holder, general request and abuse contact.\n\
             % This information can be obtained through use of our web-based whois service\n\
             % available at the DENIC website:\n\
             % http://www.denic.de/en/domains/whois-service/web-whois.html\n\
             %\n\
             \n\
             Domain: {domain}\n\
             Nserver: ns1.keepup-hosting.de\n\
             Nserver: ns2.keepup-hosting.de\n\
             Dnskey: 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==\n\
             Status: connect\n\
             Changed: 2024-03-12T21:49:38+01:00\n"
        )
    }

    /// DENIC for a domain nobody registered.
    pub fn denic_free(domain: &str) -> String {
        format!("Domain: {domain}\nStatus: free\n")
    }

    /// DENIC's answer to a client over its access limit.
    pub const DENIC_LIMIT: &str =
        "% Error: 55000000002 Connection refused; access control limit reached.\n";

    /// EURid (.eu): no expiry, no status for registered names.
    pub fn eurid(domain: &str) -> String {
        format!(
            "% The WHOIS service offered by EURid and the access to the records\n\
             % in the EURid WHOIS database are provided for information purposes\n\
             % only. It allows persons to check whether a specific domain name\n\
             % is still available or not and to obtain information related to\n\
             % the registration records of existing domain names.\n\
             %\n\
             % WHOIS {domain}\n\
             Domain: {domain}\n\
             Script: LATIN\n\
             \n\
             Registrant:\n\
             \x20       NOT DISCLOSED!\n\
             \x20       Visit www.eurid.eu for the web-based WHOIS.\n\
             \n\
             Technical:\n\
             \x20       Organisation: Keepup Hosting GmbH\n\
             \x20       Language: de\n\
             \x20       Email: tech@keepup-hosting.example\n\
             \n\
             Registrar:\n\
             \x20       Name: Example Registrar GmbH\n\
             \x20       Website: https://registrar.example\n\
             \n\
             Name servers:\n\
             \x20       ns1.keepup-hosting.de\n\
             \x20       ns2.keepup-hosting.de\n\
             \n\
             Please visit www.eurid.eu for more info.\n"
        )
    }

    /// EURid for an unregistered name.
    pub fn eurid_available(domain: &str) -> String {
        format!("Domain: {domain}\nScript: LATIN\n\nStatus: AVAILABLE\n")
    }

    /// Registro .it: `Expire Date:` (YYYY-MM-DD), `Status:` (EPP words).
    pub fn nic_it_with_status(domain: &str, expires: &str, status: &str) -> String {
        format!(
            "*********************************************************************\n\
             * Please note that the following result could be a subgroup of      *\n\
             * the data contained in the database.                               *\n\
             *                                                                   *\n\
             * Additional information can be visualized at:                      *\n\
             * http://web-whois.nic.it                                           *\n\
             *********************************************************************\n\
             \n\
             Domain:             {domain}\n\
             Status:             {status}\n\
             Signed:             no\n\
             Created:            2015-04-21 10:12:05\n\
             Last Update:        2025-05-06 00:53:14\n\
             Expire Date:        {expires}\n\
             \n\
             Registrant\n\
             \x20 Organization:     Keepup Shop S.r.l.\n\
             \x20 Address:          Via Roma 1\n\
             \x20                   Milano\n\
             \x20                   20121\n\
             \x20                   MI\n\
             \x20                   IT\n\
             \x20 Created:          2015-04-21 10:12:04\n\
             \x20 Last Update:      2015-04-21 10:12:04\n\
             \n\
             Admin Contact\n\
             \x20 Name:             Mario Rossi\n\
             \x20 Organization:     Keepup Shop S.r.l.\n\
             \n\
             Technical Contacts\n\
             \x20 Name:             Hostmaster\n\
             \n\
             Registrar\n\
             \x20 Organization:     Example Registrar S.p.A.\n\
             \x20 Name:             EXAMPLE-REG\n\
             \x20 Web:              https://www.registrar.example\n\
             \x20 DNSSEC:           no\n\
             \n\
             Nameservers\n\
             \x20 ns1.keepup-hosting.it\n\
             \x20 ns2.keepup-hosting.it\n\
             \n"
        )
    }

    /// Registro .it for a healthy domain.
    pub fn nic_it(domain: &str, expires: &str) -> String {
        nic_it_with_status(domain, expires, "ok")
    }

    /// Registro .it for an unregistered name.
    pub fn nic_it_available(domain: &str) -> String {
        format!("Domain:             {domain}\nStatus:             AVAILABLE\n")
    }

    /// Red.es (.es) to an address it has not authorised.
    pub const NIC_ES_REFUSED: &str = "-1: IP Address not authorized to access this service\n";

    /// Red.es (.es) to an authorised address.
    pub fn nic_es(domain: &str, expires: &str) -> String {
        format!(
            "Domain Name: {domain}\n\
             Creation Date: 2012-06-01\n\
             Expiration Date: {expires}\n\
             Registrar: Example Agente Registrador S.L.\n\
             Name Server: ns1.keepup-hosting.es\n\
             Name Server: ns2.keepup-hosting.es\n"
        )
    }

    /// SWITCH (.ch, .li): headers and values on separate lines; no expiry.
    pub fn switch(domain: &str) -> String {
        format!(
            "Domain name:\n\
             {domain}\n\
             \n\
             Holder of domain name:\n\
             The holder of this domain name is not disclosed. Requests about the holder\n\
             can be made at https://www.nic.ch/whois/.\n\
             \n\
             Registrar:\n\
             Example Registrar AG\n\
             \n\
             First registration date:\n\
             2009-11-24\n\
             \n\
             DNSSEC:\n\
             Y\n\
             \n\
             Name servers:\n\
             ns1.keepup-hosting.ch\n\
             ns2.keepup-hosting.ch\t[192.0.2.53]\n\
             \n"
        )
    }

    /// SWITCH for an unregistered name.
    pub const SWITCH_NOT_FOUND: &str =
        "We do not have an entry in our database matching your query.\n";

    /// SWITCH to a client it blocked.
    pub const SWITCH_LIMIT: &str =
        "Requests of this client are not permitted. Please use https://www.nic.ch/ for queries.\n";

    /// nic.at: no expiry.
    pub fn nic_at(domain: &str) -> String {
        format!(
            "%\n\
             % Copyright (c)2025 by NIC.AT (1)\n\
             %\n\
             % Restricted rights.\n\
             %\n\
             % Except for agreed Internet operational purposes, no part of this\n\
             % information may be reproduced, stored in a retrieval system, or\n\
             % transmitted, in any form or by any means, electronic, mechanical,\n\
             % recording, or otherwise, without prior permission of NIC.AT on behalf\n\
             % of itself and/or the copyright holders. Any use of this material to\n\
             % target advertising or similar activities is explicitly forbidden and\n\
             % can be prosecuted.\n\
             %\n\
             % Should the user violate these points, NIC.AT reserves the right to\n\
             % deactivate the Whois-Database entirely or partly for the user.\n\
             \n\
             domain:         {domain}\n\
             registrar:      Example Registrar GmbH ( https://nic.at/registrar/404 )\n\
             registrant:     <data not disclosed>\n\
             tech-c:         <data not disclosed>\n\
             nserver:        ns1.keepup-hosting.at\n\
             remarks:        192.0.2.53\n\
             nserver:        ns2.keepup-hosting.at\n\
             changed:        20240115 09:31:12\n\
             source:         AT-DOM\n"
        )
    }

    /// nic.at for an unregistered name.
    pub const NIC_AT_NOT_FOUND: &str = "%\n% Copyright (c)2025 by NIC.AT (1)\n%\n% nothing found\n";

    /// nic.at to a client over its quota.
    pub const NIC_AT_LIMIT: &str = "%\n% Quota exceeded\n%\n";

    /// DNS Belgium (.be): status and registration date only; `status` is
    /// `NOT AVAILABLE` (registered), `QUARANTINE`, `OUT OF SERVICE`.
    pub fn dns_belgium_with_status(domain: &str, status: &str) -> String {
        format!(
            "% .be Whois Server 6.1\n\
             %\n\
             % The WHOIS service offered by DNS Belgium and the access to the records in the DNS Belgium\n\
             % WHOIS database are provided for information purposes only.\n\
             %\n\
             \n\
             Domain:\t{domain}\n\
             Status:\t{status}\n\
             Registered:\tTue Mar 3 2009\n\
             \n\
             Registrant:\n\
             \tNot shown, please visit www.dnsbelgium.be for webbased whois.\n\
             \n\
             Registrar Technical Contacts:\n\
             \tOrganisation:\tKeepup Hosting BV\n\
             \tLanguage:\tnl\n\
             \tPhone:\t+32.123456789\n\
             \n\
             Registrar:\n\
             \tName:\t Example Registrar BV\n\
             \tWebsite: https://registrar.example\n\
             \n\
             Nameservers:\n\
             \tns1.keepup-hosting.be\n\
             \tns2.keepup-hosting.be\n\
             \n\
             Keys:\n\
             \n\
             Flags:\n\
             \tclientTransferProhibited\n\
             \n\
             Please visit www.dnsbelgium.be for more info.\n"
        )
    }

    /// DNS Belgium for a registered, healthy domain.
    pub fn dns_belgium(domain: &str) -> String {
        dns_belgium_with_status(domain, "NOT AVAILABLE")
    }

    /// Internetstiftelsen (.se, .nu): `expires:` YYYY-MM-DD.
    pub fn iis(domain: &str, expires: &str) -> String {
        format!(
            "# Copyright (c) 1997- The Swedish Internet Foundation.\n\
             # All rights reserved.\n\
             # The information obtained through searches, or otherwise, is protected\n\
             # by the Swedish Copyright Act (1960:729) and international conventions.\n\
             # It is also subject to database protection according to the Swedish\n\
             # Copyright Act.\n\
             # Any use of this material to target advertising or\n\
             # similar activities is forbidden and will be prosecuted.\n\
             # If any of the information below is transferred to a third\n\
             # party, it must be done in its entirety. This server must\n\
             # not be used as a backend for a search engine.\n\
             # Result of search for registered domain names under\n\
             # the .se top level domain.\n\
             # This whois printout is printed with UTF-8 encoding.\n\
             #\n\
             state:            active\n\
             domain:           {domain}\n\
             holder:           (hidden)\n\
             created:          2011-02-14\n\
             modified:         2025-01-30\n\
             expires:          {expires}\n\
             transferred:      2019-08-01\n\
             nserver:          ns1.keepup-hosting.se\n\
             nserver:          ns2.keepup-hosting.se\n\
             dnssec:           signed delegation\n\
             registry-lock:    unlocked\n\
             status:           ok\n\
             registrar:        Example Registrar AB\n"
        )
    }

    /// Internetstiftelsen for an unregistered name.
    pub fn iis_not_found(domain: &str) -> String {
        format!("domain \"{domain}\" not found.\n")
    }

    /// Punktum dk (.dk): `Expires:` YYYY-MM-DD.
    pub fn punktum(domain: &str, expires: &str) -> String {
        format!(
            "# Hello 192.0.2.10. Your session has been logged.\n\
             #\n\
             # Copyright (c) 2002 - 2025 by Punktum dk A/S\n\
             #\n\
             # Version: 5.4.0\n\
             #\n\
             # The data in the DK Whois database is provided by Punktum dk A/S\n\
             # for information purposes only, and to assist persons in obtaining\n\
             # information about or related to a domain name registration record.\n\
             # We do not guarantee its accuracy. We will reserve the right to remove\n\
             # access for entities abusing the data, without notice.\n\
             #\n\
             \n\
             Domain:               {domain}\n\
             DNS:                  {domain}\n\
             Registered:           2010-05-17\n\
             Expires:              {expires}\n\
             Registration period:  1 year\n\
             VID:                  no\n\
             Dnssec:               Signed delegation\n\
             Status:               Active\n\
             \n\
             Nameservers\n\
             Hostname:             ns1.keepup-hosting.dk\n\
             Hostname:             ns2.keepup-hosting.dk\n"
        )
    }

    /// Punktum dk to a client over its limit.
    pub const PUNKTUM_LIMIT: &str =
        "Your connection limit exceeded. Please slow down and try again later.\n";

    /// JPRS (.jp) in English (`<domain>/e`): `[Expires on]` YYYY/MM/DD.
    pub fn jprs(domain: &str, expires: &str) -> String {
        format!(
            "[ JPRS database provides information on network administration. Its use is    ]\n\
             [ restricted to network administration purposes. For further information,     ]\n\
             [ use 'whois -h whois.jprs.jp help'. To suppress Japanese output, add'/e'     ]\n\
             [ at the end of command, e.g. 'whois -h whois.jprs.jp xxx/e'.                 ]\n\
             \n\
             Domain Information:\n\
             [Domain Name]                   {}\n\
             \n\
             [Registrant]                    Keepup Shop K.K.\n\
             \n\
             [Name Server]                   ns1.keepup-hosting.jp\n\
             [Name Server]                   ns2.keepup-hosting.jp\n\
             [Signing Key]                   \n\
             \n\
             [Created on]                    2014/07/01\n\
             [Expires on]                    {expires}\n\
             [Status]                        Active\n\
             [Last Updated]                  2025/08/01 01:05:03 (JST)\n\
             \n\
             Contact Information:\n\
             [Name]                          Keepup Shop K.K.\n\
             [Email]                         hostmaster@keepup-shop.example\n",
            domain.to_uppercase()
        )
    }

    /// JPRS (.jp) with Japanese labels: `[有効期限]`.
    pub fn jprs_japanese(domain: &str, expires: &str) -> String {
        format!(
            "Domain Information: [ドメイン情報]\n\
             [Domain Name]                   {}\n\
             \n\
             [登録者名]                      キープアップ株式会社\n\
             [Registrant]                    Keepup Shop K.K.\n\
             \n\
             [Name Server]                   ns1.keepup-hosting.jp\n\
             [Signing Key]                   \n\
             \n\
             [登録年月日]                    2014/07/01\n\
             [有効期限]                      {expires}\n\
             [状態]                          Active\n\
             [最終更新]                      2025/08/01 01:05:03 (JST)\n",
            domain.to_uppercase()
        )
    }

    /// JPRS for an organisational domain (co.jp): the renewal date is in
    /// the state, `Connected (YYYY/MM/DD)`.
    pub fn jprs_co_jp(domain: &str, expires: &str) -> String {
        format!(
            "Domain Information:\n\
             a. [Domain Name]                {}\n\
             g. [Organization]               Keepup Shop K.K.\n\
             l. [Organization Type]          Corporation\n\
             m. [Administrative Contact]     KS001JP\n\
             n. [Technical Contact]          KS002JP\n\
             p. [Name Server]                ns1.keepup-hosting.jp\n\
             p. [Name Server]                ns2.keepup-hosting.jp\n\
             s. [Signing Key]                \n\
             [State]                         Connected ({expires})\n\
             [Registered Date]               2005/04/01\n\
             [Connected Date]                2005/04/08\n\
             [Last Update]                   2025/05/01 01:23:45 (JST)\n",
            domain.to_uppercase()
        )
    }

    /// JPRS for an unregistered name.
    pub const JPRS_NO_MATCH: &str =
        "[ JPRS database provides information on network administration. ]\n\nNo match!!\n";

    /// A gTLD registry in ICANN's layout (Verisign-style), with the
    /// registrar's WHOIS server as referral.
    pub fn icann(domain: &str, expires: &str, registrar_whois: &str) -> String {
        format!(
            "   Domain Name: {}\r\n\
             \x20  Registry Domain ID: 1234567890_DOMAIN_COM-VRSN\r\n\
             \x20  Registrar WHOIS Server: {registrar_whois}\r\n\
             \x20  Registrar URL: http://www.registrar.example\r\n\
             \x20  Updated Date: 2025-07-02T09:12:44Z\r\n\
             \x20  Creation Date: 2003-08-13T16:35:12Z\r\n\
             \x20  Registry Expiry Date: {expires}\r\n\
             \x20  Registrar: Example Registrar, Inc.\r\n\
             \x20  Registrar IANA ID: 9999\r\n\
             \x20  Registrar Abuse Contact Email: abuse@registrar.example\r\n\
             \x20  Registrar Abuse Contact Phone: +1.5555551234\r\n\
             \x20  Domain Status: clientTransferProhibited https://icann.org/epp#clientTransferProhibited\r\n\
             \x20  Name Server: NS1.KEEPUP-HOSTING.COM\r\n\
             \x20  Name Server: NS2.KEEPUP-HOSTING.COM\r\n\
             \x20  DNSSEC: unsigned\r\n\
             \x20  URL of the ICANN Whois Inaccuracy Complaint Form: https://www.icann.org/wicf/\r\n\
             >>> Last update of whois database: 2026-11-21T19:50:25Z <<<\r\n",
            domain.to_uppercase()
        )
    }

    /// A thin registry's record without an expiry, pointing at the
    /// registrar's server for the rest.
    pub fn icann_thin(domain: &str, registrar_whois: &str) -> String {
        format!(
            "   Domain Name: {}\r\n\
             \x20  Registrar WHOIS Server: {registrar_whois}\r\n\
             \x20  Registrar: Example Registrar, Inc.\r\n\
             \x20  Name Server: NS1.KEEPUP-HOSTING.COM\r\n",
            domain.to_uppercase()
        )
    }

    /// A registrar's record (the target of a referral).
    pub fn registrar_record(domain: &str, expires: &str) -> String {
        format!(
            "Domain Name: {domain}\r\n\
             Registrar Registration Expiration Date: {expires}\r\n\
             Registrar: Example Registrar, Inc.\r\n\
             Domain Status: clientTransferProhibited https://icann.org/epp#clientTransferProhibited\r\n"
        )
    }

    /// Public Interest Registry's rate-limit answer.
    pub const PIR_LIMIT: &str = "WHOIS LIMIT EXCEEDED - SEE WWW.PIR.ORG/WHOIS FOR DETAILS\r\n";

    /// A generic "no match" answer.
    pub fn no_match(domain: &str) -> String {
        format!("No match for \"{}\".\r\n", domain.to_uppercase())
    }
}
