//! `suho notify`: draft every notice an incident's scope requires (stub, being written).

use std::path::Path;

use anyhow::Result;
use clap::Args;

#[derive(Args, Clone)]
pub struct NotifyArgs {
    /// The incident id (see `suho incidents`).
    pub incident: String,
}

pub fn notify(_data: &Path, _a: NotifyArgs) -> Result<i32> {
    anyhow::bail!("suho notify is not built yet")
}
