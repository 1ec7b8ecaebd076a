//! `suho rules`: every rule suho runs, the built-in detectors with their one-liner from
//! RULES.md and the team's Sigma rules with their file, id, level and status.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use suho_app::App;
use suho_detect::Rule;
use suho_sigma::{RuleInfo, RuleKind, RuleSet};

#[derive(Args)]
pub struct RulesArgs {
    /// Check the Sigma rules in DIR (every *.yml / *.yaml under it) and list them, without
    /// ingesting anything; a bad file is named with the reason, and the exit status is 1.
    #[arg(long, value_name = "DIR")]
    check: Option<PathBuf>,
    /// One JSON object per rule.
    #[arg(long)]
    ndjson: bool,
}

/// The "fires when" cell of `rule`'s row in RULES.md.
fn one_liner(rules_md: &str, rule: &str) -> Option<String> {
    let head = format!("| `{rule}` |");
    let line = rules_md.lines().find(|l| l.starts_with(&head))?;
    line[head.len()..]
        .split(" | ")
        .next()
        .map(|s| s.trim().trim_end_matches('|').trim().to_string())
}

fn sigma_json(i: &RuleInfo) -> serde_json::Value {
    serde_json::json!({
        "rule": i.name, "source": "sigma", "file": i.file, "id": i.id, "title": i.title,
        "level": i.level, "severity": i.severity.as_str(), "status": i.status,
        "kind": match i.kind { RuleKind::Detection => "detection", RuleKind::Correlation => "correlation" },
        "correlation_type": i.correlation_type, "dispatch": i.dispatch, "alerts": i.alerts,
    })
}

fn print_sigma(set: &RuleSet, ndjson: bool) {
    if ndjson {
        for i in set.rules() {
            println!("{}", sigma_json(i));
        }
        return;
    }
    println!(
        "Sigma rules from {} ({}):",
        set.dir().display(),
        set.rules().len()
    );
    for i in set.rules() {
        let file = i.file.strip_prefix(set.dir()).unwrap_or(&i.file);
        println!(
            "  {:<40} {:<8} {:<13} {:<12} {}",
            i.name,
            i.severity.as_str(),
            i.level.as_deref().unwrap_or("(no level)"),
            i.status.as_deref().unwrap_or("(no status)"),
            file.display()
        );
        let kind = match (&i.kind, &i.correlation_type) {
            (RuleKind::Correlation, Some(t)) => format!("correlation {t}"),
            _ => "detection".to_string(),
        };
        let quiet = if i.alerts {
            ""
        } else {
            "; only counted by a correlation"
        };
        println!("  {:<40} {kind}: {:?}; {}{quiet}", "", i.title, i.dispatch);
    }
}

fn check(dir: &Path, ndjson: bool) -> Result<i32> {
    let set = RuleSet::load_dir(dir).with_context(|| "the rules were not loaded".to_string())?;
    print_sigma(&set, ndjson);
    if !ndjson {
        println!("ok: {} rules load", set.rules().len());
    }
    Ok(0)
}

pub fn rules(app: &App, a: RulesArgs) -> Result<i32> {
    if let Some(dir) = &a.check {
        return check(dir, a.ndjson);
    }
    let rules_md = include_str!("../../detect/RULES.md");
    if !a.ndjson {
        println!(
            "Built-in detectors ({}; crates/detect/RULES.md):",
            Rule::ALL.len()
        );
    }
    for r in Rule::ALL {
        let line = one_liner(rules_md, r.as_str()).unwrap_or_default();
        if a.ndjson {
            println!(
                "{}",
                serde_json::json!({"rule": r.as_str(), "source": "built-in", "fires_when": line})
            );
        } else {
            println!("  {:<28} {line}", r.as_str());
        }
    }
    match app.sigma_rules()? {
        Some(set) => print_sigma(&set, a.ndjson),
        None if !a.ndjson => println!(
            "No Sigma rules: set [detect] sigma_rules = \"rules/\" in suho.toml (see RULES.md, \"Custom rules (Sigma)\")."
        ),
        None => {}
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_built_in_rule_has_a_one_liner_in_rules_md() {
        let md = include_str!("../../detect/RULES.md");
        for r in suho_detect::Rule::ALL {
            let line = super::one_liner(md, r.as_str());
            assert!(
                line.as_deref().is_some_and(|l| !l.is_empty()),
                "{} has no row in RULES.md",
                r.as_str()
            );
        }
    }
}
