//! The notice templates: embedded defaults, overridden by files a company edits in
//! `<data>/templates/notify/` without rebuilding suho.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::NotifyError;

/// The embedded default templates, by file name. A draft's file name is its template's name
/// without `.j2`.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "notice.ko.txt.j2",
        include_str!("../templates/notice.ko.txt.j2"),
    ),
    (
        "notice.en.txt.j2",
        include_str!("../templates/notice.en.txt.j2"),
    ),
    (
        "possible.ko.txt.j2",
        include_str!("../templates/possible.ko.txt.j2"),
    ),
    (
        "possible.en.txt.j2",
        include_str!("../templates/possible.en.txt.j2"),
    ),
    ("sms.ko.txt.j2", include_str!("../templates/sms.ko.txt.j2")),
    ("sms.en.txt.j2", include_str!("../templates/sms.en.txt.j2")),
    (
        "pipc-report.ko.txt.j2",
        include_str!("../templates/pipc-report.ko.txt.j2"),
    ),
    (
        "website-posting.ko.txt.j2",
        include_str!("../templates/website-posting.ko.txt.j2"),
    ),
    (
        "website-posting.en.txt.j2",
        include_str!("../templates/website-posting.en.txt.j2"),
    ),
    (
        "gdpr-art33.en.txt.j2",
        include_str!("../templates/gdpr-art33.en.txt.j2"),
    ),
    (
        "gdpr-art34.en.txt.j2",
        include_str!("../templates/gdpr-art34.en.txt.j2"),
    ),
    (
        "california-1798.82.en.txt.j2",
        include_str!("../templates/california-1798.82.en.txt.j2"),
    ),
    (
        "exposure.txt.j2",
        include_str!("../templates/exposure.txt.j2"),
    ),
    (
        "summary.txt.j2",
        include_str!("../templates/summary.txt.j2"),
    ),
];

/// One template: its name, its source text and where that text came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The file name, e.g. `notice.ko.txt.j2`.
    pub name: &'static str,
    /// The template text (minijinja syntax).
    pub source: String,
    /// `embedded:<name>` or the path of the overriding file: errors name it.
    pub origin: String,
}

/// The set of templates a draft uses.
#[derive(Debug, Clone)]
pub struct Templates {
    items: Vec<Template>,
    ignored: Vec<PathBuf>,
}

impl Templates {
    /// The defaults built into suho.
    pub fn embedded() -> Templates {
        Templates {
            items: EMBEDDED
                .iter()
                .map(|&(name, source)| Template {
                    name,
                    source: source.to_string(),
                    origin: format!("embedded:{name}"),
                })
                .collect(),
            ignored: Vec::new(),
        }
    }

    /// The defaults, each overridden by the file of the same name in `dir` when there is one.
    /// A missing `dir` means no overrides. Other files in `dir` are listed by
    /// [`Templates::ignored`].
    pub fn load(dir: &Path) -> Result<Templates, NotifyError> {
        let mut t = Templates::embedded();
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(t),
            Err(e) => return Err(NotifyError::io(dir, e)),
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| NotifyError::io(dir, e))?;
            files.push(entry.path());
        }
        files.sort();
        for path in files {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            match t.items.iter().position(|i| i.name == name) {
                Some(i) => {
                    let source =
                        fs::read_to_string(&path).map_err(|e| NotifyError::io(&path, e))?;
                    t.items[i].source = source;
                    t.items[i].origin = path.display().to_string();
                }
                None => t.ignored.push(path),
            }
        }
        Ok(t)
    }

    /// Replace the template `name` with `source`, naming `origin` in errors.
    pub fn set(&mut self, name: &str, source: &str, origin: &str) -> Result<(), NotifyError> {
        let item = self
            .items
            .iter_mut()
            .find(|i| i.name == name)
            .ok_or_else(|| NotifyError::UnknownTemplate(name.to_string()))?;
        item.source = source.to_string();
        item.origin = origin.to_string();
        Ok(())
    }

    /// Every template.
    pub fn iter(&self) -> impl Iterator<Item = &Template> {
        self.items.iter()
    }

    /// The template `name`.
    pub fn get(&self, name: &str) -> Option<&Template> {
        self.items.iter().find(|i| i.name == name)
    }

    /// Files of the override directory whose names match no template (a misspelt name would
    /// otherwise be silently unused).
    pub fn ignored(&self) -> &[PathBuf] {
        &self.ignored
    }

    /// The templates taken from files rather than the embedded defaults.
    pub fn overridden(&self) -> Vec<&str> {
        self.items
            .iter()
            .filter(|i| !i.origin.starts_with("embedded:"))
            .map(|i| i.origin.as_str())
            .collect()
    }

    /// The names of the embedded templates.
    pub fn names() -> impl Iterator<Item = &'static str> {
        EMBEDDED.iter().map(|&(n, _)| n)
    }
}

/// What [`write_default_templates`] did with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Written.
    Created(PathBuf),
    /// Already there (perhaps edited): left alone.
    Kept(PathBuf),
}

/// Write the embedded templates into `dir` (created when missing) for editing. An existing
/// file is never overwritten: it may hold the company's edits.
pub fn write_default_templates(dir: &Path) -> Result<Vec<Written>, NotifyError> {
    fs::create_dir_all(dir).map_err(|e| NotifyError::io(dir, e))?;
    let mut out = Vec::new();
    for &(name, source) in EMBEDDED {
        let path = dir.join(name);
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                io::Write::write_all(&mut f, source.as_bytes())
                    .map_err(|e| NotifyError::io(&path, e))?;
                out.push(Written::Created(path));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => out.push(Written::Kept(path)),
            Err(e) => return Err(NotifyError::io(&path, e)),
        }
    }
    Ok(out)
}
