//! Small helpers for output a person reads: progress bars and number formatting.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A byte-progress bar on standard error (hidden when it is not a terminal).
pub fn bytes_bar(total: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:>12} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// A count-progress bar on standard error.
pub fn count_bar(total: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:>12} [{bar:40}] {human_pos}/{human_len} {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// A spinner with a message on standard error (hidden when it is not a terminal).
pub fn spinner(what: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {prefix}: {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_prefix(what.to_string());
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// 1234567 -> "1,234,567".
pub fn thousands(n: u64) -> String {
    suho_record::Thousands(u128::from(n)).to_string()
}

/// Read a verifier key given inline or as a path to a file holding it.
pub fn verifier_arg(key: &str) -> anyhow::Result<suho_note::Verifier> {
    let text = if std::path::Path::new(key).is_file() {
        std::fs::read_to_string(key)?
    } else {
        key.to_string()
    };
    suho_note::Verifier::parse(text.trim())
        .map_err(|e| anyhow::anyhow!("the verifier key {key:?} is not valid: {e}"))
}
