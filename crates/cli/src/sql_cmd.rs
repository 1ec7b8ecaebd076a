//! `suho sql`: SQL over the history for threat hunting (stub, being written).

use std::path::Path;

use anyhow::Result;
use clap::Args;

#[derive(Args, Clone)]
pub struct SqlArgs {
    /// The query.
    pub query: String,
}

pub fn sql(_data: &Path, _a: SqlArgs) -> Result<i32> {
    anyhow::bail!("suho sql is not built yet")
}
