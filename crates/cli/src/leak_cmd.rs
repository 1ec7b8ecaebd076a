//! `suho leak-check`: the privacy-preserving "was my data leaked?" lookup (stub, being written).

use std::path::Path;

use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand, Clone)]
pub enum LeakCmd {
    /// Print the hashes whose hex form starts with PREFIX.
    Range {
        /// Five hexadecimal digits.
        prefix: String,
    },
}

pub fn leak_check(_data: &Path, _c: LeakCmd) -> Result<i32> {
    anyhow::bail!("suho leak-check is not built yet")
}
