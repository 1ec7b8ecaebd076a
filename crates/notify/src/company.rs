//! The company facts a notice needs, from the optional `[company]` section of `suho.toml`.

use serde::{Deserialize, Serialize};

use crate::NotifyError;

/// What the notices say about the company (the personal information controller).
///
/// ```toml
/// [company]
/// name = "Example Commerce Inc."
/// name_ko = "예시커머스 주식회사"
/// contact_phone = "1588-0000"
/// contact_email = "privacy@example.com"
/// website = "https://www.example.com"
/// dpo_name = "Hong Gildong"
/// dpo_email = "dpo@example.com"
/// address = "Seoul ..."
/// annual_revenue_krw = 41000000000000
/// countermeasures = ["Revoked the signing key", "Invalidated every token it signed"]
/// remedy = "Report any damage to the contact below; confirmed damage is compensated."
/// # optional English versions for the English drafts (default: the two above)
/// countermeasures_en = ["Revoked the signing key"]
/// remedy_en = "Confirmed damage is compensated."
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Company {
    /// Legal name in English.
    #[serde(default)]
    pub name: Option<String>,
    /// Legal name in Korean.
    #[serde(default)]
    pub name_ko: Option<String>,
    /// Phone number where subjects report damage.
    #[serde(default)]
    pub contact_phone: Option<String>,
    /// Email address where subjects report damage.
    #[serde(default)]
    pub contact_email: Option<String>,
    /// Web site (where the notice is posted).
    #[serde(default)]
    pub website: Option<String>,
    /// Data protection officer (개인정보 보호책임자).
    #[serde(default)]
    pub dpo_name: Option<String>,
    /// The DPO's email address.
    #[serde(default)]
    pub dpo_email: Option<String>,
    /// Postal address.
    #[serde(default)]
    pub address: Option<String>,
    /// Total annual revenue in KRW, for the statutory exposure estimate.
    #[serde(default)]
    pub annual_revenue_krw: Option<u64>,
    /// What the company did and does about the leak.
    #[serde(default)]
    pub countermeasures: Vec<String>,
    /// How subjects are made whole (피해 구제절차).
    #[serde(default)]
    pub remedy: Option<String>,
    /// `countermeasures` in English, for the English drafts (default: `countermeasures`).
    #[serde(default)]
    pub countermeasures_en: Vec<String>,
    /// `remedy` in English, for the English drafts (default: `remedy`).
    #[serde(default)]
    pub remedy_en: Option<String>,
    /// The size of the customer base: read by `suho scope` (share of customers), not by the
    /// notices; accepted here so the shared section parses.
    #[serde(default, skip_serializing)]
    pub customers: Option<u64>,
}

#[derive(Deserialize)]
struct SuhoToml {
    #[serde(default)]
    company: Option<Company>,
}

impl Company {
    /// The `[company]` section of a `suho.toml` text (other sections are ignored; a missing
    /// section gives no facts). A key no part of suho reads is an error, so a misspelt fact is
    /// not silently missing. `path` only names the file in errors.
    pub fn from_suho_toml(text: &str, path: &str) -> Result<Company, NotifyError> {
        let doc: SuhoToml = toml::from_str(text).map_err(|e| NotifyError::Config {
            path: path.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Company::tidy(doc.company.unwrap_or_default()))
    }

    /// The `[company]` section of a parsed `suho.toml` (absent: no facts); `path` is for
    /// errors.
    pub fn from_section(section: Option<toml::Value>, path: &str) -> Result<Company, NotifyError> {
        let c = match section {
            None => Company::default(),
            Some(v) => Company::deserialize(v).map_err(|e| NotifyError::Config {
                path: path.to_string(),
                reason: format!("[company]: {e}"),
            })?,
        };
        Ok(Company::tidy(c))
    }

    fn tidy(mut c: Company) -> Company {
        // An empty string is as good as missing: it would print as nothing.
        for v in [
            &mut c.name,
            &mut c.name_ko,
            &mut c.contact_phone,
            &mut c.contact_email,
            &mut c.website,
            &mut c.dpo_name,
            &mut c.dpo_email,
            &mut c.address,
            &mut c.remedy,
            &mut c.remedy_en,
        ] {
            if v.as_deref().is_some_and(|s| s.trim().is_empty()) {
                *v = None;
            }
        }
        c.countermeasures.retain(|s| !s.trim().is_empty());
        c.countermeasures_en.retain(|s| !s.trim().is_empty());
        c
    }

    /// The `[company]` keys that are not set; each prints as a marked placeholder. The English
    /// variants (`countermeasures_en`, `remedy_en`) fall back to the plain keys and are not listed.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut m = Vec::new();
        let opt = [
            ("name", self.name.is_none()),
            ("name_ko", self.name_ko.is_none()),
            ("contact_phone", self.contact_phone.is_none()),
            ("contact_email", self.contact_email.is_none()),
            ("website", self.website.is_none()),
            ("dpo_name", self.dpo_name.is_none()),
            ("dpo_email", self.dpo_email.is_none()),
            ("address", self.address.is_none()),
            ("annual_revenue_krw", self.annual_revenue_krw.is_none()),
            ("countermeasures", self.countermeasures.is_empty()),
            ("remedy", self.remedy.is_none()),
        ];
        for (k, absent) in opt {
            if absent {
                m.push(k);
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_company_and_ignores_other_sections() {
        let text = r#"
[geo]
database = "geo.csv"
home_countries = ["KR"]

[detect]
anything = 1

[company]
name = "Example Commerce"
name_ko = "예시커머스"
customers = 5000
annual_revenue_krw = 41_000_000_000_000
countermeasures = ["키 폐기", ""]
website = " "
"#;
        let c = Company::from_suho_toml(text, "suho.toml").unwrap();
        assert_eq!(c.customers, Some(5000), "customers (for suho scope) parses");
        assert_eq!(c.name.as_deref(), Some("Example Commerce"));
        assert_eq!(c.annual_revenue_krw, Some(41_000_000_000_000));
        assert_eq!(c.countermeasures, ["키 폐기"]);
        assert_eq!(c.website, None, "a blank value counts as missing");
        let missing = c.missing();
        assert!(missing.contains(&"website"));
        assert!(missing.contains(&"contact_phone"));
        assert!(!missing.contains(&"name"));
    }

    #[test]
    fn no_section_means_every_fact_is_missing() {
        let c = Company::from_suho_toml("[geo]\nhome_countries = [\"KR\"]\n", "x").unwrap();
        assert_eq!(c.missing().len(), 11);
    }

    #[test]
    fn a_misspelt_key_or_a_wrong_type_is_an_error_naming_file_and_key() {
        for (text, key) in [
            ("[company]\nnmae = \"x\"\n", "nmae"),
            (
                "[company]\nannual_revenue_krw = \"lots\"\n",
                "annual_revenue_krw",
            ),
        ] {
            let e = Company::from_suho_toml(text, "/d/suho.toml").unwrap_err();
            let s = e.to_string();
            assert!(s.contains("/d/suho.toml") && s.contains(key), "{s}");
        }
    }
}
