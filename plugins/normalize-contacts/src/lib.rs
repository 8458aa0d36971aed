//! normalize-contacts: cleans the contact columns of a Clay table.
//!
//! Per row: trims and lower-cases the email (an invalid one is flagged in the status column
//! and left intact), derives the company domain (not for free-mail addresses), splits the
//! full name into first and last, and writes phone numbers in E.164.
//!
//! Config keys (defaults): `email_column` (Email), `email_status_column` (Email Status),
//! `domain_column` (Company Domain), `name_column` (Full Name), `first_name_column`
//! (First Name), `last_name_column` (Last Name), `phone_column` (Phone),
//! `default_country_code` (1).

use kiln_guest::email::is_free_mail;
use kiln_guest::{Batch, Config, Error, Outcome, RowRef, Transformer};

/// The transformer; column names come from its settings.
pub struct NormalizeContacts {
    email: String,
    status: String,
    domain: String,
    name: String,
    first: String,
    last: String,
    phone: String,
    country_code: String,
}

/// Why an email is not valid; `None` when it is.
pub fn email_problem(email: &str) -> Option<&'static str> {
    if email.chars().any(char::is_whitespace) {
        return Some("contains spaces");
    }
    let mut parts = email.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Some(if email.contains('@') {
            "more than one @"
        } else {
            "no @"
        });
    };
    if local.is_empty() {
        return Some("nothing before the @");
    }
    let Some((host, tld)) = domain.rsplit_once('.') else {
        return Some("the domain has no top-level domain");
    };
    if host.is_empty() || host.starts_with('.') || host.ends_with('.') || host.contains("..") {
        return Some("malformed domain");
    }
    if tld.len() < 2 || !tld.chars().all(|c| c.is_ascii_alphabetic()) {
        return Some("malformed top-level domain");
    }
    None
}

/// Trimmed and lower-cased, with its validity.
pub fn normalize_email(raw: &str) -> (String, Option<&'static str>) {
    let email = raw.trim().to_lowercase();
    let problem = email_problem(&email);
    (email, problem)
}

/// The company domain of a valid email, unless it is a free-mail provider.
pub fn company_domain(email: &str) -> Option<String> {
    let domain = email.rsplit_once('@')?.1;
    (!is_free_mail(domain)).then(|| domain.to_string())
}

fn title_case(word: &str) -> String {
    word.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first
                    .to_uppercase()
                    .chain(chars.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// First name and the rest; names typed in one case are title-cased.
pub fn split_name(raw: &str) -> Option<(String, String)> {
    let words: Vec<&str> = raw.split_whitespace().collect();
    let (first, rest) = words.split_first()?;
    let one_case = raw == raw.to_lowercase() || raw == raw.to_uppercase();
    let fix = |w: &str| {
        if one_case {
            title_case(w)
        } else {
            w.to_string()
        }
    };
    Some((
        fix(first),
        rest.iter().map(|w| fix(w)).collect::<Vec<_>>().join(" "),
    ))
}

/// E.164 (`+14155550134`), or `None` when the text is not a phone number.
pub fn normalize_phone(raw: &str, default_country_code: &str) -> Option<String> {
    let trimmed = raw.trim();
    if trimmed.chars().any(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    let international = if trimmed.starts_with('+') {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_string()
    } else if digits.len() == 11 && default_country_code == "1" && digits.starts_with('1') {
        digits
    } else if digits.len() == 10 {
        format!("{default_country_code}{digits}")
    } else {
        return None;
    };
    (8..=15)
        .contains(&international.len())
        .then(|| format!("+{international}"))
}

impl NormalizeContacts {
    fn check_columns(&self, batch: &Batch) -> Result<(), String> {
        let missing: Vec<String> = [
            ("email_column", &self.email),
            ("email_status_column", &self.status),
            ("domain_column", &self.domain),
            ("name_column", &self.name),
            ("first_name_column", &self.first),
            ("last_name_column", &self.last),
            ("phone_column", &self.phone),
        ]
        .iter()
        .filter(|(_, column)| !batch.has_column(column))
        .map(|(key, column)| format!("`{column}` (set config `{key}`)"))
        .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "table `{}` has no column {}",
                batch.table().name,
                missing.join(", ")
            ))
        }
    }

    fn row(&self, row: RowRef<'_>) -> Outcome {
        let mut out = row.unchanged();
        match row.text(&self.email) {
            Some(raw) if !raw.trim().is_empty() => {
                let (email, problem) = normalize_email(&raw);
                match problem {
                    None => {
                        out = out
                            .set(&self.email, email.as_str())
                            .set(&self.status, "valid")
                            .set(&self.domain, company_domain(&email));
                    }
                    // Flag it, keep what was typed: a person may know what was meant.
                    Some(why) => out = out.set(&self.status, format!("invalid: {why}")),
                }
            }
            _ => out = out.set(&self.status, "missing"),
        }
        if let Some((first, last)) = row.text(&self.name).as_deref().and_then(split_name) {
            out = out
                .set(&self.first, first)
                .set(&self.last, (!last.is_empty()).then_some(last));
        }
        if let Some(phone) = row
            .text(&self.phone)
            .and_then(|p| normalize_phone(&p, &self.country_code))
        {
            out = out.set(&self.phone, phone);
        }
        out
    }
}

impl Transformer for NormalizeContacts {
    fn new(config: Config) -> Result<Self, Error> {
        let country_code = config.get_or("default_country_code", "1");
        if country_code.is_empty() || !country_code.chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::Config {
                key: "default_country_code".into(),
                value: country_code,
                reason: "expected digits, e.g. 1 or 44".into(),
            });
        }
        Ok(Self {
            email: config.get_or("email_column", "Email"),
            status: config.get_or("email_status_column", "Email Status"),
            domain: config.get_or("domain_column", "Company Domain"),
            name: config.get_or("name_column", "Full Name"),
            first: config.get_or("first_name_column", "First Name"),
            last: config.get_or("last_name_column", "Last Name"),
            phone: config.get_or("phone_column", "Phone"),
            country_code,
        })
    }

    fn transform(&mut self, batch: &Batch) -> Vec<Outcome> {
        if let Err(message) = self.check_columns(batch) {
            return batch.rows().map(|r| r.error(message.clone())).collect();
        }
        batch.rows().map(|row| self.row(row)).collect()
    }
}

kiln_guest::export_transformer!(NormalizeContacts);

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_guest::types::CellValue;
    use kiln_guest::{Effect, RowOutcome};

    const COLUMNS: &[&str] = &[
        "Full Name",
        "Email",
        "Phone",
        "First Name",
        "Last Name",
        "Company Domain",
        "Email Status",
    ];

    fn run(rows: &[&[(&str, &str)]]) -> (Batch, Vec<RowOutcome>) {
        let table = Batch::table_with_columns("Leads", COLUMNS);
        let rows = rows
            .iter()
            .enumerate()
            .map(|(i, cells)| Batch::row_with_text(&table, &format!("r_{i}"), cells))
            .collect();
        let batch = Batch::new(table, rows);
        let mut plugin = NormalizeContacts::new(Config::default()).unwrap();
        let outcomes = batch.resolve(plugin.transform(&batch));
        (batch, outcomes)
    }

    fn cell<'a>(batch: &Batch, o: &'a RowOutcome, column: &str) -> Option<&'a CellValue> {
        let id = &batch.field(column).unwrap().id;
        match &o.effect {
            Effect::SetCells(cells) => cells.iter().find(|c| &c.field_id == id).map(|c| &c.value),
            _ => None,
        }
    }

    fn text(v: &str) -> CellValue {
        CellValue::Text(v.into())
    }

    #[test]
    fn messy_email_comes_out_trimmed_lowercased_with_domain() {
        let (batch, out) = run(&[&[("Email", "  Ada.Lovelace@Analytical.ENGINE.com ")]]);
        assert_eq!(
            cell(&batch, &out[0], "Email"),
            Some(&text("ada.lovelace@analytical.engine.com"))
        );
        assert_eq!(cell(&batch, &out[0], "Email Status"), Some(&text("valid")));
        assert_eq!(
            cell(&batch, &out[0], "Company Domain"),
            Some(&text("analytical.engine.com"))
        );
    }

    #[test]
    fn invalid_email_is_flagged_and_left_intact() {
        for bad in [
            "ada.lovelace.example.com",
            "ada@@example.com",
            "ada@example",
            "ada l@example.com",
        ] {
            let (batch, out) = run(&[&[("Email", bad)]]);
            assert_eq!(
                cell(&batch, &out[0], "Email"),
                None,
                "{bad} must not be rewritten"
            );
            match cell(&batch, &out[0], "Email Status") {
                Some(CellValue::Text(s)) => assert!(s.starts_with("invalid: "), "{bad}: {s}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn free_mail_has_no_company_domain() {
        let (batch, out) = run(&[&[("Email", "someone@gmail.com")]]);
        assert_eq!(cell(&batch, &out[0], "Company Domain"), None);
        assert_eq!(cell(&batch, &out[0], "Email Status"), Some(&text("valid")));
    }

    #[test]
    fn names_are_split_and_single_case_names_title_cased() {
        assert_eq!(
            split_name("  Ada   Lovelace "),
            Some(("Ada".into(), "Lovelace".into()))
        );
        assert_eq!(
            split_name("grace hopper"),
            Some(("Grace".into(), "Hopper".into()))
        );
        assert_eq!(
            split_name("ALAN TURING"),
            Some(("Alan".into(), "Turing".into()))
        );
        assert_eq!(
            split_name("Ada King Lovelace"),
            Some(("Ada".into(), "King Lovelace".into()))
        );
        assert_eq!(split_name("Prince"), Some(("Prince".into(), String::new())));
        assert_eq!(split_name("   "), None);
    }

    #[test]
    fn phones_become_e164() {
        assert_eq!(
            normalize_phone("(415) 555-0134", "1").as_deref(),
            Some("+14155550134")
        );
        assert_eq!(
            normalize_phone("+1 415.555.0134", "1").as_deref(),
            Some("+14155550134")
        );
        assert_eq!(
            normalize_phone("415-555-0134", "1").as_deref(),
            Some("+14155550134")
        );
        assert_eq!(
            normalize_phone("1-415-555-0134", "1").as_deref(),
            Some("+14155550134")
        );
        assert_eq!(
            normalize_phone("00 44 20 7946 0958", "1").as_deref(),
            Some("+442079460958")
        );
        assert_eq!(
            normalize_phone("+44 20 7946 0958", "1").as_deref(),
            Some("+442079460958")
        );
        assert_eq!(normalize_phone("n/a", "1"), None);
        assert_eq!(normalize_phone("12", "1"), None);
    }

    #[test]
    fn unparseable_phone_is_left_alone_and_the_row_still_succeeds() {
        let (batch, out) = run(&[&[("Phone", "call reception"), ("Email", "a@b.co")]]);
        assert_eq!(cell(&batch, &out[0], "Phone"), None);
        assert!(matches!(out[0].effect, Effect::SetCells(_)));
    }

    #[test]
    fn running_on_its_own_output_changes_nothing() {
        let (_, out) = run(&[&[
            ("Full Name", "Ada Lovelace"),
            ("First Name", "Ada"),
            ("Last Name", "Lovelace"),
            ("Email", "ada@analytical.io"),
            ("Email Status", "valid"),
            ("Company Domain", "analytical.io"),
            ("Phone", "+14155550134"),
        ]]);
        assert_eq!(out[0].effect, Effect::Unchanged);
    }

    #[test]
    fn a_missing_column_fails_each_row_naming_the_config_key() {
        let table = Batch::table_with_columns("Leads", &["Email"]);
        let rows = vec![Batch::row_with_text(&table, "r_1", &[("Email", "a@b.co")])];
        let batch = Batch::new(table, rows);
        let mut plugin = NormalizeContacts::new(Config::default()).unwrap();
        let out = batch.resolve(plugin.transform(&batch));
        match &out[0].effect {
            Effect::Error(m) => assert!(m.contains("phone_column"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_bad_country_code_is_a_config_error() {
        let err = NormalizeContacts::new(Config::from_pairs([("default_country_code", "+1")]))
            .err()
            .unwrap();
        assert!(err.to_string().contains("default_country_code"));
    }
}
