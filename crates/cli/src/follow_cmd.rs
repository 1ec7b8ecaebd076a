//! `suho ingest --follow FILE...` and `suho ingest --follow --source NAME...`: the command-line wiring of `suho_ingest::follow` (checks,
//! signals, the status line on a terminal, the summary), and what `suho status` says of a
//! running follower.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Result};
use suho_app::App;
use suho_ingest::{open_input, Compression, FollowProgress};

use crate::ledger_cmd::print_totals;
use crate::ui::thousands;

/// `suho ingest --follow`: follow `files` with `decoder`, or the `[[sources]]` entries
/// `sources` each with its own, until SIGINT or SIGTERM, then stop cleanly (every line read
/// made durable, positions saved, a checkpoint) and exit 0. Alerts go to the sinks as they
/// are raised.
pub fn follow(
    app: &App,
    files: &[PathBuf],
    decoder: Option<Arc<dyn suho_decode::Decoder>>,
    sources: &[String],
) -> Result<i32> {
    if sources.is_empty() {
        check_follow_inputs(files)?;
    } else {
        let config = app.config()?;
        let paths: Vec<PathBuf> = config
            .select_sources(sources)?
            .iter()
            .map(|s| s.path.clone())
            .collect();
        check_follow_inputs(&paths)?;
    }
    // A bad [[sinks]] configuration stops the command before the ledger is touched.
    let sinks = crate::sinks_cmd::start(app)?;
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signal(Arc::clone(&stop))?;
    let line = std::io::stderr()
        .is_terminal()
        .then(|| crate::ui::spinner("follow"));
    let req = suho_app::follow::FollowRequest {
        files: files.to_vec(),
        decoder,
        sources: sources.to_vec(),
        on_outbox: Some(sinks.hook()),
    };
    let res = suho_app::follow::run(app, &req, &stop, &mut |p| {
        if let Some(pb) = &line {
            pb.set_message(status_line(p));
        }
    });
    if let Some(pb) = line {
        pb.finish_and_clear();
    }
    let totals = res?;
    println!("stopped following; positions saved, final checkpoint written");
    print_totals(&totals, app);
    crate::sinks_cmd::finish_ingest(sinks);
    Ok(0)
}

/// Refuses what cannot be followed: standard input, directories, compressed files. A file that
/// does not exist yet is waited for.
fn check_follow_inputs(files: &[PathBuf]) -> Result<()> {
    let mut problems = Vec::new();
    for f in files {
        let name = f.display().to_string();
        if f.as_os_str() == "-" {
            problems.push(
                "--follow reads files; pipe a stream to `suho ingest -` instead, which reads until it closes"
                    .to_owned(),
            );
            continue;
        }
        match std::fs::metadata(f) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("{name} does not exist yet; waiting for it");
            }
            Err(e) => problems.push(format!("cannot read {name}: {e}")),
            Ok(m) if m.is_dir() => problems.push(format!("{name} is a directory")),
            Ok(m) if m.is_file() => {
                match std::fs::File::open(f)
                    .map_err(|e| format!("cannot read {name}: {e}"))
                    .and_then(|file| open_input(&name, file).map_err(|e| e.to_string()))
                {
                    Ok(i) if i.compression() != Compression::None => problems.push(format!(
                        "{name} is gzip-compressed: a compressed file cannot be followed as it grows; ingest it without --follow"
                    )),
                    Ok(_) => {}
                    Err(why) => problems.push(why),
                }
            }
            Ok(_) => problems.push(format!("{name} is not a regular file")),
        }
    }
    if !problems.is_empty() {
        bail!("{}; nothing was ingested", problems.join("; "));
    }
    Ok(())
}

/// Sets `stop` on SIGINT or SIGTERM. The handlers are in place when this returns.
fn stop_on_signal(stop: Arc<AtomicBool>) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut int, mut term) = rt.block_on(async {
        Ok::<_, std::io::Error>((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        ))
    })?;
    std::thread::spawn(move || {
        rt.block_on(async move {
            tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
        });
        stop.store(true, Ordering::Relaxed);
    });
    Ok(())
}

/// The status line on a terminal: rate, records stored (per source when following sources),
/// and where each file is.
fn status_line(p: &FollowProgress) -> String {
    let files: Vec<String> = p.files.iter().map(file_line).collect();
    let sources: Vec<String> = p
        .sources
        .iter()
        .map(|s| {
            format!(
                "{} {} stored, {} rejected",
                s.name,
                thousands(s.stored),
                thousands(s.rejected)
            )
        })
        .collect();
    let per_source = if sources.is_empty() {
        String::new()
    } else {
        format!(" ({})", sources.join(", "))
    };
    format!(
        "{} lines/s, {} stored, {} rejected{per_source}; {}",
        thousands(p.lines_per_second as u64),
        thousands(p.stored),
        thousands(p.rejected),
        files.join("; ")
    )
}

fn file_line(f: &suho_ingest::FileProgress) -> String {
    let name = f.path.file_name().map_or_else(
        || f.path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let name = match &f.source {
        Some(s) => format!("{s}: {name}"),
        None => name,
    };
    format!(
        "{name}{} at {} (lag {} bytes)",
        if f.rotated { " (rotated)" } else { "" },
        thousands(f.position),
        thousands(f.lag_bytes)
    )
}

/// For `suho status`: the follower holding the ledger (`writer`, as `pid N`), if it is one.
pub fn print_status(data: &Path, writer: Option<&str>) {
    let Some(p) = suho_ingest::read_status(data) else {
        return;
    };
    if writer != Some(format!("pid {}", p.pid).as_str()) {
        return;
    }
    println!(
        "follower         pid {} (suho ingest --follow) since {}: {} lines/s, {} stored, {} rejected (at {})",
        p.pid,
        p.started,
        thousands(p.lines_per_second as u64),
        thousands(p.stored),
        thousands(p.rejected),
        p.updated
    );
    for s in &p.sources {
        println!(
            "  source {}: {} lines: {} stored, {} duplicates, {} rejected, {} conflicts",
            s.name,
            thousands(s.lines),
            thousands(s.stored),
            thousands(s.duplicates),
            thousands(s.rejected),
            thousands(s.conflicts)
        );
    }
    for f in &p.files {
        println!(
            "  following      {}{}{}: {} of {} bytes in the ledger (lag {} bytes)",
            f.source
                .as_ref()
                .map_or_else(String::new, |s| format!("[{s}] ")),
            f.path.display(),
            if f.rotated {
                " (rotated away, read to its end)"
            } else {
                ""
            },
            thousands(f.position),
            thousands(f.size),
            thousands(f.lag_bytes)
        );
    }
}
