//! The syslog sink: each event is one RFC 5424 message, framed by octet counting (RFC 6587
//! 3.4.1: `MSG-LEN SP SYSLOG-MSG`) on a TCP connection, optionally TLS (RFC 5425, which uses
//! the same framing).
//!
//! ```text
//! <PRI>1 TIMESTAMP HOSTNAME suho PID MSGID [suho@32473 id=".." rule=".." severity=".." incident=".." ...] BOM summary
//! ```
//!
//! * PRI is the configured facility (default `auth`) times 8 plus the syslog severity of the
//!   alert's severity: critical 2 (Critical), high 3 (Error), medium 4 (Warning), low 5
//!   (Notice).
//! * TIMESTAMP is when suho committed the event (UTC, milliseconds); MSGID is `alert.created`
//!   or `alert.updated`.
//! * The structured data `suho@<enterprise_id>` carries the alert's `id`, `rule`, `severity`,
//!   `incident`, `incident_of`, `count`, `time` (event time of the triggering record),
//!   `ledger_index`, and where the alert has them `updated_time` and `updated_ledger_index`
//!   (the record that caused this event), `high_since` and `high_since_ledger_index` (the
//!   record at which it first reached high), `actor`, `credential`, `signing_key`, `src_ip`,
//!   `country`; plus `event_id` (the same on every retry) and `kind`.
//! * MSG is the alert's one-sentence summary, UTF-8 with the BOM RFC 5424 asks for.
//!
//! Nothing beyond what the alert already carries is sent. TCP syslog has no application
//! acknowledgement: suho counts a batch delivered once it is written to a connection the
//! server had not closed; what a server loses after accepting bytes (a crash with messages
//! still in its queue) is beyond what RFC 6587 lets a sender see.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use suho_detect::Severity;

use crate::config::{split_address, SinkConfig};
use crate::{DeliveryError, Event, Sink, SinkError};

/// Facilities by name: the usual names of codes 0 to 11 and 16 to 23, and for 12 to 15 the
/// words of RFC 5424's table 1 (NTP, log audit, log alert, clock daemon).
const FACILITIES: [(&str, u8); 24] = [
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("ntp", 12),
    ("audit", 13),
    ("alert", 14),
    ("clock", 15),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// The facility code of a name (`auth`, `local0`, ...).
pub fn facility_code(name: &str) -> Result<u8, String> {
    FACILITIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| *c)
        .ok_or_else(|| {
            format!(
                "{name:?} is not a syslog facility (one of {})",
                FACILITIES.map(|(n, _)| n).join(", ")
            )
        })
}

/// The syslog severity of an alert severity.
pub fn severity_code(s: Severity) -> u8 {
    match s {
        Severity::Critical => 2,
        Severity::High => 3,
        Severity::Medium => 4,
        Severity::Low => 5,
    }
}

/// How messages are written: everything but the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// Facility code (0..=23).
    pub facility: u8,
    /// HOSTNAME (1..=255 printable ASCII).
    pub hostname: String,
    /// PROCID.
    pub procid: String,
    /// The SD-ID: `suho@<enterprise number>`.
    pub sd_id: String,
}

impl Format {
    /// The format `cfg` asks for.
    pub fn new(cfg: &SinkConfig) -> Result<Format, String> {
        Ok(Format {
            facility: facility_code(cfg.facility.as_deref().unwrap_or("auth"))?,
            hostname: cfg.hostname.clone().unwrap_or_else(this_host),
            procid: std::process::id().to_string(),
            sd_id: format!("suho@{}", cfg.enterprise_id.unwrap_or(32473)),
        })
    }

    /// One RFC 5424 message (without framing).
    pub fn message(&self, e: &Event) -> String {
        let a = &e.alert;
        let pri = u16::from(self.facility) * 8 + u16::from(severity_code(a.severity));
        let mut m = format!(
            "<{pri}>1 {} {} suho {} {} [{}",
            suho_record::format_rfc3339_ms(e.created_ms),
            self.hostname,
            self.procid,
            e.event_type(),
            self.sd_id
        );
        let count = a.count.to_string();
        let index = a.ledger_index.to_string();
        let updated_index = a.updated.as_ref().map(|u| u.ledger_index.to_string());
        let high = a.high_since();
        let high_index = high.map(|h| h.ledger_index.to_string());
        let params: [(&str, Option<&str>); 19] = [
            ("id", Some(&a.id)),
            ("rule", Some(&a.rule)),
            ("severity", Some(a.severity.as_str())),
            ("incident", Some(&a.incident)),
            ("incident_of", Some(&a.incident_of)),
            ("count", Some(&count)),
            ("time", Some(&a.time)),
            ("ledger_index", Some(&index)),
            ("updated_time", a.updated.as_ref().map(|u| u.time.as_str())),
            ("updated_ledger_index", updated_index.as_deref()),
            ("high_since", high.map(|h| h.time.as_str())),
            ("high_since_ledger_index", high_index.as_deref()),
            ("actor", a.actor.as_deref()),
            ("credential", a.credential.as_deref()),
            ("signing_key", a.signing_key.as_deref()),
            ("src_ip", a.src_ip.as_deref()),
            ("country", a.country.as_deref()),
            ("event_id", Some(&e.uid)),
            ("kind", Some(e.kind.as_str())),
        ];
        for (name, value) in params {
            if let Some(v) = value {
                m.push(' ');
                m.push_str(name);
                m.push_str("=\"");
                for c in v.chars() {
                    match c {
                        '"' | '\\' | ']' => {
                            m.push('\\');
                            m.push(c);
                        }
                        c if c.is_control() => m.push(' '),
                        c => m.push(c),
                    }
                }
                m.push('"');
            }
        }
        m.push_str("] \u{feff}");
        // One line: a summary never holds a line break, but a receiver must not see one.
        m.extend(
            a.summary
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c }),
        );
        m
    }
}

/// This machine's host name, or `-` (NILVALUE) when it is not usable as HOSTNAME.
fn this_host() -> String {
    let u = rustix::system::uname();
    let name = u.nodename().to_string_lossy().into_owned();
    if !name.is_empty() && name.len() <= 255 && name.bytes().all(|b| (33..=126).contains(&b)) {
        name
    } else {
        "-".into()
    }
}

/// RFC 6587 octet-counting frame of one message.
pub fn frame(message: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(message.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(message.as_bytes());
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(t) => &t.sock,
        }
    }

    /// Whether the server has closed the connection (or sent TLS close_notify) since the last
    /// batch: writing to it would seem to work and lose the messages.
    fn closed_by_peer(&mut self) -> bool {
        if self.tcp().set_nonblocking(true).is_err() {
            return true;
        }
        let closed = match self {
            Conn::Plain(s) => {
                let mut b = [0u8; 1];
                match s.peek(&mut b) {
                    Ok(0) => true,
                    Ok(_) => false,
                    Err(e) => e.kind() != io::ErrorKind::WouldBlock,
                }
            }
            Conn::Tls(t) => loop {
                match t.conn.read_tls(&mut t.sock) {
                    Ok(0) => break true,
                    Ok(_) => match t.conn.process_new_packets() {
                        Ok(st) if st.peer_has_closed() => break true,
                        Ok(_) => {
                            // Drain plaintext the server may have sent (none is expected).
                            let mut sink = [0u8; 512];
                            while let Ok(n) = t.conn.reader().read(&mut sink) {
                                if n == 0 {
                                    break;
                                }
                            }
                        }
                        Err(_) => break true,
                    },
                    Err(e) => break e.kind() != io::ErrorKind::WouldBlock,
                }
            },
        };
        closed || self.tcp().set_nonblocking(false).is_err()
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Conn::Plain(s) => {
                s.write_all(bytes)?;
                s.flush()
            }
            Conn::Tls(t) => {
                t.write_all(bytes)?;
                t.flush()
            }
        }
    }
}

/// Delivers to one syslog server.
pub struct SyslogSink {
    address: String,
    host: String,
    port: u16,
    tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
    timeout: Duration,
    format: Format,
    conn: Option<Conn>,
}

impl SyslogSink {
    /// The sink `cfg` describes (TLS files read now).
    pub fn new(cfg: &SinkConfig, data_dir: &Path) -> Result<SyslogSink, SinkError> {
        let address = cfg.address.clone().unwrap_or_default();
        let bad = |reason: String| SinkError::Config {
            path: data_dir.join("suho.toml"),
            sink: format!("{:?}", cfg.name),
            reason,
        };
        let (host, port) = split_address(&address).map_err(&bad)?;
        let format = Format::new(cfg).map_err(&bad)?;
        let tls = if cfg.tls.unwrap_or(false) {
            let ca = cfg
                .ca_file
                .as_deref()
                .map(|p| SinkConfig::resolve(data_dir, p));
            let client = match (&cfg.client_cert_file, &cfg.client_key_file) {
                (Some(c), Some(k)) => Some((
                    SinkConfig::resolve(data_dir, c),
                    SinkConfig::resolve(data_dir, k),
                )),
                _ => None,
            };
            let config = crate::tls::client_config(
                ca.as_deref(),
                client.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
            )?;
            let name = cfg.server_name.clone().unwrap_or_else(|| host.clone());
            let name = rustls::pki_types::ServerName::try_from(name.clone()).map_err(|_| {
                bad(format!(
                    "{name:?} is not a host name or address to verify the server's certificate against (set `server_name`)"
                ))
            })?;
            Some((config, name))
        } else {
            None
        };
        Ok(SyslogSink {
            address,
            host,
            port,
            tls,
            timeout: cfg.timeout(),
            format,
            conn: None,
        })
    }

    fn connect(&self) -> Result<Conn, DeliveryError> {
        let fail = |why: String| DeliveryError::new(format!("{}: {why}", self.address));
        let addrs = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| fail(format!("cannot resolve the host: {e}")))?;
        let mut last = None;
        let mut tcp = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, self.timeout) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let tcp = tcp.ok_or_else(|| {
            fail(match last {
                Some(e) if e.kind() == io::ErrorKind::TimedOut => format!(
                    "no connection within {} ms (timeout_ms)",
                    self.timeout.as_millis()
                ),
                Some(e) => format!("cannot connect: {e}"),
                None => "the host resolves to no address".into(),
            })
        })?;
        let set = |r: io::Result<()>| r.map_err(|e| fail(format!("socket options: {e}")));
        set(tcp.set_write_timeout(Some(self.timeout)))?;
        set(tcp.set_read_timeout(Some(self.timeout)))?;
        set(tcp.set_nodelay(true))?;
        let Some((config, name)) = &self.tls else {
            return Ok(Conn::Plain(tcp));
        };
        let conn = rustls::ClientConnection::new(config.clone(), name.clone())
            .map_err(|e| fail(format!("TLS: {e}")))?;
        let mut s = rustls::StreamOwned::new(conn, tcp);
        // Finish the handshake now, so that a certificate problem is reported as such.
        while s.conn.is_handshaking() {
            s.conn
                .complete_io(&mut s.sock)
                .map_err(|e| fail(format!("TLS handshake failed: {e}")))?;
        }
        Ok(Conn::Tls(Box::new(s)))
    }
}

impl Sink for SyslogSink {
    fn send(&mut self, events: &[Event]) -> Result<(), DeliveryError> {
        let mut bytes = Vec::with_capacity(events.len() * 512);
        for e in events {
            frame(&self.format.message(e), &mut bytes);
        }
        if let Some(c) = &mut self.conn {
            if c.closed_by_peer() {
                self.conn = None;
            }
        }
        let conn = match &mut self.conn {
            Some(c) => c,
            None => self.conn.insert(self.connect()?),
        };
        if let Err(e) = conn.write_all(&bytes) {
            self.conn = None;
            return Err(DeliveryError::new(format!(
                "{}: writing to the server failed ({e}); suho reconnects and sends the batch again",
                self.address
            )));
        }
        Ok(())
    }

    fn batch_limit(&self) -> usize {
        200
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use suho_detect::{Alert, Mark, OutboxKind};

    fn event() -> Event {
        let alert = Alert {
            id: "al-1".into(),
            rule: "departed_principal".into(),
            severity: Severity::Critical,
            time: "2025-06-24T03:12:45.120Z".into(),
            detected_at: "2025-06-24T03:12:46.000Z".into(),
            actor: Some("emp-0131".into()),
            credential: None,
            signing_key: Some("kid]\"x\\".into()),
            src_ip: Some("203.0.113.7".into()),
            country: Some("NL".into()),
            ledger_index: 417,
            summary: "emp-0131 left on 2025-05-31\nbut read c-00417.".into(),
            evidence: serde_json::json!({}),
            record_id: None,
            incident: "inc-1".into(),
            incident_of: "actor:emp-0131".into(),
            count: 3,
            last_time: "2025-06-24T03:12:45.120Z".into(),
            last_ledger_index: 420,
            window: "x/y".into(),
            raised: vec![
                Mark {
                    severity: Severity::High,
                    time: "2025-06-24T03:12:45.120Z".into(),
                    ledger_index: 417,
                },
                Mark {
                    severity: Severity::Critical,
                    time: "2025-06-24T03:13:00.000Z".into(),
                    ledger_index: 419,
                },
            ],
            updated: Some(Mark {
                severity: Severity::Critical,
                time: "2025-06-24T03:13:00.000Z".into(),
                ledger_index: 419,
            }),
            suppressed_by: None,
            digest: None,
        };
        Event {
            seq: 7,
            uid: "msg_ab_7".into(),
            kind: OutboxKind::Created,
            created_ms: 1_750_734_766_000,
            json: serde_json::to_string(&alert).expect("json"),
            alert,
        }
    }

    #[test]
    fn a_message_follows_rfc_5424_with_escaped_params_and_one_line() {
        let f = Format {
            facility: 4,
            hostname: "h1".into(),
            procid: "99".into(),
            sd_id: "suho@32473".into(),
        };
        let m = f.message(&event());
        assert!(
            m.starts_with("<34>1 2025-06-24T03:12:46.000Z h1 suho 99 alert.created [suho@32473 id=\"al-1\" rule=\"departed_principal\" severity=\"critical\" "),
            "{m}"
        );
        assert!(m.contains(" signing_key=\"kid\\]\\\"x\\\\\" "), "{m}");
        assert!(
            m.contains(" ledger_index=\"417\" updated_time=\"2025-06-24T03:13:00.000Z\" updated_ledger_index=\"419\" high_since=\"2025-06-24T03:12:45.120Z\" high_since_ledger_index=\"417\" actor="),
            "{m}"
        );
        assert!(
            m.contains(" event_id=\"msg_ab_7\" kind=\"created\"]"),
            "{m}"
        );
        assert!(m.ends_with("] \u{feff}emp-0131 left on 2025-05-31 but read c-00417."));
        assert!(!m.contains("credential="), "absent fields are left out");
        let mut framed = Vec::new();
        frame(&m, &mut framed);
        assert_eq!(framed, format!("{} {m}", m.len()).into_bytes());
    }

    #[test]
    fn facilities_and_severities_map_to_rfc_5424_codes() {
        assert_eq!(facility_code("auth"), Ok(4));
        assert_eq!(facility_code("local7"), Ok(23));
        assert!(facility_code("printer").is_err());
        assert_eq!(severity_code(Severity::Low), 5);
        assert_eq!(severity_code(Severity::Critical), 2);
    }
}
