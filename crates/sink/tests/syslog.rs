//! The syslog sink against a real rsyslog (Debian's `rsyslog` and `rsyslog-gnutls` packages),
//! started here with its own configuration: imtcp on a free 127.0.0.1 port, an omfile action
//! with rsyslog's RFC 5424 template (`RSYSLOG_SyslogProtocol23Format`, which rebuilds each line
//! from the fields rsyslog parsed), and a work directory in the test's temporary directory.
//! rsyslogd is stopped by its PID when the test ends, also when an assertion fails.
//!
//! Where rsyslogd is not installed the tests print a note and pass, unless
//! `SUHO_REQUIRE_RSYSLOG=1` (set by `.ci/run`, which installs the packages) makes them fail.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::alert;
use suho_detect::{Alert, AlertStore, Severity};
use suho_sink::{DispatchOptions, Dispatcher};

const RSYSLOGD: &str = "/usr/sbin/rsyslogd";
/// Bound on waiting for rsyslogd to do something; never reached when things work.
const GUARD: Duration = Duration::from_secs(30);

/// Whether rsyslogd (and, for TLS, its GnuTLS driver) is here; fails the test instead when
/// SUHO_REQUIRE_RSYSLOG=1.
fn available(tls: bool) -> bool {
    let mut missing = Vec::new();
    if !Path::new(RSYSLOGD).exists() {
        missing.push(format!("{RSYSLOGD} (package rsyslog)"));
    }
    if tls {
        let gtls = [
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/usr/lib",
        ]
        .iter()
        .any(|d| Path::new(d).join("rsyslog/lmnsd_gtls.so").exists());
        if !gtls {
            missing.push("rsyslog's lmnsd_gtls.so (package rsyslog-gnutls)".into());
        }
    }
    if missing.is_empty() {
        return true;
    }
    if std::env::var("SUHO_REQUIRE_RSYSLOG").as_deref() == Ok("1") {
        panic!(
            "SUHO_REQUIRE_RSYSLOG=1 but {} is missing",
            missing.join(" and ")
        );
    }
    eprintln!(
        "note: skipping the rsyslog test: {} is missing (apt-get install rsyslog rsyslog-gnutls)",
        missing.join(" and ")
    );
    false
}

/// A running rsyslogd, stopped (SIGTERM, then SIGKILL) when dropped.
struct Rsyslog {
    child: Child,
    port: u16,
    out: PathBuf,
    stderr: PathBuf,
}

impl Rsyslog {
    /// rsyslogd writing what it receives on `port` (0: a free one) to `<dir>/received.log`;
    /// `tls` is (CA, certificate, key).
    fn start(dir: &Path, port: u16, tls: Option<(&Path, &Path, &Path)>) -> Rsyslog {
        let work = dir.join("rsyslog-work");
        std::fs::create_dir_all(&work).expect("work dir");
        let port_file = dir.join("rsyslog.port");
        let _ = std::fs::remove_file(&port_file);
        let out = dir.join("received.log");
        let (global_tls, module_tls) = match tls {
            Some((ca, cert, key)) => (
                format!(
                    " DefaultNetstreamDriverCAFile=\"{}\" DefaultNetstreamDriverCertFile=\"{}\" DefaultNetstreamDriverKeyFile=\"{}\"",
                    ca.display(),
                    cert.display(),
                    key.display()
                ),
                " StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\" StreamDriver.AuthMode=\"anon\"",
            ),
            None => (String::new(), ""),
        };
        let conf = format!(
            "global(workDirectory=\"{work}\"{global_tls})\n\
             module(load=\"imtcp\"{module_tls})\n\
             input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\" listenPortFileName=\"{port_file}\" ruleset=\"suho\")\n\
             ruleset(name=\"suho\") {{\n  action(type=\"omfile\" file=\"{out}\" template=\"RSYSLOG_SyslogProtocol23Format\")\n}}\n",
            work = work.display(),
            port_file = port_file.display(),
            out = out.display(),
        );
        let conf_path = dir.join("rsyslog.conf");
        std::fs::write(&conf_path, conf).expect("rsyslog.conf");
        let child = Command::new(RSYSLOGD)
            .arg("-n")
            .arg("-f")
            .arg(&conf_path)
            .arg("-i")
            .arg(dir.join("rsyslog.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("rsyslog.stderr")).expect("stderr file"))
            .spawn()
            .expect("start rsyslogd");
        let mut r = Rsyslog {
            child,
            port: 0,
            out,
            stderr: dir.join("rsyslog.stderr"),
        };
        // rsyslogd writes the port it listens on once it does (when it chose the port).
        r.port = wait_for(&mut r, "rsyslogd to listen", || {
            if port != 0 {
                return std::net::TcpStream::connect(("127.0.0.1", port))
                    .ok()
                    .map(|_| port);
            }
            std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|p| p.trim().parse::<u16>().ok())
        });
        r
    }

    /// The first `n` lines rsyslogd wrote, once it has written them.
    fn lines(&mut self, n: usize) -> Vec<String> {
        let out = self.out.clone();
        wait_for(self, "rsyslogd to write the messages", || {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(str::to_owned).collect();
            (lines.len() >= n).then_some(lines)
        })
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let until = Instant::now() + GUARD;
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// Polls `f` until it gives a value; fails (naming `what`) if rsyslogd died or `GUARD` passed.
fn wait_for<T>(r: &mut Rsyslog, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + GUARD;
    loop {
        if let Some(v) = f() {
            return v;
        }
        let said = || std::fs::read_to_string(&r.stderr).unwrap_or_default();
        if let Ok(Some(status)) = r.child.try_wait() {
            panic!(
                "rsyslogd exited ({status}) while waiting for {what}: {}",
                said()
            );
        }
        assert!(
            Instant::now() < until,
            "gave up waiting for {what}; rsyslogd said: {}",
            said()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An RFC 5424 message, parsed (section 6): header fields, SD elements, MSG.
#[derive(Debug)]
struct Parsed {
    pri: u16,
    version: String,
    timestamp: String,
    hostname: String,
    app: String,
    procid: String,
    msgid: String,
    sd: Vec<(String, Vec<(String, String)>)>,
    msg: String,
}

fn parse_5424(line: &str) -> Parsed {
    let rest = line.strip_prefix('<').expect("PRI starts with <");
    let (pri, rest) = rest.split_once('>').expect("PRI ends with >");
    let mut it = rest.splitn(7, ' ');
    let mut next = || it.next().expect("header field").to_string();
    let (version, timestamp, hostname, app, procid, msgid) =
        (next(), next(), next(), next(), next(), next());
    let rest = next();
    let mut sd = Vec::new();
    let mut chars = rest.char_indices().peekable();
    let mut end = 0;
    if rest.starts_with('-') {
        end = 1;
    } else {
        while let Some((_, '[')) = chars.peek().copied() {
            chars.next();
            let mut id = String::new();
            let mut params = Vec::new();
            while let Some((_, c)) = chars.next() {
                if c == ' ' || c == ']' {
                    if c == ']' {
                        break;
                    }
                    // PARAM-NAME="PARAM-VALUE", with \" \\ \] escaped.
                    let mut name = String::new();
                    for (_, c) in chars.by_ref() {
                        if c == '=' {
                            break;
                        }
                        name.push(c);
                    }
                    assert_eq!(
                        chars.next().map(|(_, c)| c),
                        Some('"'),
                        "value opens with \""
                    );
                    let mut value = String::new();
                    while let Some((_, c)) = chars.next() {
                        match c {
                            '\\' => {
                                let (_, e) = chars.next().expect("escaped character");
                                if !matches!(e, '"' | '\\' | ']') {
                                    value.push('\\');
                                }
                                value.push(e);
                            }
                            '"' => break,
                            c => value.push(c),
                        }
                    }
                    params.push((name, value));
                    if let Some((_, ']')) = chars.peek().copied() {
                        chars.next();
                        break;
                    }
                } else {
                    id.push(c);
                }
            }
            sd.push((id, params));
            end = chars.peek().map_or(rest.len(), |(i, _)| *i);
        }
    }
    let msg = rest[end..].strip_prefix(' ').unwrap_or(&rest[end..]);
    Parsed {
        pri: pri.parse().expect("PRIVAL"),
        version,
        timestamp,
        hostname,
        app,
        procid,
        msgid,
        sd,
        msg: msg.strip_prefix('\u{feff}').unwrap_or(msg).to_string(),
    }
}

fn param<'a>(p: &'a Parsed, name: &str) -> Option<&'a str> {
    p.sd.iter()
        .find(|(id, _)| id == "suho@32473")
        .and_then(|(_, ps)| ps.iter().find(|(n, _)| n == name))
        .map(|(_, v)| v.as_str())
}

fn sink_config(dir: &Path, port: u16, extra: &str) {
    std::fs::write(
        dir.join("suho.toml"),
        format!(
            "[[sinks]]\nname = \"siem\"\nkind = \"syslog\"\naddress = \"127.0.0.1:{port}\"\nfacility = \"local4\"\nhostname = \"suho-test\"\ntimeout_ms = 5000\nbackoff_initial_ms = 20\nbackoff_max_ms = 200\nstart = \"oldest\"\n{extra}"
        ),
    )
    .expect("suho.toml");
}

fn tricky() -> Alert {
    let mut a = alert("al-2", Severity::Critical, 1);
    a.signing_key = Some("kid]\"odd\\".into());
    a.summary = "주의: emp-0131 read 4,500 customers' data from NL.".into();
    a
}

fn check(p: &Parsed, a: &Alert, kind: &str) {
    let sev = match a.severity {
        Severity::Critical => 2,
        Severity::High => 3,
        Severity::Medium => 4,
        Severity::Low => 5,
    };
    assert_eq!(p.pri, 20 * 8 + sev, "local4 and the alert's severity");
    assert_eq!(p.version, "1");
    assert!(
        suho_record::parse_rfc3339(&p.timestamp).is_ok(),
        "{}",
        p.timestamp
    );
    assert_eq!(p.hostname, "suho-test");
    assert_eq!(p.app, "suho");
    assert!(p.procid.parse::<u32>().is_ok());
    assert_eq!(p.msgid, format!("alert.{kind}"));
    assert_eq!(param(p, "id"), Some(a.id.as_str()));
    assert_eq!(param(p, "rule"), Some(a.rule.as_str()));
    assert_eq!(param(p, "severity"), Some(a.severity.as_str()));
    assert_eq!(param(p, "incident"), Some(a.incident.as_str()));
    assert_eq!(param(p, "kind"), Some(kind));
    assert_eq!(param(p, "actor"), a.actor.as_deref());
    assert_eq!(param(p, "signing_key"), a.signing_key.as_deref());
    assert!(param(p, "event_id").is_some_and(|e| e.starts_with("msg_")));
    assert_eq!(p.msg, a.summary);
}

#[test]
fn rsyslog_receives_rfc_5424_messages_and_a_restarted_server_loses_nothing() {
    if !available(false) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut rs = Rsyslog::start(d, 0, None);
    let port = rs.port;
    sink_config(d, port, "");
    let mut store = AlertStore::open(&d.join("alerts.db")).expect("store");
    let first = alert("al-1", Severity::High, 1);
    store.upsert(&[first.clone(), tricky()]).expect("alerts");
    let dispatcher = Dispatcher::start(
        d,
        suho_sink::load(d).expect("config"),
        DispatchOptions {
            poll: Duration::from_millis(50),
            ..DispatchOptions::default()
        },
    )
    .expect("dispatcher");
    store.on_outbox(Some(dispatcher.hook()));
    let lines = rs.lines(2);
    check(&parse_5424(&lines[0]), &first, "created");
    check(&parse_5424(&lines[1]), &tricky(), "created");

    // The server restarts on the same port: the dispatcher's connection is dead, and the next
    // event must reach the new server, not vanish into the old socket.
    rs.stop();
    let mut rs = Rsyslog::start(d, port, None);
    let update = alert("al-1", Severity::Critical, 3);
    store.upsert(std::slice::from_ref(&update)).expect("update");
    let lines = rs.lines(3);
    check(&parse_5424(&lines[2]), &update, "updated");
    let report = dispatcher.shutdown().expect("shutdown");
    assert!(report.all_delivered(), "{report:?}");
    assert_eq!(report.sinks[0].delivered, 3);
}

#[test]
fn rsyslog_over_tls_receives_the_messages() {
    if !available(true) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // A CA and a server certificate for 127.0.0.1 signed by it.
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "suho test CA");
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let mut leaf_params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("params");
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let leaf_key = rcgen::KeyPair::generate().expect("key");
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca, &ca_key)
        .expect("certificate");
    let (ca_pem, cert_pem, key_pem) = (d.join("ca.pem"), d.join("cert.pem"), d.join("key.pem"));
    std::fs::write(&ca_pem, ca.pem()).expect("ca");
    std::fs::write(&cert_pem, leaf.pem()).expect("cert");
    std::fs::write(&key_pem, leaf_key.serialize_pem()).expect("key");

    let mut rs = Rsyslog::start(d, 0, Some((&ca_pem, &cert_pem, &key_pem)));
    sink_config(d, rs.port, "tls = true\nca_file = \"ca.pem\"\n");
    let mut store = AlertStore::open(&d.join("alerts.db")).expect("store");
    let first = alert("al-1", Severity::Medium, 1);
    store.upsert(&[first.clone(), tricky()]).expect("alerts");
    let report = Dispatcher::start(
        d,
        suho_sink::load(d).expect("config"),
        DispatchOptions::default(),
    )
    .expect("dispatcher")
    .drain(Some(GUARD), false)
    .expect("drain");
    assert!(report.all_delivered(), "{report:?}");
    let lines = rs.lines(2);
    check(&parse_5424(&lines[0]), &first, "created");
    check(&parse_5424(&lines[1]), &tricky(), "created");
}

#[test]
fn a_server_whose_certificate_is_not_trusted_is_refused_and_shown_failing() {
    if !available(true) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let key = rcgen::KeyPair::generate().expect("key");
    let own = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let (cert_pem, key_pem) = (d.join("cert.pem"), d.join("key.pem"));
    std::fs::write(&cert_pem, own.pem()).expect("cert");
    std::fs::write(&key_pem, key.serialize_pem()).expect("key");
    let rs = Rsyslog::start(d, 0, Some((&cert_pem, &cert_pem, &key_pem)));
    // No ca_file: Mozilla's roots do not know this server.
    sink_config(d, rs.port, "tls = true\n");
    let mut store = AlertStore::open(&d.join("alerts.db")).expect("store");
    store
        .upsert(&[alert("al-1", Severity::High, 1)])
        .expect("alert");
    let report = Dispatcher::start(
        d,
        suho_sink::load(d).expect("config"),
        DispatchOptions::default(),
    )
    .expect("dispatcher")
    .drain(Some(GUARD), true)
    .expect("drain");
    assert_eq!(report.sinks[0].pending, 1, "nothing counts as delivered");
    let why = report.sinks[0].last_error.clone().unwrap_or_default();
    assert!(why.contains("TLS handshake failed"), "{why}");
    assert!(std::fs::read_to_string(&rs.out)
        .unwrap_or_default()
        .is_empty());
}
