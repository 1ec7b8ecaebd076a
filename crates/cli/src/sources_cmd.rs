//! `suho sources`: the logs suho reads, and what their decoders could not map.

use anyhow::Result;
use clap::Subcommand;
use suho_app::App;

use crate::ui::thousands;

#[derive(Subcommand)]
pub enum SourcesCmd {
    /// The `[[sources]]` of suho.toml: name, format, file, mapping.
    List,
    /// Requests (or statements) stored without subjects because their route (or table) is not
    /// in the mapping's catalogue, grouped by a template of the resource with identifiers
    /// replaced by `{}`, most first: what to add to the mapping file.
    Unmapped {
        /// One JSON object per group.
        #[arg(long)]
        ndjson: bool,
        /// Print at most this many groups.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

pub fn sources(app: &App, cmd: SourcesCmd) -> Result<i32> {
    match cmd {
        SourcesCmd::List => {
            let config = app.config()?;
            if config.sources.is_empty() {
                println!(
                    "no sources in {}: add [[sources]] tables (name, path, format, mapping), or name files to `suho ingest`",
                    config.path.display()
                );
            }
            for s in &config.sources {
                println!(
                    "{:<16} {:<10} {}{}",
                    s.name,
                    s.format,
                    s.path.display(),
                    s.mapping
                        .as_ref()
                        .map(|m| format!("  (mapping {})", m.display()))
                        .unwrap_or_default()
                );
            }
        }
        SourcesCmd::Unmapped { ndjson, limit } => {
            let groups = suho_app::sources::unmapped(app)?;
            if ndjson {
                for g in groups.iter().take(limit) {
                    println!("{}", serde_json::to_string(g)?);
                }
                return Ok(0);
            }
            if groups.is_empty() {
                println!("every stored record was mapped: no request fell outside a catalogue");
                return Ok(0);
            }
            let total: u64 = groups.iter().map(|g| g.records).sum();
            println!(
                "{} records in {} groups were stored without subjects because no catalogue entry matched them:",
                thousands(total),
                groups.len()
            );
            println!(
                "{:>10}  {:<10} {:<44} {:<24} {:<24} example",
                "records", "source", "template", "first", "last"
            );
            for g in groups.iter().take(limit) {
                println!(
                    "{:>10}  {:<10} {:<44} {:<24} {:<24} {}",
                    thousands(g.records),
                    g.source,
                    g.template,
                    g.first_time,
                    g.last_time,
                    g.example_index
                );
            }
            if groups.len() > limit {
                println!("... and {} more groups", groups.len() - limit);
            }
        }
    }
    Ok(0)
}
