//! suho-notify drafts every breach notice the law requires from an incident's exact scope:
//! the data-subject notice under PIPA Art. 34 (Korean and English, full and SMS, a possible-leak
//! notice, first notice and updates), the report to the PIPC/KISA with the triggers that make
//! it mandatory, the two 72-hour clocks, the 30-day web-site posting, GDPR Art. 33 and 34,
//! California Civ. Code 1798.82, a statement of statutory exposure, and a per-subject
//! mail-merge list. It is pure: it reads only template overrides and writes only the drafts.
//!
//! Templates are [minijinja](https://docs.rs/minijinja) text embedded in the binary; a file
//! of the same name in the override directory replaces one, so a company edits its notices
//! without rebuilding suho. Missing company facts print as marked placeholders (`[회사명]`,
//! `[company name]`), never as nothing.
//!
//! The drafts are drafts: the legal statements summarise the statutes named, and the exposure
//! figures are estimates, not legal advice.
#![forbid(unsafe_code)]
// Tests unwrap freely: a panic is a failed test. Library code is still linted in the non-test pass.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod categories;
mod company;
mod draft;
mod facts;
mod mailmerge;
mod templates;
mod text;

use std::path::{Path, PathBuf};

pub use categories::{class_of, lookup, name_en, name_ko, Category, Class, VOCABULARY};
pub use company::Company;
pub use draft::{amendment_in_force, draft_all, write_drafts, Draft, FACTS_FILE};
pub use facts::{
    Clock, Clocks, Facts, Previous, Stage, Triggers, CALIFORNIA_AG_RESIDENTS, DEADLINE_MS,
    EXTERNAL_RULES, POSTING_DAYS, REPORT_SUBJECTS,
};
pub use mailmerge::{
    write_mail_merge, write_mail_merge_file, SubjectRow, MAIL_MERGE_FILE, MAIL_MERGE_HEADER,
};
pub use templates::{write_default_templates, Template, Templates, Written};

/// What can go wrong drafting notices.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// A template does not compile or render: the file (an override's path, or
    /// `embedded:<name>`) and line, and why.
    #[error("{file}{}: template error: {reason}", .line.map(|l| format!(":{l}")).unwrap_or_default())]
    Template {
        /// The template's file.
        file: String,
        /// The line in it, when known.
        line: Option<usize>,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The `[company]` section of `suho.toml` is not valid.
    #[error("{path}: [company]: {reason}")]
    Config {
        /// The configuration file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A facts file (`facts.json`) cannot be read or written.
    #[error("{path}: facts: {reason}")]
    Facts {
        /// The facts file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// No embedded template has that name.
    #[error("no notice template is named {0:?}")]
    UnknownTemplate(String),
}

impl NotifyError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> NotifyError {
        NotifyError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl Facts {
    /// Facts from a `facts.json` text (`path` names it in errors).
    pub fn from_json(text: &str, path: &str) -> Result<Facts, NotifyError> {
        serde_json::from_str(text).map_err(|e| NotifyError::Facts {
            path: path.to_string(),
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests;
