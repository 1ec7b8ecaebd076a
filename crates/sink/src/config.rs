//! `[[sinks]]` in `suho.toml`: one table per receiver.
//!
//! ```toml
//! [[sinks]]
//! name = "soc-webhook"
//! kind = "webhook"                      # webhook | syslog | ocsf_file
//! url = "https://soc.example.com/hooks/suho"
//! format = "suho"                       # suho | ocsf (the body)
//! secret_file = "secrets/soc-webhook"   # whsec_... (Standard Webhooks); or secret_env
//! min_severity = "medium"
//!
//! [[sinks]]
//! name = "siem-syslog"
//! kind = "syslog"
//! address = "siem.example.com:6514"
//! tls = true
//! ca_file = "/etc/ssl/siem-ca.pem"
//! facility = "auth"
//!
//! [[sinks]]
//! name = "findings"
//! kind = "ocsf_file"
//! path = "findings.ndjson"
//! ```
//!
//! Relative paths are relative to the data directory. A secret is never written in the file
//! itself: `secret_file` names a file holding it, `secret_env` an environment variable.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use suho_detect::Severity;

use crate::SinkError;

/// What a sink delivers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// An HTTPS (or HTTP) endpoint, signed as Standard Webhooks specify.
    Webhook,
    /// A syslog server: RFC 5424 over TCP (RFC 6587 octet counting), optionally TLS.
    Syslog,
    /// An NDJSON file of OCSF Detection Findings, appended and fsynced per batch.
    OcsfFile,
}

impl SinkKind {
    /// `webhook`, `syslog` or `ocsf_file`.
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Webhook => "webhook",
            SinkKind::Syslog => "syslog",
            SinkKind::OcsfFile => "ocsf_file",
        }
    }
}

/// A webhook's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// `{"type":"alert.created"|"alert.updated","timestamp":..,"id":..,"data":<alert>}`: the
    /// alert as contract section 3 defines it, in the Standard Webhooks payload structure.
    #[default]
    Suho,
    /// The alert as an OCSF Detection Finding (class 2004).
    Ocsf,
}

/// Where a sink that suho has not delivered to before starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    /// With the events committed after it was first seen (the default): adding a sink does
    /// not replay history into it.
    #[default]
    Now,
    /// With the oldest event the outbox still holds (at least the last
    /// [`crate::KEEP_DELIVERED_DAYS`] days of alert events).
    Oldest,
}

/// One `[[sinks]]` table. Keys that do not apply to the sink's `kind` are refused.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Unique name: the key of its cursor, so renaming a sink starts a new one.
    pub name: String,
    /// `webhook`, `syslog` or `ocsf_file`.
    pub kind: SinkKind,
    /// webhook: `https://...` (or `http://`).
    #[serde(default)]
    pub url: Option<String>,
    /// syslog: `host:port` (`[v6]:port`).
    #[serde(default)]
    pub address: Option<String>,
    /// ocsf_file: the NDJSON file (relative to the data directory).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// webhook: `suho` (default) or `ocsf`.
    #[serde(default)]
    pub format: Option<BodyFormat>,
    /// Only alerts of this severity or higher (default `low`: all). An alert that rises to it
    /// is sent from then on, as an update.
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// `now` (default) or `oldest`: see [`Start`].
    #[serde(default)]
    pub start: Option<Start>,
    /// webhook: a file holding the `whsec_...` secret (relative to the data directory).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// webhook: an environment variable holding the `whsec_...` secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// syslog: TLS (RFC 5425). Default false.
    #[serde(default)]
    pub tls: Option<bool>,
    /// webhook (https) or syslog with TLS: trust these CA certificates (PEM) instead of the
    /// built-in Mozilla roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// syslog with TLS: a client certificate chain (PEM), for servers that authenticate
    /// clients.
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// syslog with TLS: the client certificate's private key (PEM).
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
    /// syslog with TLS: the name to verify the server's certificate against (default: the
    /// host of `address`).
    #[serde(default)]
    pub server_name: Option<String>,
    /// syslog: facility name (`auth` by default; `authpriv`, `local0`..`local7`, ...).
    #[serde(default)]
    pub facility: Option<String>,
    /// syslog: the HOSTNAME field (default: this machine's host name).
    #[serde(default)]
    pub hostname: Option<String>,
    /// syslog: the private enterprise number of the structured-data id `suho@N`. Default
    /// 32473, the number RFC 5612 reserves for documentation; set your organisation's own.
    #[serde(default)]
    pub enterprise_id: Option<u32>,
    /// webhook and syslog: give up on one attempt after this long (connect, send, answer).
    /// Default 15000.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// First retry after about this long (doubling per failed attempt, with jitter). Default
    /// 1000.
    #[serde(default)]
    pub backoff_initial_ms: Option<u64>,
    /// Retries never wait longer than this. Default 300000 (5 minutes).
    #[serde(default)]
    pub backoff_max_ms: Option<u64>,
}

impl SinkConfig {
    /// The alerts this sink takes: at least this severity.
    pub fn min_severity(&self) -> Severity {
        self.min_severity.unwrap_or(Severity::Low)
    }

    /// Where a new sink starts.
    pub fn start(&self) -> Start {
        self.start.unwrap_or_default()
    }

    /// The webhook body format.
    pub fn format(&self) -> BodyFormat {
        self.format.unwrap_or_default()
    }

    /// One attempt's time limit.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout_ms.unwrap_or(15_000))
    }

    /// First retry delay and the cap, in ms.
    pub fn backoff_ms(&self) -> (u64, u64) {
        let initial = self.backoff_initial_ms.unwrap_or(1_000);
        (initial, self.backoff_max_ms.unwrap_or(300_000).max(initial))
    }

    /// Where it delivers, safe to print: a URL without credentials or query, an address, or
    /// a path.
    pub fn target(&self) -> String {
        match self.kind {
            SinkKind::Webhook => self.url.as_deref().map(redact_url).unwrap_or_default(),
            SinkKind::Syslog => {
                let a = self.address.clone().unwrap_or_default();
                if self.tls.unwrap_or(false) {
                    format!("{a} (TLS)")
                } else {
                    a
                }
            }
            SinkKind::OcsfFile => self
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        }
    }

    /// A path of this sink's configuration, resolved against the data directory.
    pub(crate) fn resolve(data_dir: &Path, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            data_dir.join(p)
        }
    }

    fn validate(&self) -> Result<(), String> {
        let n = &self.name;
        if n.is_empty()
            || n.len() > 64
            || !n
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(format!(
                "name {n:?} must be 1 to 64 letters, digits, '-', '_' or '.'"
            ));
        }
        let given: [(&str, bool); 17] = [
            ("url", self.url.is_some()),
            ("address", self.address.is_some()),
            ("path", self.path.is_some()),
            ("format", self.format.is_some()),
            ("secret_file", self.secret_file.is_some()),
            ("secret_env", self.secret_env.is_some()),
            ("tls", self.tls.is_some()),
            ("ca_file", self.ca_file.is_some()),
            ("client_cert_file", self.client_cert_file.is_some()),
            ("client_key_file", self.client_key_file.is_some()),
            ("server_name", self.server_name.is_some()),
            ("facility", self.facility.is_some()),
            ("hostname", self.hostname.is_some()),
            ("enterprise_id", self.enterprise_id.is_some()),
            ("timeout_ms", self.timeout_ms.is_some()),
            ("backoff_initial_ms", self.backoff_initial_ms.is_some()),
            ("backoff_max_ms", self.backoff_max_ms.is_some()),
        ];
        let allowed: &[&str] = match self.kind {
            SinkKind::Webhook => &[
                "url",
                "format",
                "secret_file",
                "secret_env",
                "ca_file",
                "timeout_ms",
            ],
            SinkKind::Syslog => &[
                "address",
                "tls",
                "ca_file",
                "client_cert_file",
                "client_key_file",
                "server_name",
                "facility",
                "hostname",
                "enterprise_id",
                "timeout_ms",
            ],
            SinkKind::OcsfFile => &["path"],
        };
        let always = ["backoff_initial_ms", "backoff_max_ms"];
        for (key, set) in given {
            if set && !allowed.contains(&key) && !always.contains(&key) {
                return Err(format!(
                    "`{key}` does not apply to a {} sink (it takes {})",
                    self.kind.as_str(),
                    allowed
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        if self.timeout_ms == Some(0) {
            return Err("`timeout_ms` must be at least 1".into());
        }
        if self.backoff_initial_ms == Some(0) {
            return Err("`backoff_initial_ms` must be at least 1".into());
        }
        match self.kind {
            SinkKind::Webhook => {
                let url = self
                    .url
                    .as_deref()
                    .ok_or("a webhook sink needs `url` (https://...)")?;
                check_url(url).map_err(|why| format!("`url`: {why}"))?;
                match (&self.secret_file, &self.secret_env) {
                    (None, None) => {
                        return Err("a webhook sink needs `secret_file` or `secret_env`: the whsec_... secret its receiver verifies signatures with (generate one with `suho sinks secret`)".into())
                    }
                    (Some(_), Some(_)) => {
                        return Err("give `secret_file` or `secret_env`, not both".into())
                    }
                    _ => {}
                }
                if let Some(e) = &self.secret_env {
                    if e.is_empty() {
                        return Err("`secret_env` must name an environment variable".into());
                    }
                }
                if self.ca_file.is_some() && !url.starts_with("https://") {
                    return Err("`ca_file` applies to an https:// `url` only".into());
                }
            }
            SinkKind::Syslog => {
                let a = self
                    .address
                    .as_deref()
                    .ok_or("a syslog sink needs `address` (host:port)")?;
                split_address(a).map_err(|why| format!("`address`: {why}"))?;
                if let Some(f) = &self.facility {
                    crate::syslog::facility_code(f).map_err(|why| format!("`facility`: {why}"))?;
                }
                if let Some(h) = &self.hostname {
                    if h.is_empty() || h.len() > 255 || !h.bytes().all(|b| (33..=126).contains(&b))
                    {
                        return Err(format!(
                            "`hostname` {h:?} must be 1 to 255 printable ASCII characters without spaces"
                        ));
                    }
                }
                let tls = self.tls.unwrap_or(false);
                for (key, set) in [
                    ("ca_file", self.ca_file.is_some()),
                    ("client_cert_file", self.client_cert_file.is_some()),
                    ("client_key_file", self.client_key_file.is_some()),
                    ("server_name", self.server_name.is_some()),
                ] {
                    if set && !tls {
                        return Err(format!("`{key}` applies with `tls = true` only"));
                    }
                }
                if self.client_cert_file.is_some() != self.client_key_file.is_some() {
                    return Err("`client_cert_file` and `client_key_file` go together".into());
                }
            }
            SinkKind::OcsfFile => {
                let p = self.path.as_ref().ok_or("an ocsf_file sink needs `path`")?;
                if p.as_os_str().is_empty() {
                    return Err("`path` is empty".into());
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for SinkConfig {
    /// Never prints a URL's credentials or query (where tokens hide); secrets are never in the
    /// configuration at all, only where to find them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("target", &self.target())
            .field("format", &self.format)
            .field("min_severity", &self.min_severity)
            .field("start", &self.start)
            .field("secret_file", &self.secret_file)
            .field("secret_env", &self.secret_env)
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .field("client_cert_file", &self.client_cert_file)
            .field("client_key_file", &self.client_key_file)
            .field("server_name", &self.server_name)
            .field("facility", &self.facility)
            .field("hostname", &self.hostname)
            .field("enterprise_id", &self.enterprise_id)
            .field("timeout_ms", &self.timeout_ms)
            .field("backoff_initial_ms", &self.backoff_initial_ms)
            .field("backoff_max_ms", &self.backoff_max_ms)
            .finish()
    }
}

/// `scheme://host[:port]/path`: no user, password, query or fragment.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a URL)".into();
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let hidden = if authority.contains('@') { "***@" } else { "" };
    let query = if url.contains('?') { "?***" } else { "" };
    format!("{scheme}://{hidden}{host}{path}{query}")
}

fn check_url(url: &str) -> Result<(), String> {
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|e| format!("{:?} is not a URL: {e}", redact_url(url)))?;
    match uri.scheme_str() {
        Some("https") | Some("http") => {}
        _ => {
            return Err(format!(
                "{:?} must start with https:// or http://",
                redact_url(url)
            ))
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("{:?} names no host", redact_url(url)));
    }
    Ok(())
}

/// `host:port` or `[v6]:port` into host and port.
pub(crate) fn split_address(a: &str) -> Result<(String, u16), String> {
    let (host, port) = a
        .rsplit_once(':')
        .ok_or_else(|| format!("{a:?} must be host:port"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(format!("{a:?} names no host"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{a:?}: {port:?} is not a port number"))?;
    if port == 0 {
        return Err(format!("{a:?}: port 0 cannot be connected to"));
    }
    Ok((host.to_string(), port))
}

/// Reads the `[[sinks]]` tables of `<data_dir>/suho.toml`; none when the file or the tables
/// are missing. Other sections of the file are not looked at. For tools and tests: suho's
/// front ends read the file once, through the application layer, which calls
/// [`from_section`].
pub fn load(data_dir: &Path) -> Result<Vec<SinkConfig>, SinkError> {
    let path = data_dir.join("suho.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => from_toml(&text, &path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(SinkError::Io {
            path,
            what: "reading the configuration",
            source: e,
        }),
    }
}

/// [`load`] on the text of a `suho.toml`; `path` is for errors.
pub fn from_toml(text: &str, path: &Path) -> Result<Vec<SinkConfig>, SinkError> {
    #[derive(Deserialize)]
    struct Doc {
        #[serde(default)]
        sinks: Option<toml::Value>,
    }
    let doc: Doc = toml::from_str(text).map_err(|e| SinkError::ConfigFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    from_section(doc.sinks, path)
}

/// The `[[sinks]]` of a parsed `suho.toml` (suho's application layer parses the file once and
/// hands each part its section); `path` is for errors and anchors relative paths.
pub fn from_section(sinks: Option<toml::Value>, path: &Path) -> Result<Vec<SinkConfig>, SinkError> {
    let Some(sinks) = sinks else {
        return Ok(Vec::new());
    };
    let toml::Value::Array(tables) = sinks else {
        return Err(SinkError::ConfigFile {
            path: path.to_path_buf(),
            reason: "`sinks` must be an array of tables: write each sink as a [[sinks]] table"
                .into(),
        });
    };
    let mut out: Vec<SinkConfig> = Vec::with_capacity(tables.len());
    for (i, t) in tables.into_iter().enumerate() {
        let label = t
            .get("name")
            .and_then(toml::Value::as_str)
            .map_or_else(|| format!("#{}", i + 1), |n| format!("{n:?}"));
        let bad = |reason: String| SinkError::Config {
            path: path.to_path_buf(),
            sink: label.clone(),
            reason,
        };
        if !t.is_table() {
            return Err(bad("must be a table ([[sinks]])".into()));
        }
        if t.get("secret").is_some() {
            return Err(bad("an inline `secret` is not accepted (it would sit in a file many people read and in backups): put it in a file named by `secret_file`, or an environment variable named by `secret_env`".into()));
        }
        let cfg = SinkConfig::deserialize(t).map_err(|e| bad(e.to_string()))?;
        cfg.validate().map_err(bad)?;
        if out.iter().any(|o| o.name == cfg.name) {
            return Err(bad(
                "another sink has this name; names must be unique (each keys its own cursor)"
                    .into(),
            ));
        }
        out.push(cfg);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<SinkConfig>, String> {
        from_toml(text, Path::new("/d/suho.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_configuration_parses_and_other_sections_are_left_alone() {
        let sinks = parse(
            r#"
[geo]
home_countries = ["KR"]

[[sinks]]
name = "soc"
kind = "webhook"
url = "https://user:pw@soc.example.com/hook?token=abc"
format = "ocsf"
secret_env = "SUHO_SOC_SECRET"
min_severity = "high"

[[sinks]]
name = "siem"
kind = "syslog"
address = "[::1]:6514"
tls = true
facility = "local4"

[[sinks]]
name = "file"
kind = "ocsf_file"
path = "findings.ndjson"
start = "oldest"
"#,
        )
        .expect("valid");
        assert_eq!(sinks.len(), 3);
        assert_eq!(sinks[0].format(), BodyFormat::Ocsf);
        assert_eq!(sinks[0].min_severity(), Severity::High);
        assert_eq!(sinks[2].start(), Start::Oldest);
        assert_eq!(sinks[1].start(), Start::Now);
        let shown = format!("{:?}", sinks[0]);
        assert!(!shown.contains("pw") && !shown.contains("abc"), "{shown}");
        assert_eq!(sinks[0].target(), "https://***@soc.example.com/hook?***");
    }

    #[test]
    fn mistakes_name_the_sink_and_the_key() {
        let cases = [
            (
                "[[sinks]]\nname = \"a\"\nkind = \"webhook\"\nurll = \"https://x\"\n",
                "[[sinks]] \"a\": unknown field `urll`",
            ),
            (
                "[[sinks]]\nname = \"a\"\nkind = \"pager\"\n",
                "[[sinks]] \"a\": unknown variant `pager`",
            ),
            (
                "[[sinks]]\nkind = \"syslog\"\naddress = \"h:1\"\n",
                "[[sinks]] #1: missing field `name`",
            ),
            (
                "[[sinks]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"https://x\"\nsecret = \"whsec_x\"\n",
                "inline `secret` is not accepted",
            ),
            (
                "[[sinks]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"https://x\"\n",
                "needs `secret_file` or `secret_env`",
            ),
            (
                "[[sinks]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"ftp://x\"\nsecret_env = \"S\"\n",
                "`url`: \"ftp://x\" must start with https:// or http://",
            ),
            (
                "[[sinks]]\nname = \"a\"\nkind = \"syslog\"\naddress = \"siem\"\n",
                "`address`: \"siem\" must be host:port",
            ),
            (
                "[[sinks]]\nname = \"a\"\nkind = \"syslog\"\naddress = \"h:514\"\nfacility = \"printer\"\n",
                "`facility`: \"printer\" is not a syslog facility",
            ),
            (
                "[[sinks]]\nname = \"a\"\nkind = \"syslog\"\naddress = \"h:514\"\nurl = \"https://x\"\n",
                "`url` does not apply to a syslog sink",
            ),
            (
                "[[sinks]]\nname = \"a\"\nkind = \"syslog\"\naddress = \"h:514\"\nca_file = \"ca.pem\"\n",
                "`ca_file` applies with `tls = true` only",
            ),
            (
                "[[sinks]]\nname = \"a\"\nkind = \"ocsf_file\"\npath = \"f\"\nmin_severity = \"urgent\"\n",
                "[[sinks]] \"a\": unknown variant `urgent`",
            ),
            (
                "[[sinks]]\nname = \"a\"\nkind = \"ocsf_file\"\npath = \"f\"\n[[sinks]]\nname = \"a\"\nkind = \"ocsf_file\"\npath = \"g\"\n",
                "another sink has this name",
            ),
            ("[sinks]\nname = \"a\"\n", "must be an array of tables"),
            (
                "[[sinks]]\nname = \"a b\"\nkind = \"ocsf_file\"\npath = \"f\"\n",
                "name \"a b\" must be",
            ),
        ];
        for (text, want) in cases {
            let got = parse(text).expect_err(text);
            assert!(got.contains(want), "{text}\n got: {got}\nwant: {want}");
            assert!(got.starts_with("/d/suho.toml: "), "{got}");
        }
    }

    #[test]
    fn no_file_and_no_tables_mean_no_sinks() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(load(dir.path()).expect("no file").is_empty());
        assert!(parse("[geo]\nhome_countries = [\"KR\"]\n")
            .expect("no sinks")
            .is_empty());
    }
}
