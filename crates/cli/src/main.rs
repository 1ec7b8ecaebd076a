//! `suho`: the command-line glue over suho's crates. It parses arguments, wires the ledger,
//! ingest pipeline, server and simulator together, and prints results for people and scripts.
//! Every command takes `--data DIR` (default `./suho-data`, or `SUHO_DATA`).
#![forbid(unsafe_code)]

mod bench;
mod demo;
mod detect_cmd;
mod eval;
mod evidence_cmd;
mod follow_cmd;
mod leak_cmd;
mod ledger_cmd;
mod notify_cmd;
mod rules_cmd;
mod scope_cmd;
mod serve_cmd;
mod sinks_cmd;
mod sources_cmd;
mod sql_cmd;
mod suppress_cmd;
mod ui;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "suho",
    version,
    about = "suho (수호): a tamper-evident access ledger that catches insider exfiltration"
)]
struct Cli {
    /// Data directory: the ledger, registry, alerts, history and suho.toml (created when
    /// missing).
    #[arg(
        long,
        global = true,
        env = "SUHO_DATA",
        hide_env_values = true,
        default_value = "./suho-data"
    )]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

/// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// The end-to-end demo: simulate an e-commerce company, ingest, verify, show what was stored.
    Demo(demo::DemoArgs),
    /// Write realistic sample access records, a registry and a geo database.
    Simulate(demo::SimulateArgs),
    /// Append access records to the ledger (`-` reads standard input).
    ///
    /// Every file is checked before anything is stored: a missing or unreadable one stops the
    /// command with nothing stored. gzip files are decompressed. If a file still fails part-way,
    /// what was stored, per file, is printed before the error. A record whose time is an
    /// integer below 100000000000 (epoch seconds, not milliseconds), more than `max_past_days`
    /// (default 7300) before now or more than `max_future_hours` (default 48) after now is
    /// rejected; set both in the `[ingest]` section of `suho.toml` in the data directory.
    ///
    /// A record repeated with the same `id` and content is a duplicate, stored once; a record
    /// whose `id` an earlier record of the same hour carries with other content is a conflict:
    /// stored, counted, and raised as an `id_conflict` alert. A long ingest publishes a signed
    /// checkpoint every 5 seconds (SUHO_CHECKPOINT_EVERY_SECS sets another interval).
    ///
    /// Alerts go to the sinks of suho.toml ([[sinks]]) while ingesting, and for up to 5
    /// seconds after; what a failing sink has not taken waits for `suho serve` or `suho sinks
    /// deliver`.
    ///
    /// With --follow, each file is read as it grows until SIGINT or SIGTERM (then everything
    /// read is made durable, positions are saved, a checkpoint is written, and the exit status
    /// is 0). A file that does not exist yet is waited for; a file renamed away by log rotation
    /// is read to its end (its last line without a line end is taken as it is once it has been
    /// idle for a second) and the new file at the path from its start; a file truncated in
    /// place (copytruncate) is read again from its start. Only whole lines are stored. Where
    /// each file is in the ledger is kept in DATA/follow/state, so a restart, even after a
    /// kill, stores every line exactly once, with or without record ids. A file rotated more
    /// than once while suho is stopped: only the newest and the one it was reading are found.
    ///
    /// `--follow --source gw --source pg` (or `--source all`: every `[[sources]]` entry) follows
    /// each source's file with its own format and mapping, in one process, into one ledger;
    /// the status line and `suho status` count what was stored per source. Each source record
    /// must be one line: JSON formats are read one value per line, and `pgaudit` (whose records
    /// can span lines) is refused with --follow.
    Ingest {
        /// NDJSON files of access records (plain or gzip), or logs of --format.
        #[arg(required_unless_present = "source")]
        files: Vec<PathBuf>,
        /// Keep reading the files as they grow, across log rotation, until stopped; a restart
        /// goes on where the ledger ends.
        #[arg(long)]
        follow: bool,
        /// Read the source of this name from `[[sources]]` in suho.toml (its path, format and
        /// mapping); repeat for several; `all` is every one (unless a source is named `all`).
        /// With --follow, each source's file is followed with its own decoder. Not with FILES
        /// (name such files as a source instead).
        #[arg(long, conflicts_with_all = ["files", "format", "mapping"])]
        source: Vec<String>,
        /// The files' format: `suho` (access records, contract section 1), `gateway` (an
        /// API gateway's or application's JSON access log), `pgaudit` (PostgreSQL pgAudit
        /// entries in a csvlog or stderr server log), `cloudtrail` (AWS CloudTrail log objects
        /// or one event per line) or `ocsf` (OCSF API and Datastore Activity events); all but
        /// `suho` need --mapping.
        #[arg(long, default_value = "suho", value_parser = clap::builder::PossibleValuesParser::new(suho_decode::FORMATS))]
        format: String,
        /// The mapping file (TOML) of --format: where the log's fields are and where the
        /// subjects and field categories are (routes, tables, buckets, resources). Commented
        /// examples: examples/<format>/mapping.toml.
        #[arg(long)]
        mapping: Option<PathBuf>,
    },
    /// The logs suho reads (`[[sources]]` in suho.toml) and what their decoders could not map.
    #[command(subcommand)]
    Sources(sources_cmd::SourcesCmd),
    /// Print the lines rejected so far: when, from where (file or `http:<token name>`), line
    /// number, reason, and the start of the line.
    Rejects {
        /// Print at most this many (the newest).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print the reject log's NDJSON as it is.
        #[arg(long)]
        ndjson: bool,
    },
    /// Check the whole ledger; exit non-zero naming the first bad entry.
    Verify {
        /// Verifier key (or a file holding it); default: the ledger's own.
        #[arg(long)]
        key: Option<String>,
    },
    /// Size, checkpoint and files of the ledger, and whether recovery after a crash is pending.
    Status,
    /// After a crash or kill: checkpoint, run through the detectors and index every record the
    /// stopped process stored (scope, evidence, notify and sql do this first by themselves).
    Recover,
    /// Print stored records as NDJSON, in ledger order, each with its ledger index.
    Records {
        /// First ledger index.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Print at most this many.
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Ledger keys and proofs.
    #[command(subcommand)]
    Ledger(ledger_cmd::LedgerCmd),
    /// Check a C2SP tlog-proof file offline, with nothing but the verifier key.
    VerifyProof {
        /// The .tlog-proof file.
        file: PathBuf,
        /// Verifier key (or a file holding it).
        #[arg(long)]
        key: String,
        /// A file holding the record the proof should commit to: the producer's NDJSON line as
        /// sent, or that record's line as `suho records` prints it.
        #[arg(long)]
        record: Option<PathBuf>,
    },
    /// Check a consistency-proof file offline: the newer log extends the older one.
    VerifyConsistency {
        /// The consistency-proof file.
        file: PathBuf,
        /// Verifier key (or a file holding it).
        #[arg(long)]
        key: String,
    },
    /// People, credentials and signing keys: load, offboard, orphans, history.
    #[command(subcommand)]
    Registry(detect_cmd::RegistryCmd),
    /// Print the alerts raised so far: what the sinks got (each with the record of its latest
    /// update and since when it is high). Routine lows are in the daily digest (`--digest`),
    /// alerts an analyst's suppression hid under `--suppressed`.
    Alerts {
        /// Output form.
        #[arg(long, value_enum, default_value = "table")]
        format: detect_cmd::Format,
        /// Only this severity or higher (low, medium, high, critical).
        #[arg(long, value_parser = detect_cmd::severity_arg)]
        min_severity: Option<suho_detect::Severity>,
        /// Only this rule.
        #[arg(long)]
        rule: Option<String>,
        /// Only this actor.
        #[arg(long)]
        actor: Option<String>,
        /// At most this many.
        #[arg(long)]
        limit: Option<usize>,
        /// The daily digest: routine lows (the same rule about the same entity low on most
        /// recent days), per day and rule, kept from the sinks.
        #[arg(long, conflicts_with_all = ["suppressed", "all"])]
        digest: bool,
        /// Alerts hidden by a suppression (`suho suppress`), with the suppression's id.
        #[arg(long, conflicts_with = "all")]
        suppressed: bool,
        /// Every stored alert: raised, digest and suppressed.
        #[arg(long)]
        all: bool,
    },
    /// Print incidents: related alerts grouped per actor or credential.
    Incidents {
        /// Output form.
        #[arg(long, value_enum, default_value = "table")]
        format: detect_cmd::Format,
        /// Only this severity or higher.
        #[arg(long, value_parser = detect_cmd::severity_arg)]
        min_severity: Option<suho_detect::Severity>,
    },
    /// Run a labelled scenario end to end and score detection against its ground truth.
    Eval(eval::EvalArgs),
    /// Serve the HTTP API (ingest, checkpoint, tiles).
    ///
    /// `POST /v1/records` takes NDJSON or a JSON array of records, plain or with
    /// `Content-Encoding: gzip` or `zstd` (the body limit applies to the decompressed body), and
    /// answers 200 when anything was stored, 422 when every line was rejected, 400 when the body holds no record; the
    /// `Suho-Stored`, `Suho-Duplicates` and `Suho-Rejected` headers give the counts. Event times
    /// are checked as by `suho ingest` (the `[ingest]` section of `suho.toml`). Alerts go to
    /// the sinks of suho.toml ([[sinks]]) as they are raised.
    Serve(serve_cmd::ServeArgs),
    /// API tokens.
    #[command(subcommand)]
    Token(serve_cmd::TokenCmd),
    /// Benchmarks: ingest throughput against physical limits measured in the same run.
    Bench(bench::BenchArgs),
    /// Which customers and fields the selected records touched, exactly (from the history).
    Scope(scope_cmd::ScopeArgs),
    /// The Parquet history of the ledger: sync, prune (retention), status.
    #[command(subcommand)]
    History(scope_cmd::HistoryCmd),
    /// Write an evidence bundle of an incident: its records, C2SP tiles, signed checkpoints and a
    /// consistency proof, for investigators to check offline.
    Evidence(evidence_cmd::EvidenceArgs),
    /// Check an evidence bundle offline, and whether a company's claims fit it.
    VerifyEvidence(evidence_cmd::VerifyEvidenceArgs),
    /// Draft every notice an incident requires (PIPA, GDPR, California), with their clocks.
    Notify(notify_cmd::NotifyArgs),
    /// The privacy-preserving "was my data leaked?" lookup (k-anonymity hash ranges).
    #[command(subcommand)]
    LeakCheck(leak_cmd::LeakCmd),
    /// SQL over the history (Parquet), for threat hunting.
    Sql(sql_cmd::SqlArgs),
    /// Alert sinks ([[sinks]] in suho.toml: webhook, syslog, OCSF file): status, deliver now.
    ///
    /// Every alert and every update of it goes to each sink from a durable outbox, in order;
    /// a receiver that is down gets it later. `suho serve` delivers for its lifetime, `suho
    /// ingest` while it ingests (and up to 5 s after).
    #[command(subcommand)]
    Sinks(sinks_cmd::SinksCmd),
    /// Analysts' suppressions: hide one rule's alerts for an actor, network or resource until
    /// a time, with a reason, recorded in the ledger; see what each one hid.
    #[command(subcommand)]
    Suppress(suppress_cmd::SuppressCmd),
    /// Every rule suho runs: the built-in detectors (with RULES.md's one-liner) and the team's
    /// Sigma rules of `[detect] sigma_rules` (file, id, level, status, how records reach
    /// them). `--check DIR` validates a rules directory without ingesting.
    Rules(rules_cmd::RulesArgs),
}

fn main() {
    quiet_on_closed_stdout();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SUHO_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let res = run(cli);
    if std::env::var_os("SUHO_PEAK_RSS").is_some() {
        // For `suho bench`: the peak resident set of this process, from the kernel.
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        if let Some(kib) = status.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
            eprintln!("peak_rss_kib={}", kib.trim().trim_end_matches("kB").trim());
        }
    }
    match res {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

/// `println!` panics when standard output is a pipe whose reader has gone (`suho alerts |
/// head`), because Rust ignores SIGPIPE. Stop quietly instead, as Unix tools killed by SIGPIPE
/// do (exit status 128 + 13). Anything written to the ledger before is as after a crash: the
/// next open recovers it. Restoring SIGPIPE's default action would need `unsafe` libc calls.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// Runs a command; Ok(exit status).
fn run(cli: Cli) -> Result<i32> {
    std::fs::create_dir_all(&cli.data).map_err(|e| {
        anyhow::anyhow!(
            "cannot create the data directory {}: {e}",
            cli.data.display()
        )
    })?;
    let data = cli.data;
    let app = suho_app::App::new(&data);
    match cli.command {
        Command::Demo(a) => demo::demo(&data, a),
        Command::Simulate(a) => demo::simulate(&a).map(|_| 0),
        Command::Ingest {
            files,
            source,
            follow,
            format,
            mapping,
        } => {
            if follow {
                let decoder = if source.is_empty() {
                    Some(suho_decode::decoder(&format, mapping.as_deref())?.into())
                } else {
                    None
                };
                return follow_cmd::follow(&app, &files, decoder, &source);
            }
            if !source.is_empty() {
                return ledger_cmd::ingest_sources(&app, &source).map(|_| 0);
            }
            let decoder = suho_decode::decoder(&format, mapping.as_deref())?;
            ledger_cmd::ingest(&app, &files, decoder.into()).map(|_| 0)
        }
        Command::Sources(c) => sources_cmd::sources(&app, c),
        Command::Rejects { limit, ndjson } => ledger_cmd::rejects(&data, limit, ndjson),
        Command::Verify { key } => ledger_cmd::verify(&data, key.as_deref()),
        Command::Status => ledger_cmd::status(&app),
        Command::Recover => ledger_cmd::recover(&app),
        Command::Records { from, limit } => ledger_cmd::records(&data, from, limit),
        Command::Ledger(c) => ledger_cmd::ledger(&data, c),
        Command::VerifyProof { file, key, record } => {
            ledger_cmd::verify_proof(&file, &key, record.as_deref())
        }
        Command::VerifyConsistency { file, key } => ledger_cmd::verify_consistency(&file, &key),
        Command::Registry(c) => detect_cmd::registry(&app, c),
        Command::Alerts {
            format,
            min_severity,
            rule,
            actor,
            limit,
            digest,
            suppressed,
            all,
        } => {
            let view = match (digest, suppressed, all) {
                (true, _, _) => suho_detect::AlertView::Digest,
                (_, true, _) => suho_detect::AlertView::Suppressed,
                (_, _, true) => suho_detect::AlertView::All,
                _ => suho_detect::AlertView::Raised,
            };
            let filter = suho_detect::AlertFilter {
                view,
                min_severity,
                rule,
                actor,
                limit,
                ..suho_detect::AlertFilter::default()
            };
            detect_cmd::list_alerts(&app, format, filter)
        }
        Command::Incidents {
            format,
            min_severity,
        } => detect_cmd::incidents(&app, format, min_severity),
        Command::Eval(a) => eval::eval(&data, a),
        Command::Serve(a) => serve_cmd::serve(&app, a),
        Command::Token(c) => serve_cmd::token(&data, c),
        Command::Bench(a) => bench::bench(&data, a),
        Command::Scope(a) => scope_cmd::scope(&app, a),
        Command::History(c) => scope_cmd::history(&app, c),
        Command::Evidence(a) => evidence_cmd::evidence(&app, a),
        Command::VerifyEvidence(a) => evidence_cmd::verify_evidence(a),
        Command::Notify(a) => notify_cmd::notify(&app, a),
        Command::LeakCheck(c) => leak_cmd::leak_check(&data, c),
        Command::Sql(a) => sql_cmd::sql(&app, a),
        Command::Sinks(c) => sinks_cmd::sinks(&app, c),
        Command::Suppress(c) => suppress_cmd::suppress(&app, c),
        Command::Rules(a) => rules_cmd::rules(&app, a),
    }
}
