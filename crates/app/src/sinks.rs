//! Alert sinks as the front ends start them: the `[[sinks]]` of the one configuration, and the
//! dispatcher that delivers the outbox to them while a command that raises alerts runs.

use suho_sink::{DispatchOptions, Dispatcher, SinkConfig};

use crate::{App, AppError};

/// The configured sinks (`[[sinks]]` of `suho.toml`); a bad one is an error naming it.
pub fn configs(app: &App) -> Result<Vec<SinkConfig>, AppError> {
    let c = app.config()?;
    Ok(suho_sink::from_section(c.sinks.clone(), &c.path)?)
}

/// The dispatcher for a command that raises alerts (`suho serve`, `suho ingest`), also with no
/// sink configured (it then only prunes the outbox). When another process delivers (`suho
/// sinks deliver`), it waits and takes over once that one stops.
pub fn start(app: &App) -> Result<Dispatcher, AppError> {
    let opts = DispatchOptions {
        wait_for_lock: true,
        ..DispatchOptions::default()
    };
    Ok(Dispatcher::start(app.dir().root(), configs(app)?, opts)?)
}

/// A dispatcher that delivers now, trying failing sinks at once (`suho sinks deliver`).
pub fn deliver_now(app: &App) -> Result<Option<Dispatcher>, AppError> {
    let cfgs = configs(app)?;
    if cfgs.is_empty() {
        return Ok(None);
    }
    Ok(Some(Dispatcher::start(
        app.dir().root(),
        cfgs,
        DispatchOptions::default(),
    )?))
}
