//! The dispatcher: one thread that delivers every sink's pending events, in order, batch by
//! batch, taking turns between sinks. It wakes when the detection stage commits events (the
//! [`Dispatcher::hook`] it pokes), on a short poll (events committed by another process), or
//! when a failing sink's retry is due. A failed attempt is retried after a delay that doubles
//! per consecutive failure, from `backoff_initial_ms` up to `backoff_max_ms`, with jitter (the
//! delay is drawn between half and all of it), and never sooner than a receiver's
//! `Retry-After` (within the cap).
//!
//! One dispatcher per data directory: it holds an exclusive lock on `<data>/sinks.lock`.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::Rng;
use suho_detect::OutboxHook;

use crate::config::{SinkConfig, SinkKind};
use crate::outbox::{now_ms, Outbox, SinkState};
use crate::{OcsfFileSink, Sink, SinkError, SyslogSink, WebhookSink};

/// How the dispatcher waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DispatchOptions {
    /// Look for new events at least this often (events another process committed wake
    /// nobody). Default 1 s.
    pub poll: Duration,
    /// When another process delivers this data directory's alerts: wait (polling) until it
    /// stops and deliver then, instead of failing to start with [`SinkError::Busy`]. For
    /// long-running processes (`suho serve`). Default false.
    pub wait_for_lock: bool,
}

impl Default for DispatchOptions {
    fn default() -> DispatchOptions {
        DispatchOptions {
            poll: Duration::from_secs(1),
            wait_for_lock: false,
        }
    }
}

/// Every hour, delivered events older than the retention go.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Run,
    Drain {
        deadline: Option<Instant>,
        retry_now: bool,
    },
    Stop,
}

struct Signal {
    woken: bool,
    mode: Mode,
}

struct Shared {
    signal: Mutex<Signal>,
    cv: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Signal> {
        // The dispatcher never panics while holding the lock; if it did, the flags are
        // still meaningful.
        self.signal.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wake(&self) {
        self.lock().woken = true;
        self.cv.notify_all();
    }

    fn set(&self, mode: Mode) {
        let mut s = self.lock();
        s.mode = mode;
        s.woken = true;
        self.cv.notify_all();
    }

    fn mode(&self) -> Mode {
        self.lock().mode
    }

    /// The mode to work in, clearing the wake-up.
    fn take(&self) -> Mode {
        let mut s = self.lock();
        s.woken = false;
        s.mode
    }

    /// Sleep up to `d`, or until woken.
    fn wait(&self, d: Duration) {
        let s = self.lock();
        let _ = self.cv.wait_timeout_while(s, d, |s| !s.woken);
    }
}

/// What became of one sink by the time the dispatcher stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkOutcome {
    /// Its name.
    pub name: String,
    /// Events its receiver acknowledged during this run.
    pub delivered: u64,
    /// Events still waiting for it.
    pub pending: u64,
    /// Whether its last attempt failed.
    pub failing: bool,
    /// The last failure, one sentence.
    pub last_error: Option<String>,
}

/// Per sink, what a dispatcher run delivered and what is left.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DrainReport {
    /// In configuration order.
    pub sinks: Vec<SinkOutcome>,
    /// Another process held the dispatcher lock the whole time: this one delivered nothing.
    pub locked_out: bool,
}

impl DrainReport {
    /// Whether every sink has everything (vacuously true with no sink).
    pub fn all_delivered(&self) -> bool {
        self.sinks.iter().all(|s| s.pending == 0)
    }
}

struct Target {
    cfg: SinkConfig,
    sink: Box<dyn Sink>,
    state: SinkState,
    /// The last look found nothing to deliver.
    caught_up: bool,
    /// Tried once in this drain despite its backoff.
    retried: bool,
    delivered: u64,
}

/// The sink a configuration describes.
pub fn build(cfg: &SinkConfig, data_dir: &Path) -> Result<Box<dyn Sink>, SinkError> {
    Ok(match cfg.kind {
        SinkKind::Webhook => Box::new(WebhookSink::new(cfg, data_dir)?),
        SinkKind::Syslog => Box::new(SyslogSink::new(cfg, data_dir)?),
        SinkKind::OcsfFile => Box::new(OcsfFileSink::new(cfg, data_dir)),
    })
}

/// Delivers the outbox of one data directory to its sinks, on its own thread.
pub struct Dispatcher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Result<DrainReport, SinkError>>>,
}

impl Dispatcher {
    /// Reads every sink's secret and TLS files, takes the dispatcher lock of `data_dir` (or,
    /// with [`DispatchOptions::wait_for_lock`], waits for it on its thread), and starts
    /// delivering. A sink seen for the first time starts per its `start`.
    pub fn start(
        data_dir: &Path,
        sinks: Vec<SinkConfig>,
        opts: DispatchOptions,
    ) -> Result<Dispatcher, SinkError> {
        let mut built = Vec::with_capacity(sinks.len());
        for cfg in sinks {
            let sink = build(&cfg, data_dir)?;
            built.push((cfg, sink));
        }
        let lock_path = data_dir.join("sinks.lock");
        let lock = match take_lock(&lock_path) {
            Ok(f) => Some(f),
            Err(SinkError::Busy { .. }) if opts.wait_for_lock => {
                tracing::warn!(
                    lock = %lock_path.display(),
                    "another suho process is delivering the alerts; this one takes over when it stops"
                );
                None
            }
            Err(e) => return Err(e),
        };
        let mut outbox = Outbox::open(data_dir)?;
        let mut targets = Vec::with_capacity(built.len());
        for (cfg, sink) in built {
            let state = outbox.register(&cfg)?;
            targets.push(Target {
                cfg,
                sink,
                state,
                caught_up: false,
                retried: false,
                delivered: 0,
            });
        }
        let shared = Arc::new(Shared {
            signal: Mutex::new(Signal {
                woken: false,
                mode: Mode::Run,
            }),
            cv: Condvar::new(),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("suho-sinks".into())
            .spawn(move || {
                // Held until the thread ends: the lock goes after the last attempt.
                let Some(_lock) = lock.or_else(|| wait_for_lock(&lock_path, &s, opts.poll)) else {
                    return report(&outbox, &targets).map(|r| DrainReport {
                        locked_out: true,
                        ..r
                    });
                };
                let r = run(&mut outbox, &mut targets, &s, opts);
                if let Err(e) = &r {
                    tracing::error!(error = %e, "alert delivery to the sinks stopped");
                }
                r
            })
            .map_err(|e| SinkError::Stopped(format!("cannot start its thread: {e}")))?;
        Ok(Dispatcher {
            shared,
            thread: Some(thread),
        })
    }

    /// Wakes the dispatcher: hand it to the alert store (`AlertStore::on_outbox`,
    /// `Detection::on_outbox`) so a commit is delivered at once.
    pub fn hook(&self) -> OutboxHook {
        let s = self.shared.clone();
        Arc::new(move || s.wake())
    }

    /// Wakes the dispatcher now.
    pub fn wake(&self) {
        self.shared.wake();
    }

    /// Finishes the attempt in flight and stops.
    pub fn shutdown(mut self) -> Result<DrainReport, SinkError> {
        self.shared.set(Mode::Stop);
        self.join()
    }

    /// Delivers until every sink has everything or is failing, then stops; gives up at
    /// `deadline` (from now) if one is given. With `retry_now`, a sink waiting for a retry is
    /// tried once at once instead.
    pub fn drain(
        mut self,
        deadline: Option<Duration>,
        retry_now: bool,
    ) -> Result<DrainReport, SinkError> {
        self.shared.set(Mode::Drain {
            deadline: deadline.map(|d| Instant::now() + d),
            retry_now,
        });
        self.join()
    }

    fn join(&mut self) -> Result<DrainReport, SinkError> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(SinkError::Stopped("its thread panicked".into()))),
            None => Ok(DrainReport::default()),
        }
    }
}

impl Drop for Dispatcher {
    /// Stops the thread (after the attempt in flight) before the lock goes.
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shared.set(Mode::Stop);
            let _ = self.join();
        }
    }
}

/// Polls for the lock until it is free (`Some`), or until the dispatcher is told to stop or
/// drain and the lock is still held (`None`: nothing was delivered, the other process does it).
fn wait_for_lock(path: &PathBuf, shared: &Shared, poll: Duration) -> Option<File> {
    loop {
        let mode = shared.take();
        match take_lock(path) {
            Ok(f) => {
                tracing::info!("the other process stopped delivering; this one delivers now");
                return Some(f);
            }
            Err(_) if mode != Mode::Run => return None,
            Err(SinkError::Busy { .. }) => shared.wait(poll),
            Err(e) => {
                tracing::error!(error = %e, "cannot take the sink dispatcher lock; will retry");
                shared.wait(poll);
            }
        }
    }
}

fn take_lock(path: &PathBuf) -> Result<File, SinkError> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| SinkError::Io {
            path: path.clone(),
            what: "opening the dispatcher lock",
            source: e,
        })?;
    match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(f),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(SinkError::Busy { path: path.clone() }),
        Err(e) => Err(SinkError::Io {
            path: path.clone(),
            what: "locking",
            source: e.into(),
        }),
    }
}

enum Step {
    CaughtUp,
    Delivered,
    Failed,
}

/// Milliseconds before attempt number `attempts + 1` (after `attempts` failures in a row).
fn backoff_ms(cfg: &SinkConfig, attempts: u32, retry_after: Option<Duration>) -> i64 {
    let (initial, max) = cfg.backoff_ms();
    let doubled = initial
        .saturating_mul(1u64 << attempts.saturating_sub(1).min(40))
        .min(max);
    let jittered = doubled / 2 + rand::thread_rng().gen_range(0..=doubled - doubled / 2);
    let asked = retry_after.map_or(0, |d| {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX).min(max)
    });
    i64::try_from(jittered.max(asked)).unwrap_or(i64::MAX)
}

/// One batch for one sink.
fn step(outbox: &mut Outbox, t: &mut Target) -> Result<Step, SinkError> {
    let name = t.cfg.name.clone();
    let pending = match outbox.pending(&t.cfg, t.sink.batch_limit()) {
        Ok(p) => p,
        Err(e @ SinkError::Event { .. }) => {
            // A damaged event cannot be skipped silently: the sink waits, and status says why.
            let delay = backoff_ms(&t.cfg, t.state.attempts + 1, None);
            t.state = outbox.failed(&name, &e.to_string(), now_ms() + delay)?;
            tracing::error!(sink = %name, error = %e, "an alert event cannot be delivered");
            return Ok(Step::Failed);
        }
        Err(e) => return Err(e),
    };
    let Some(last) = pending.events.last() else {
        if pending.skip_to > t.state.cursor {
            t.state = outbox.skip(&name, pending.skip_to)?;
        }
        return Ok(Step::CaughtUp);
    };
    let (through, n) = (last.seq, pending.events.len() as u64);
    match t.sink.send(&pending.events) {
        Ok(()) => {
            t.state = outbox.delivered(&name, through, n)?;
            t.delivered += n;
            Ok(Step::Delivered)
        }
        Err(e) => {
            let delay = backoff_ms(&t.cfg, t.state.attempts + 1, e.retry_after);
            t.state = outbox.failed(&name, &e.reason, now_ms() + delay)?;
            tracing::warn!(
                sink = %name,
                attempts = t.state.attempts,
                retry_in_ms = delay,
                error = %e,
                "alert delivery failed; will retry"
            );
            Ok(Step::Failed)
        }
    }
}

fn report(outbox: &Outbox, targets: &[Target]) -> Result<DrainReport, SinkError> {
    let mut sinks = Vec::with_capacity(targets.len());
    for t in targets {
        sinks.push(SinkOutcome {
            name: t.cfg.name.clone(),
            delivered: t.delivered,
            pending: outbox.pending_count(&t.cfg)?,
            failing: t.state.attempts > 0,
            last_error: (t.state.attempts > 0)
                .then(|| t.state.last_error.clone())
                .flatten(),
        });
    }
    Ok(DrainReport {
        sinks,
        locked_out: false,
    })
}

fn run(
    outbox: &mut Outbox,
    targets: &mut [Target],
    shared: &Shared,
    opts: DispatchOptions,
) -> Result<DrainReport, SinkError> {
    let configs: Vec<SinkConfig> = targets.iter().map(|t| t.cfg.clone()).collect();
    let mut next_prune = Instant::now();
    loop {
        let mode = shared.take();
        if mode == Mode::Stop {
            return report(outbox, targets);
        }
        if Instant::now() >= next_prune {
            let gone = outbox.prune(&configs)?;
            if gone > 0 {
                tracing::info!(events = gone, "outbox: removed events every sink delivered");
            }
            next_prune = Instant::now() + PRUNE_EVERY;
        }
        let (retry_now, deadline) = match mode {
            Mode::Drain {
                deadline,
                retry_now,
            } => (retry_now, deadline),
            _ => (false, None),
        };
        let now = now_ms();
        let mut wait = opts.poll;
        let mut progressed = false;
        for t in targets.iter_mut() {
            let forced = retry_now && !t.retried;
            if t.state.next_attempt_ms > now && !forced {
                t.caught_up = false;
                let until = u64::try_from(t.state.next_attempt_ms - now).unwrap_or(0);
                wait = wait.min(Duration::from_millis(until));
                continue;
            }
            if retry_now {
                t.retried = true;
            }
            match step(outbox, t)? {
                Step::CaughtUp => t.caught_up = true,
                Step::Delivered => {
                    t.caught_up = false;
                    progressed = true;
                }
                Step::Failed => t.caught_up = false,
            }
            if shared.mode() == Mode::Stop {
                break;
            }
        }
        if mode != Mode::Run {
            let settled = targets.iter().all(|t| t.caught_up || t.state.attempts > 0);
            let late = deadline.is_some_and(|d| Instant::now() >= d);
            if (settled && !progressed) || late {
                return report(outbox, targets);
            }
        }
        if progressed {
            continue;
        }
        if let Some(d) = deadline {
            wait = wait.min(d.saturating_duration_since(Instant::now()));
        }
        shared.wait(wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(initial: u64, max: u64) -> SinkConfig {
        let text = format!(
            "[[sinks]]\nname = \"f\"\nkind = \"ocsf_file\"\npath = \"f\"\nbackoff_initial_ms = {initial}\nbackoff_max_ms = {max}\n"
        );
        crate::from_toml(&text, Path::new("suho.toml"))
            .expect("config")
            .remove(0)
    }

    #[test]
    fn retries_wait_half_to_all_of_a_doubling_delay_up_to_the_cap() {
        let c = cfg(1000, 8000);
        for (attempts, full) in [
            (1, 1000),
            (2, 2000),
            (3, 4000),
            (4, 8000),
            (5, 8000),
            (60, 8000),
        ] {
            for _ in 0..50 {
                let d = backoff_ms(&c, attempts, None);
                assert!((full / 2..=full).contains(&d), "attempt {attempts}: {d} ms");
            }
        }
        // Jitter: retries of many sinks do not all land on the same millisecond.
        let draws: std::collections::HashSet<i64> =
            (0..50).map(|_| backoff_ms(&c, 4, None)).collect();
        assert!(draws.len() > 1);
    }

    #[test]
    fn a_receivers_retry_after_is_honoured_within_the_cap() {
        let c = cfg(1000, 8000);
        assert_eq!(backoff_ms(&c, 1, Some(Duration::from_secs(5))), 5000);
        assert_eq!(backoff_ms(&c, 1, Some(Duration::from_secs(3600))), 8000);
        assert!(backoff_ms(&c, 4, Some(Duration::from_millis(1))) >= 4000);
    }
}
