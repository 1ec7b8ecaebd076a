//! The webhook sink: one HTTP POST per event, signed as Standard Webhooks specify
//! (<https://www.standardwebhooks.com>, spec 1.0.0):
//!
//! * `webhook-id`: the event's id, the same on every retry (receivers deduplicate on it);
//! * `webhook-timestamp`: this attempt's time, integer seconds since the epoch;
//! * `webhook-signature`: `v1,` and the base64 HMAC-SHA256, keyed with the base64-decoded part
//!   of the `whsec_...` secret, of `{webhook-id}.{webhook-timestamp}.{body}`.
//!
//! A 2xx answer is an acknowledgement. Anything else (another status, a redirect, a timeout, a
//! refused connection) is retried, 4xx included: a misconfigured receiver (a wrong secret, a
//! moved route) must not make suho skip alerts, so the event waits, in order, and
//! `suho sinks status` says why. Redirects are not followed (the spec asks senders not to).

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::{BodyFormat, SinkConfig};
use crate::{DeliveryError, Event, Sink, SinkError};

/// A Standard Webhooks signing secret: `whsec_` and the base64 of 24 to 64 random bytes.
/// Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(redacted)")
    }
}

impl WebhookSecret {
    /// Parses `whsec_<base64>` (surrounding white space ignored). The error never repeats the
    /// text.
    pub fn parse(text: &str) -> Result<WebhookSecret, String> {
        let t = text.trim();
        let b64 = t
            .strip_prefix("whsec_")
            .ok_or("the secret must start with whsec_ (a Standard Webhooks secret)")?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| "the part after whsec_ is not valid base64")?;
        if !(24..=64).contains(&key.len()) {
            return Err(format!(
                "the secret decodes to {} bytes; Standard Webhooks secrets are 24 to 64 random bytes",
                key.len()
            ));
        }
        Ok(WebhookSecret(key))
    }

    /// A new random secret of 32 bytes, as `whsec_<base64>`.
    pub fn generate() -> String {
        use rand::RngCore;
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(key)
        )
    }

    /// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // Any key length is valid for HMAC.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            unreachable!("HMAC takes keys of any length")
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        )
    }

    /// Reads the sink's secret from `secret_file` (relative to `data_dir`) or `secret_env`.
    pub fn load(cfg: &SinkConfig, data_dir: &Path) -> Result<WebhookSecret, SinkError> {
        let bad = |reason: String| SinkError::Config {
            path: data_dir.join("suho.toml"),
            sink: format!("{:?}", cfg.name),
            reason,
        };
        let text = if let Some(f) = &cfg.secret_file {
            let p = SinkConfig::resolve(data_dir, f);
            std::fs::read_to_string(&p).map_err(|e| SinkError::Io {
                path: p.clone(),
                what: "reading the webhook secret",
                source: e,
            })?
        } else if let Some(v) = &cfg.secret_env {
            std::env::var(v).map_err(|_| {
                bad(format!(
                    "`secret_env`: the environment variable {v} is not set (or not UTF-8)"
                ))
            })?
        } else {
            return Err(bad("needs `secret_file` or `secret_env`".into()));
        };
        WebhookSecret::parse(&text).map_err(|why| {
            bad(match (&cfg.secret_file, &cfg.secret_env) {
                (Some(f), _) => format!("`secret_file` {}: {why}", f.display()),
                (_, Some(v)) => format!("`secret_env` {v}: {why}"),
                _ => why,
            })
        })
    }
}

/// The body of an event in `format`.
pub fn body(event: &Event, format: BodyFormat) -> String {
    match format {
        BodyFormat::Suho => {
            // The stored alert JSON goes in as it is: no second serialisation.
            format!(
                "{{\"type\":\"{}\",\"timestamp\":\"{}\",\"id\":{},\"data\":{}}}",
                event.event_type(),
                suho_record::format_rfc3339_ms(event.created_ms),
                serde_json::Value::String(event.uid.clone()),
                event.json
            )
        }
        BodyFormat::Ocsf => crate::ocsf::finding(event).to_string(),
    }
}

/// Delivers to one webhook endpoint.
pub struct WebhookSink {
    url: String,
    shown: String,
    agent: ureq::Agent,
    secret: WebhookSecret,
    format: BodyFormat,
    timeout: Duration,
}

impl WebhookSink {
    /// The sink `cfg` describes (its secret and CA file read now).
    pub fn new(cfg: &SinkConfig, data_dir: &Path) -> Result<WebhookSink, SinkError> {
        let secret = WebhookSecret::load(cfg, data_dir)?;
        let url = cfg.url.clone().unwrap_or_default();
        if let Some(rest) = url.strip_prefix("http://") {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            let host = host.rsplit('@').next().unwrap_or(host);
            let local = host.starts_with("127.")
                || host.starts_with("localhost")
                || host.starts_with("[::1]");
            if !local {
                tracing::warn!(
                    sink = %cfg.name,
                    "the webhook url is plain http://: alerts (account names, addresses) cross the network unencrypted; use https://"
                );
            }
        }
        let mut tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ));
        if let Some(ca) = &cfg.ca_file {
            let path = SinkConfig::resolve(data_dir, ca);
            let certs = crate::tls::read_certs(&path)?;
            let certs: Vec<ureq::tls::Certificate<'static>> = certs
                .iter()
                .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
                .collect();
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(cfg.timeout()))
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(format!("suho/{}", env!("CARGO_PKG_VERSION")))
            .tls_config(tls.build())
            .build()
            .into();
        Ok(WebhookSink {
            shown: cfg.target(),
            url,
            agent,
            secret,
            format: cfg.format(),
            timeout: cfg.timeout(),
        })
    }

    fn post(&mut self, event: &Event) -> Result<(), DeliveryError> {
        let body = body(event, self.format);
        let timestamp = crate::outbox::now_ms() / 1000;
        let signature = self.secret.sign(&event.uid, timestamp, body.as_bytes());
        let sent = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .header("webhook-id", &event.uid)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .send(body.as_bytes());
        let mut resp = match sent {
            Ok(r) => r,
            Err(ureq::Error::Timeout(_)) => {
                return Err(DeliveryError::new(format!(
                    "{} did not answer within {} ms (timeout_ms); suho retries the event",
                    self.shown,
                    self.timeout.as_millis()
                )))
            }
            Err(e) => {
                return Err(DeliveryError::new(format!(
                    "could not deliver to {}: {e}",
                    self.shown
                )))
            }
        };
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut excerpt = Vec::new();
        let _ = resp
            .body_mut()
            .as_reader()
            .take(300)
            .read_to_end(&mut excerpt);
        let excerpt: String = String::from_utf8_lossy(&excerpt)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let excerpt = excerpt.trim();
        let said = if excerpt.is_empty() {
            String::new()
        } else {
            format!(" ({excerpt:?})")
        };
        let hint = match status {
            300..=399 => format!(
                "; redirects are not followed: point `url` at {}",
                location.as_deref().unwrap_or("the new address")
            ),
            401 | 403 => "; check that the receiver has this sink's secret".into(),
            404 | 405 => "; check the sink's `url`".into(),
            _ => String::new(),
        };
        Err(DeliveryError {
            reason: format!(
                "{} answered HTTP {status}{said}{hint}; suho retries the event",
                self.shown
            ),
            retry_after,
        })
    }
}

impl Sink for WebhookSink {
    fn send(&mut self, events: &[Event]) -> Result<(), DeliveryError> {
        for e in events {
            self.post(e)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors published by the Standard Webhooks project itself
    /// (github.com/standard-webhooks/standard-webhooks):
    /// `libraries/rust/src/lib.rs`, `test_sign`, and `libraries/php/tests/WebhookTest.php`,
    /// `testSignFunctionWorks`.
    #[test]
    fn signatures_match_the_reference_libraries_vectors() {
        let s = WebhookSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").expect("secret");
        assert_eq!(
            s.sign(
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                br#"{"email":"test@example.com","username":"test_user"}"#
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
        let s = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        assert_eq!(
            s.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_checked_and_never_shown() {
        assert!(WebhookSecret::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD")
            .expect_err("no prefix")
            .contains("whsec_"));
        assert!(WebhookSecret::parse("whsec_???").is_err());
        assert!(WebhookSecret::parse("whsec_c2hvcnQ=")
            .expect_err("5 bytes")
            .contains("24 to 64"));
        let fresh = WebhookSecret::generate();
        let s = WebhookSecret::parse(&format!("  {fresh}\n")).expect("generated");
        assert_eq!(format!("{s:?}"), "WebhookSecret(redacted)");
        assert_ne!(fresh, WebhookSecret::generate());
    }
}
