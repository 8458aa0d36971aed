//! lead-score: scores each row against configurable ideal-customer rules — email domain,
//! title keywords, company size, country — and writes the score (0–100) and the reasons.
//!
//! Config keys (defaults): `email_column` (Email), `title_column` (Title), `size_column`
//! (Employees), `country_column` (Country), `score_column` (Lead Score), `reason_column`
//! (Score Reason); rules: `target_domains` (none; comma-separated, subdomains match),
//! `title_keywords` (vp, head, director, chief, founder, ceo, cto, cro, revops),
//! `min_company_size` (50), `max_company_size` (0 = no maximum), `countries` (US, USA,
//! United States, United Kingdom, UK, GB, DE, Germany, Canada, CA); points:
//! `domain_points` (25), `title_points` (30), `size_points` (25), `country_points` (20),
//! `free_email_penalty` (20).

use kiln_guest::email::is_free_mail;
use kiln_guest::{Batch, Config, Error, Outcome, RowRef, Transformer};

fn list(config: &Config, key: &str, default: &str) -> Vec<String> {
    config
        .get_or(key, default)
        .split(',')
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub target_domains: Vec<String>,
    pub title_keywords: Vec<String>,
    pub min_company_size: f64,
    pub max_company_size: f64,
    pub countries: Vec<String>,
    pub domain_points: f64,
    pub title_points: f64,
    pub size_points: f64,
    pub country_points: f64,
    pub free_email_penalty: f64,
}

impl Rules {
    pub fn from_config(config: &Config) -> Result<Self, Error> {
        Ok(Self {
            target_domains: list(config, "target_domains", ""),
            title_keywords: list(
                config,
                "title_keywords",
                "vp, head, director, chief, founder, ceo, cto, cro, revops",
            ),
            min_company_size: config.parse("min_company_size", 50.0)?,
            max_company_size: config.parse("max_company_size", 0.0)?,
            countries: list(
                config,
                "countries",
                "US, USA, United States, United Kingdom, UK, GB, DE, Germany, Canada, CA",
            ),
            domain_points: config.parse("domain_points", 25.0)?,
            title_points: config.parse("title_points", 30.0)?,
            size_points: config.parse("size_points", 25.0)?,
            country_points: config.parse("country_points", 20.0)?,
            free_email_penalty: config.parse("free_email_penalty", 20.0)?,
        })
    }
}

/// What a lead looks like to the rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lead {
    pub email: Option<String>,
    pub title: Option<String>,
    pub size: Option<f64>,
    pub country: Option<String>,
}

/// "1,200" or "51-200" (its lower bound) as a number.
pub fn parse_size(raw: &str) -> Option<f64> {
    let first = raw
        .trim()
        .trim_end_matches('+')
        .split(['-', '–'])
        .next()?
        .replace([',', ' ', '_'], "");
    first.parse().ok()
}

fn words(s: &str) -> String {
    let w: Vec<String> = s
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect();
    format!(" {} ", w.join(" "))
}

/// The score (0–100) and why, rule by rule.
pub fn score(lead: &Lead, rules: &Rules) -> (f64, String) {
    let mut points = 0.0;
    let mut reasons = Vec::new();
    let domain = lead
        .email
        .as_deref()
        .and_then(|e| e.trim().rsplit_once('@'))
        .map(|(_, d)| d.trim().to_lowercase())
        .filter(|d| !d.is_empty());
    if let Some(domain) = &domain {
        if is_free_mail(domain) {
            points -= rules.free_email_penalty;
            reasons.push(format!(
                "free email {domain} (-{})",
                rules.free_email_penalty
            ));
        } else if rules
            .target_domains
            .iter()
            .any(|t| domain == t || domain.ends_with(&format!(".{t}")))
        {
            points += rules.domain_points;
            reasons.push(format!("target domain {domain} (+{})", rules.domain_points));
        }
    }
    if let Some(title) = lead.title.as_deref() {
        let t = words(title);
        if let Some(k) = rules.title_keywords.iter().find(|k| t.contains(&words(k))) {
            points += rules.title_points;
            reasons.push(format!(
                "title `{}` matches {k} (+{})",
                title.trim(),
                rules.title_points
            ));
        }
    }
    if let Some(size) = lead.size {
        let big_enough = size >= rules.min_company_size;
        let small_enough = rules.max_company_size <= 0.0 || size <= rules.max_company_size;
        if big_enough && small_enough {
            points += rules.size_points;
            reasons.push(format!("{size} employees (+{})", rules.size_points));
        }
    }
    if let Some(country) = lead.country.as_deref() {
        let c = country.trim().to_lowercase();
        if rules.countries.contains(&c) {
            points += rules.country_points;
            reasons.push(format!(
                "country {} (+{})",
                country.trim(),
                rules.country_points
            ));
        }
    }
    let reason = if reasons.is_empty() {
        "no rule matched".to_string()
    } else {
        reasons.join("; ")
    };
    (f64::clamp(points, 0.0, 100.0), reason)
}

pub struct LeadScore {
    rules: Rules,
    email: String,
    title: String,
    size: String,
    country: String,
    score: String,
    reason: String,
}

impl LeadScore {
    fn outcome(&self, batch: &Batch, row: RowRef<'_>) -> Outcome {
        for (key, column) in [
            ("score_column", &self.score),
            ("reason_column", &self.reason),
        ] {
            if !batch.has_column(column) {
                return row.error(format!(
                    "table `{}` has no column `{column}` ({key}): add it or set --config {key}=<column>",
                    batch.table().name
                ));
            }
        }
        let lead = Lead {
            email: row.text(&self.email),
            title: row.text(&self.title),
            size: row.text(&self.size).as_deref().and_then(parse_size),
            country: row.text(&self.country),
        };
        let (points, reason) = score(&lead, &self.rules);
        row.set(&self.score, points).set(&self.reason, reason)
    }
}

impl Transformer for LeadScore {
    fn new(config: Config) -> Result<Self, Error> {
        Ok(Self {
            rules: Rules::from_config(&config)?,
            email: config.get_or("email_column", "Email"),
            title: config.get_or("title_column", "Title"),
            size: config.get_or("size_column", "Employees"),
            country: config.get_or("country_column", "Country"),
            score: config.get_or("score_column", "Lead Score"),
            reason: config.get_or("reason_column", "Score Reason"),
        })
    }

    fn transform(&mut self, batch: &Batch) -> Vec<Outcome> {
        batch.rows().map(|row| self.outcome(batch, row)).collect()
    }
}

kiln_guest::export_transformer!(LeadScore);

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_guest::Effect;
    use kiln_guest::types::CellValue;

    fn rules(pairs: &[(&str, &str)]) -> Rules {
        Rules::from_config(&Config::from_pairs(pairs.iter().copied())).unwrap()
    }

    #[test]
    fn every_rule_adds_its_points_and_says_so() {
        let lead = Lead {
            email: Some(" Ada@Sub.Acme.com".into()),
            title: Some("VP Sales".into()),
            size: Some(120.0),
            country: Some("United States".into()),
        };
        let (s, why) = score(&lead, &rules(&[("target_domains", "acme.com")]));
        assert_eq!(s, 100.0);
        assert!(why.contains("target domain sub.acme.com"), "{why}");
        assert!(why.contains("matches vp"), "{why}");
        let (s, why) = score(
            &Lead {
                email: Some("x@gmail.com".into()),
                title: Some("Developer advocate".into()),
                size: Some(10.0),
                country: Some("Japan".into()),
            },
            &rules(&[]),
        );
        assert_eq!(s, 0.0, "{why}");
        assert!(why.contains("free email"));
    }

    #[test]
    fn keywords_match_words_not_fragments() {
        let r = rules(&[("title_keywords", "cto, head of")]);
        let t = |title: &str| {
            score(
                &Lead {
                    title: Some(title.into()),
                    ..Lead::default()
                },
                &r,
            )
            .0
        };
        assert_eq!(t("Head of Growth"), 30.0);
        assert_eq!(t("CTO"), 30.0);
        assert_eq!(t("Director"), 0.0);
        assert_eq!(t("Doctor"), 0.0, "`cto` is not in `doctor`");
    }

    #[test]
    fn sizes_parse_ranges_and_thousands() {
        assert_eq!(parse_size("1,200"), Some(1200.0));
        assert_eq!(parse_size("51-200"), Some(51.0));
        assert_eq!(parse_size("10000+"), Some(10000.0));
        assert_eq!(parse_size("many"), None);
    }

    #[test]
    fn a_batch_gets_scores_or_a_clear_error() {
        let table = Batch::table_with_columns(
            "Leads",
            &[
                "Email",
                "Title",
                "Employees",
                "Country",
                "Lead Score",
                "Score Reason",
            ],
        );
        let rows = vec![Batch::row_with_text(
            &table,
            "r_1",
            &[
                ("Email", "a@acme.com"),
                ("Title", "CTO"),
                ("Employees", "500"),
                ("Country", "DE"),
            ],
        )];
        let batch = Batch::new(table, rows.clone());
        let mut plugin = LeadScore::new(Config::default()).unwrap();
        let out = batch.resolve(plugin.transform(&batch));
        let Effect::SetCells(cells) = &out[0].effect else {
            panic!("{out:?}")
        };
        assert_eq!(cells[0].value, CellValue::Number(75.0));

        let mut plugin = LeadScore::new(Config::from_pairs([("score_column", "Fit")])).unwrap();
        let table = Batch::table_with_columns("Leads", &["Email", "Score Reason"]);
        let batch = Batch::new(
            table.clone(),
            vec![Batch::row_with_text(&table, "r_1", &[])],
        );
        let out = batch.resolve(plugin.transform(&batch));
        assert!(matches!(&out[0].effect, Effect::Error(m) if m.contains("score_column")));
    }
}
