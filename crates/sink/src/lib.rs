//! Alert sinks: every alert suho raises, and every update of it, delivered from the durable
//! outbox in `<data>/alerts.db` to where a security team reads alerts: a webhook signed as
//! Standard Webhooks specify (suho's JSON or an OCSF Detection Finding), a syslog server
//! (RFC 5424 over TCP with RFC 6587 octet counting, optionally TLS as RFC 5425 says), or an
//! NDJSON file of OCSF Detection Findings that a SIEM's collector tails.
//!
//! Delivery is at least once and in event order, per sink. A sink's cursor (the last event its
//! receiver acknowledged), its failed attempts, next retry, last error and last success live in
//! the same SQLite file as the events, and the cursor moves only after the receiver
//! acknowledged: a receiver that is down gets everything later, in order, retried with capped
//! exponential backoff and jitter, and nothing is lost across a restart. Every event has an id
//! that a retry keeps (`webhook-id`, OCSF `metadata.uid`, syslog `event_id`), so a receiver
//! drops the duplicate a crash between its acknowledgement and the cursor can cause.
//!
//! * [`SinkConfig`], [`load`]: the `[[sinks]]` tables of `suho.toml`.
//! * [`Sink`]: a kind of receiver: [`WebhookSink`], [`SyslogSink`], [`OcsfFileSink`].
//! * [`Outbox`]: the events and every sink's cursor, attempts and errors; [`status`].
//! * [`Dispatcher`]: one thread that delivers to every sink, woken by a commit or a short poll.
//!
//! Architecture invariant: no async, no HTTP server; this crate reads the outbox the
//! detection stage writes (`suho_detect::AlertStore`) and talks to receivers.
#![forbid(unsafe_code)]

mod config;
mod dispatch;
mod file;
pub mod ocsf;
mod outbox;
pub mod syslog;
mod tls;
pub mod webhook;

use std::path::PathBuf;
use std::time::Duration;

pub use config::{from_section, from_toml, load, BodyFormat, SinkConfig, SinkKind, Start};
pub use dispatch::{build, DispatchOptions, Dispatcher, DrainReport, SinkOutcome};
pub use file::OcsfFileSink;
pub use outbox::{status, Event, Outbox, Pending, SinkState, SinkStatus, KEEP_DELIVERED_DAYS};
pub use syslog::SyslogSink;
pub use webhook::{WebhookSecret, WebhookSink};

/// A receiver of alert events.
///
/// `send` is all or nothing: `Ok` only once the receiver has acknowledged every event of the
/// batch (an HTTP 2xx, bytes written to a connection the syslog server had not closed, an
/// fsync); on `Err`, none counts as delivered and the whole batch is sent again later, with
/// the same event ids.
pub trait Sink: Send {
    /// Deliver `events` (never empty), in order.
    fn send(&mut self, events: &[Event]) -> Result<(), DeliveryError>;

    /// At most this many events per `send`.
    fn batch_limit(&self) -> usize {
        1
    }
}

/// Why a delivery attempt failed: one sentence for `suho sinks status`, and how long the
/// receiver asked suho to wait (HTTP `Retry-After`), if it did.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct DeliveryError {
    /// One sentence: what failed and, where suho knows, what to do.
    pub reason: String,
    /// The receiver's `Retry-After`.
    pub retry_after: Option<Duration>,
}

impl DeliveryError {
    pub(crate) fn new(reason: impl Into<String>) -> DeliveryError {
        DeliveryError {
            reason: reason.into(),
            retry_after: None,
        }
    }
}

/// Why the sinks cannot run: bad configuration, unreadable files, a failing alert store.
/// (A receiver that refuses or is down is not an error: it is retried and shown in
/// `suho sinks status`.)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// `suho.toml` is not valid TOML, or `sinks` is not an array of tables.
    #[error("{}: {reason}", path.display())]
    ConfigFile {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// One `[[sinks]]` table holds an unknown key or a bad value.
    #[error("{}: [[sinks]] {sink}: {reason}", path.display())]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// The sink's name in quotes, or its position (`#2`) when it has none.
        sink: String,
        /// Which key, and what is wrong with it.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What suho was doing.
        what: &'static str,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The alert store (and its outbox) failed.
    #[error(transparent)]
    Store(#[from] suho_detect::DetectError),
    /// The sinks' delivery state in the alert database failed.
    #[error("sink state in {}: {reason}", path.display())]
    State {
        /// The database file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// An outbox event cannot be read (a damaged database): the sink waits at it.
    #[error("{}: outbox event {seq}: {reason}", path.display())]
    Event {
        /// The database file.
        path: PathBuf,
        /// The event's number.
        seq: i64,
        /// What is wrong.
        reason: String,
    },
    /// Another suho process already delivers this data directory's alerts.
    #[error("another suho process (serve, ingest or sinks deliver) is delivering the alerts of this data directory: it holds {}", path.display())]
    Busy {
        /// The lock file.
        path: PathBuf,
    },
    /// TLS settings that cannot work together.
    #[error("TLS settings: {0}")]
    Tls(String),
    /// The dispatcher thread ended unexpectedly.
    #[error("the sink dispatcher stopped: {0}")]
    Stopped(String),
}
