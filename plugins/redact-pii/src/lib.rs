//! redact-pii: masks emails and phone numbers in named columns, so a table can be shared
//! outside the team. Idempotent: a masked value masks to itself.
//!
//! Config keys (defaults): `email_columns` (Email), `phone_columns` (Phone), `text_columns`
//! (none; replaced entirely by `[redacted]`) — each a comma-separated list of column names,
//! empty for none; `keep_domain` (true: `***@acme.com`), `keep_last_digits` (4: `+* (***)
//! ***-0134`; 0 masks every digit), `mask` (`*`).

use kiln_guest::{Batch, Config, Error, Outcome, RowRef, Transformer};

#[derive(Debug, Clone, PartialEq)]
pub struct Masking {
    pub keep_domain: bool,
    pub keep_last_digits: usize,
    pub mask: char,
}

pub const REDACTED: &str = "[redacted]";

impl Masking {
    /// `ada@acme.com` → `***@acme.com` (or `***@***`).
    pub fn email(&self, raw: &str) -> String {
        let m = self.mask.to_string().repeat(3);
        match raw.trim().rsplit_once('@') {
            Some((_, domain)) if self.keep_domain && !domain.trim().is_empty() => {
                format!("{m}@{}", domain.trim())
            }
            Some(_) => format!("{m}@{m}"),
            None => m,
        }
    }

    /// Every digit but the last `keep_last_digits` becomes the mask; punctuation stays.
    pub fn phone(&self, raw: &str) -> String {
        let digits = raw.chars().filter(char::is_ascii_digit).count();
        let mut to_mask = digits.saturating_sub(self.keep_last_digits);
        raw.chars()
            .map(|c| {
                if c.is_ascii_digit() && to_mask > 0 {
                    to_mask -= 1;
                    self.mask
                } else {
                    c
                }
            })
            .collect()
    }
}

fn columns(config: &Config, key: &str, default: &str) -> Vec<(String, String)> {
    config
        .get_or(key, default)
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| (key.to_string(), c.to_string()))
        .collect()
}

pub struct RedactPii {
    masking: Masking,
    /// (config key, column)
    emails: Vec<(String, String)>,
    phones: Vec<(String, String)>,
    texts: Vec<(String, String)>,
}

impl RedactPii {
    fn outcome(&self, batch: &Batch, row: RowRef<'_>) -> Outcome {
        let all = self.emails.iter().chain(&self.phones).chain(&self.texts);
        for (key, column) in all {
            if !batch.has_column(column) {
                return row.error(format!(
                    "table `{}` has no column `{column}` (from {key}): fix --config {key}=…",
                    batch.table().name
                ));
            }
        }
        let mut out = row.unchanged();
        for (_, c) in &self.emails {
            if let Some(v) = row.text(c) {
                out = out.set(c, self.masking.email(&v));
            }
        }
        for (_, c) in &self.phones {
            if let Some(v) = row.text(c) {
                out = out.set(c, self.masking.phone(&v));
            }
        }
        for (_, c) in &self.texts {
            if row.text(c).is_some() {
                out = out.set(c, REDACTED);
            }
        }
        out
    }
}

impl Transformer for RedactPii {
    fn new(config: Config) -> Result<Self, Error> {
        let mask = config.get_or("mask", "*");
        let mut chars = mask.chars();
        let (Some(mask), None) = (chars.next(), chars.next()) else {
            return Err(Error::Config {
                key: "mask".into(),
                value: mask,
                reason: "must be exactly one character".into(),
            });
        };
        if mask.is_ascii_digit() {
            return Err(Error::Config {
                key: "mask".into(),
                value: mask.to_string(),
                reason: "a digit would not hide digits".into(),
            });
        }
        Ok(Self {
            masking: Masking {
                keep_domain: config.parse("keep_domain", true)?,
                keep_last_digits: config.parse("keep_last_digits", 4)?,
                mask,
            },
            emails: columns(&config, "email_columns", "Email"),
            phones: columns(&config, "phone_columns", "Phone"),
            texts: columns(&config, "text_columns", ""),
        })
    }

    fn transform(&mut self, batch: &Batch) -> Vec<Outcome> {
        batch.rows().map(|row| self.outcome(batch, row)).collect()
    }
}

kiln_guest::export_transformer!(RedactPii);

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_guest::Effect;
    use kiln_guest::types::CellValue;

    fn masking() -> Masking {
        Masking {
            keep_domain: true,
            keep_last_digits: 4,
            mask: '*',
        }
    }

    #[test]
    fn emails_keep_their_domain_only_when_asked() {
        let m = masking();
        assert_eq!(m.email("  Ada.Lovelace@Acme.com "), "***@Acme.com");
        assert_eq!(m.email("not an email"), "***");
        let m = Masking {
            keep_domain: false,
            ..masking()
        };
        assert_eq!(m.email("ada@acme.com"), "***@***");
    }

    #[test]
    fn phones_keep_their_shape_and_last_digits() {
        let m = masking();
        assert_eq!(m.phone("+1 (415) 555-0134"), "+* (***) ***-0134");
        assert_eq!(m.phone("n/a"), "n/a");
        let m = Masking {
            keep_last_digits: 0,
            mask: '#',
            ..masking()
        };
        assert_eq!(m.phone("555-0134"), "###-####");
    }

    #[test]
    fn masking_twice_changes_nothing() {
        let m = masking();
        for e in ["ada@acme.com", "x", "a@@b.io"] {
            assert_eq!(m.email(&m.email(e)), m.email(e));
        }
        let p = m.phone("+44 20 7946 0958");
        assert_eq!(m.phone(&p), p);
    }

    #[test]
    fn a_batch_is_masked_column_by_column() {
        let table = Batch::table_with_columns("Leads", &["Email", "Phone", "Notes"]);
        let row = Batch::row_with_text(
            &table,
            "r_1",
            &[
                ("Email", "ada@acme.com"),
                ("Phone", "555 123 4567"),
                ("Notes", "called her"),
            ],
        );
        let batch = Batch::new(table, vec![row]);
        let mut plugin = RedactPii::new(Config::from_pairs([("text_columns", "Notes")])).unwrap();
        let out = batch.resolve(plugin.transform(&batch));
        let Effect::SetCells(cells) = &out[0].effect else {
            panic!("{out:?}")
        };
        let values: Vec<_> = cells.iter().map(|c| c.value.clone()).collect();
        assert_eq!(
            values,
            [
                CellValue::Text("***@acme.com".into()),
                CellValue::Text("*** *** 4567".into()),
                CellValue::Text(REDACTED.into())
            ]
        );
        let mut plugin = RedactPii::new(Config::from_pairs([("phone_columns", "Mobile")])).unwrap();
        let out = batch.resolve(plugin.transform(&batch));
        assert!(matches!(&out[0].effect, Effect::Error(m) if m.contains("phone_columns")));
        assert!(RedactPii::new(Config::from_pairs([("mask", "ab")])).is_err());
    }
}
