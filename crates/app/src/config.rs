//! `suho.toml`, read and parsed once: each part of suho gets its own section.

use std::path::{Path, PathBuf};

use suho_detect::{DetectConfig, GeoDb};
use suho_ingest::IngestConfig;
use suho_notify::Company;

use crate::{AppError, DataDir};

/// The sections `suho.toml` may have; anything else is a typo, reported rather than ignored.
pub const SECTIONS: &[&str] = &["geo", "detect", "ingest", "company", "sources", "sinks"];

/// One log that suho reads (`[[sources]]`): which files, in which format, mapped how.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// A short name: it appears in the reject log, `suho sources` and the follow state.
    pub name: String,
    /// The file to read (relative paths are relative to the data directory).
    pub path: PathBuf,
    /// The decoder (`suho`, `gateway`, ...; see `suho ingest --help`).
    #[serde(default = "default_format")]
    pub format: String,
    /// The decoder's mapping file (relative paths are relative to the data directory).
    #[serde(default)]
    pub mapping: Option<PathBuf>,
}

fn default_format() -> String {
    "suho".into()
}

/// The whole configuration of a data directory.
#[derive(Clone)]
pub struct Config {
    /// The file it came from (which may not exist: then everything is a default).
    pub path: PathBuf,
    /// `[detect]` and `[geo] home_countries`.
    pub detect: DetectConfig,
    /// The geo database of `[geo] database`, opened.
    pub geo: Option<GeoDb>,
    /// `[ingest]`.
    pub ingest: IngestConfig,
    /// `[company]`: the facts notices need, and the size of the customer base.
    pub company: Company,
    /// `[[sources]]`.
    pub sources: Vec<SourceConfig>,
    /// `[[sinks]]`, handed as they are to the sink layer.
    pub sinks: Option<toml::Value>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("path", &self.path)
            .field("geo", &self.geo.is_some())
            .field("ingest", &self.ingest)
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Reads `suho.toml` of `dir`; a missing file gives the defaults.
    pub fn load(dir: &DataDir) -> Result<Config, AppError> {
        let path = dir.config_file();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => return Err(AppError::Io { path, source }),
        };
        Config::parse(&text, dir.root(), &path)
    }

    /// The configuration in `text`; `data_dir` anchors relative paths, `path` names the file
    /// in errors.
    pub fn parse(text: &str, data_dir: &Path, path: &Path) -> Result<Config, AppError> {
        let bad = |reason: String| AppError::Config {
            path: path.to_path_buf(),
            reason,
        };
        let mut doc: toml::Table = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if let Some(k) = doc.keys().find(|k| !SECTIONS.contains(&k.as_str())) {
            return Err(bad(format!(
                "unknown section [{k}] (suho reads {})",
                SECTIONS
                    .iter()
                    .map(|s| format!("[{s}]"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let (detect, geo) =
            DetectConfig::from_sections(doc.remove("geo"), doc.remove("detect"), data_dir, path)?;
        let ingest = IngestConfig::from_section(doc.remove("ingest"), path)?;
        let company = Company::from_section(doc.remove("company"), &path.display().to_string())?;
        let sources = match doc.remove("sources") {
            None => Vec::new(),
            Some(v) => {
                let mut list: Vec<SourceConfig> = serde::Deserialize::deserialize(v)
                    .map_err(|e| bad(format!("[[sources]]: {e}")))?;
                for (i, s) in list.iter_mut().enumerate() {
                    if s.name.trim().is_empty() {
                        return Err(bad(format!("[[sources]] number {}: name is empty", i + 1)));
                    }
                    if !suho_decode::FORMATS.contains(&s.format.as_str()) {
                        return Err(bad(format!(
                            "[[sources]] {:?}: format {:?} is not one of {}",
                            s.name,
                            s.format,
                            suho_decode::FORMATS.join(", ")
                        )));
                    }
                    s.path = anchored(data_dir, &s.path);
                    s.mapping = s.mapping.as_deref().map(|m| anchored(data_dir, m));
                }
                let mut names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
                names.sort_unstable();
                if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
                    return Err(bad(format!(
                        "[[sources]]: the name {:?} is used twice",
                        w[0]
                    )));
                }
                list
            }
        };
        Ok(Config {
            path: path.to_path_buf(),
            detect,
            geo,
            ingest,
            company,
            sources,
            sinks: doc.remove("sinks"),
        })
    }

    /// The source named `name`.
    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// The sources `names` asks for, in that order, each once: `all` (unless a source has that
    /// name) is every `[[sources]]` entry. An unknown name is an error listing the known ones.
    pub fn select_sources(&self, names: &[String]) -> Result<Vec<&SourceConfig>, AppError> {
        let known = || {
            let names: Vec<&str> = self.sources.iter().map(|s| s.name.as_str()).collect();
            if names.is_empty() {
                "it has no [[sources]]".to_owned()
            } else {
                format!("it has: {}", names.join(", "))
            }
        };
        let mut chosen: Vec<&SourceConfig> = Vec::new();
        for n in names {
            let found: Vec<&SourceConfig> = match self.source(n) {
                Some(s) => vec![s],
                None if n == "all" && !self.sources.is_empty() => self.sources.iter().collect(),
                None => {
                    return Err(AppError::Refused(format!(
                        "no source {n:?} in {} ({})",
                        self.path.display(),
                        known()
                    )))
                }
            };
            for s in found {
                if !chosen.iter().any(|c| c.name == s.name) {
                    chosen.push(s);
                }
            }
        }
        Ok(chosen)
    }
}

impl SourceConfig {
    /// The decoder of this source, with its mapping loaded; errors name the source.
    pub fn decoder(&self) -> Result<Box<dyn suho_decode::Decoder>, AppError> {
        suho_decode::decoder(&self.format, self.mapping.as_deref()).map_err(|e| AppError::During {
            what: format!("source {:?}", self.name),
            source: Box::new(e.into()),
        })
    }
}

fn anchored(data_dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        data_dir.join(p)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(text: &str) -> Result<Config, AppError> {
        Config::parse(text, Path::new("/d"), Path::new("/d/suho.toml"))
    }

    #[test]
    fn an_empty_file_is_every_default() {
        let c = parse("").unwrap();
        assert_eq!(c.ingest, IngestConfig::default());
        assert!(c.sources.is_empty() && c.geo.is_none() && c.sinks.is_none());
    }

    #[test]
    fn every_section_reaches_its_part_from_one_parse() {
        let c = parse(
            "[geo]\nhome_countries = [\"kr\", \"JP\"]\n\
             [ingest]\nmax_past_days = 30\n\
             [company]\nname = \"Example\"\ncustomers = 1000\n\
             [[sources]]\nname = \"gw\"\npath = \"logs/access.log\"\nformat = \"gateway\"\nmapping = \"/etc/gw.toml\"\n\
             [[sinks]]\nname = \"soc\"\nkind = \"webhook\"\n",
        )
        .unwrap();
        assert_eq!(c.detect.home_countries, ["KR", "JP"]);
        assert_eq!(c.ingest.max_past_days, 30);
        assert_eq!(c.company.name.as_deref(), Some("Example"));
        assert_eq!(c.company.customers, Some(1000));
        let s = c.source("gw").unwrap();
        assert_eq!(s.path, Path::new("/d/logs/access.log"));
        assert_eq!(s.mapping.as_deref(), Some(Path::new("/etc/gw.toml")));
        assert!(c.sinks.is_some());
    }

    #[test]
    fn sources_are_selected_by_name_or_all_once_each_and_unknown_names_are_listed() {
        let c = parse(
            "[[sources]]\nname = \"gw\"\npath = \"a\"\n[[sources]]\nname = \"pg\"\npath = \"b\"\n",
        )
        .unwrap();
        let names = |v: &[&str]| -> Vec<String> {
            let v: Vec<String> = v.iter().map(|s| (*s).to_owned()).collect();
            c.select_sources(&v)
                .unwrap()
                .iter()
                .map(|s| s.name.clone())
                .collect()
        };
        assert_eq!(names(&["pg", "gw", "pg"]), ["pg", "gw"]);
        assert_eq!(names(&["all"]), ["gw", "pg"]);
        assert_eq!(names(&["pg", "all"]), ["pg", "gw"]);
        let e = c
            .select_sources(&["gq".to_owned()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"gq\"") && e.contains("gw, pg"), "{e}");
        let empty = parse("").unwrap();
        let e = empty.select_sources(&["all".to_owned()]).unwrap_err();
        assert!(e.to_string().contains("no [[sources]]"), "{e}");
    }

    #[test]
    fn typos_are_errors_that_name_the_file_and_the_key() {
        for (text, says) in [
            ("[ingst]\nmax_past_days = 3\n", "unknown section [ingst]"),
            ("[ingest]\nmax_past_day = 3\n", "max_past_day"),
            ("[company]\nnmae = \"x\"\n", "nmae"),
            ("[[sources]]\nname = \"a\"\npath = \"x\"\nformat = \"nginx\"\n", "nginx"),
            ("[[sources]]\nname = \"a\"\npth = \"x\"\n", "pth"),
            (
                "[[sources]]\nname = \"a\"\npath = \"x\"\n[[sources]]\nname = \"a\"\npath = \"y\"\n",
                "used twice",
            ),
            ("[geo]\nhome_countries = [\"Korea\"]\n", "Korea"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains("/d/suho.toml") && e.contains(says), "{text:?}: {e}");
        }
    }
}
