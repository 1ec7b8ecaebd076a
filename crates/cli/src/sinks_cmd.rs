//! `suho sinks` (status, deliver, secret), and the sink dispatcher that `suho serve` runs for
//! its lifetime and `suho ingest` runs while it ingests.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Subcommand;
use suho_app::App;
use suho_sink::{Dispatcher, DrainReport};

/// How long `suho ingest` waits at its end for the sinks to take what it raised.
const INGEST_DRAIN: Duration = Duration::from_secs(5);

#[derive(Subcommand)]
pub enum SinksCmd {
    /// Per sink ([[sinks]] in suho.toml): events delivered and pending, whether it is failing
    /// (attempts, next retry, last error) and its last success.
    Status {
        /// Print JSON: {"outbox": {...}, "sinks": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Deliver pending alert events now, trying failing sinks at once, until every sink has
    /// everything or is failing.
    ///
    /// Exit status 0: every sink has every event. 1: a sink is still failing (its events wait,
    /// in order; `suho sinks status` says why). `suho serve` and `suho ingest` deliver by
    /// themselves; this is for a receiver that came back, or a cron job.
    Deliver,
    /// Write a new webhook secret to FILE, readable by its owner only.
    ///
    /// A Standard Webhooks secret: whsec_ and 32 random bytes in base64. Name the file in a
    /// webhook sink as `secret_file` and give its content to the receiver; it is not printed.
    Secret {
        /// The file to create (refused if it exists).
        file: PathBuf,
    },
}

pub fn sinks(app: &App, cmd: SinksCmd) -> Result<i32> {
    match cmd {
        SinksCmd::Status { json } => status(app, json),
        SinksCmd::Deliver => deliver(app),
        SinksCmd::Secret { file } => secret(&file),
    }
}

fn status(app: &App, json: bool) -> Result<i32> {
    let data = app.dir().root();
    let cfgs = suho_app::sinks::configs(app)?;
    let sinks = suho_sink::status(data, &cfgs)?;
    let head = suho_sink::Outbox::open(data)?.head()?;
    if json {
        let out = serde_json::json!({
            "outbox": {
                "newest": head.newest,
                "oldest": head.oldest,
                "events": head.events,
            },
            "sinks": sinks,
        });
        println!("{out}");
        return Ok(0);
    }
    if sinks.is_empty() {
        println!(
            "no sinks are configured: add [[sinks]] tables to {} (see the README); the outbox holds {} alert events",
            app.dir().config_file().display(),
            head.events
        );
        return Ok(0);
    }
    for s in &sinks {
        println!("{} ({}, {}):", s.name, s.kind, s.target);
        let success = s
            .last_success
            .as_deref()
            .map_or("never".to_string(), str::to_string);
        let from = if s.started {
            String::new()
        } else {
            " (not started yet)".into()
        };
        println!(
            "  delivered {}, pending {}{from}, alerts {} and above, last success {success}",
            s.delivered, s.pending, s.min_severity
        );
        if s.failing {
            println!(
                "  FAILING: {} attempts, next retry {}: {}",
                s.attempts,
                s.next_attempt.as_deref().unwrap_or("-"),
                s.last_error.as_deref().unwrap_or("-")
            );
        } else if let (Some(e), Some(at)) = (&s.last_error, &s.last_error_at) {
            println!("  ok (last failure {at}: {e})");
        } else {
            println!("  ok");
        }
    }
    Ok(0)
}

fn deliver(app: &App) -> Result<i32> {
    let Some(dispatcher) = suho_app::sinks::deliver_now(app)? else {
        println!(
            "no sinks are configured: add [[sinks]] tables to {}",
            app.dir().config_file().display()
        );
        return Ok(0);
    };
    let report = dispatcher.drain(None, true)?;
    for s in &report.sinks {
        match (&s.last_error, s.pending) {
            (_, 0) => println!("{}: delivered {}, nothing pending", s.name, s.delivered),
            (Some(e), n) => println!(
                "{}: delivered {}, {n} pending; failing: {e}",
                s.name, s.delivered
            ),
            (None, n) => println!("{}: delivered {}, {n} pending", s.name, s.delivered),
        }
    }
    Ok(if report.all_delivered() { 0 } else { 1 })
}

fn secret(file: &Path) -> Result<i32> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .with_context(|| format!("cannot create {}", file.display()))?;
    f.write_all(format!("{}\n", suho_sink::WebhookSecret::generate()).as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", file.display()))?;
    eprintln!(
        "wrote a new webhook secret to {} (readable by you only): name it as `secret_file` in the webhook sink and give its content to the receiver",
        file.display()
    );
    Ok(0)
}

/// The dispatcher for `suho serve` and `suho ingest` (also with no sink configured: it then
/// only prunes the outbox). When another process delivers (`suho sinks deliver`), it waits and
/// takes over once that one stops. A bad `[[sinks]]` configuration or an unreadable secret is
/// an error.
pub fn start(app: &App) -> Result<Dispatcher> {
    suho_app::sinks::start(app).context("cannot start delivering alerts to the sinks")
}

/// At the end of `suho ingest`: a bounded moment for the sinks to take what it raised, then
/// what waits and why.
pub fn finish_ingest(d: Dispatcher) {
    match d.drain(Some(INGEST_DRAIN), false) {
        Ok(report) => say_pending(&report),
        Err(e) => eprintln!("warning: alert delivery stopped: {e}"),
    }
}

/// At the end of `suho serve`.
pub fn stop(d: Dispatcher) {
    match d.shutdown() {
        Ok(report) => say_pending(&report),
        Err(e) => eprintln!("warning: alert delivery stopped: {e}"),
    }
}

fn say_pending(report: &DrainReport) {
    if report.locked_out && !report.all_delivered() {
        eprintln!("note: another suho process (sinks deliver) was delivering the alerts meanwhile; it or the next `suho serve` or `suho sinks deliver` delivers what waits");
        return;
    }
    for s in report.sinks.iter().filter(|s| s.pending > 0) {
        let why = s
            .last_error
            .as_deref()
            .map_or(String::new(), |e| format!(" (failing: {e})"));
        eprintln!(
            "note: {} alert events wait for sink {}{why}; `suho serve` or `suho sinks deliver` delivers them, `suho sinks status` shows their state",
            s.pending, s.name
        );
    }
}
