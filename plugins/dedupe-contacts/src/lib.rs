//! dedupe-contacts: finds contacts entered twice — by normalized email, or by name at the
//! same company domain — within a batch and across the whole table (read through the
//! `tables` capability), and marks or deletes every copy but the first.
//!
//! Two rows are the same contact when they share a key; keys chain (A and B share an
//! email, B and C a name and domain: all three are one contact). The first row in table
//! order is kept; it is never marked or deleted, so the outcome does not depend on batching.
//!
//! Config keys (defaults): `email_column` (Email), `name_column` (Full Name),
//! `domain_column` (Company Domain; when empty the email's domain, unless free mail, then
//! `company_column`), `company_column` (Company), `match_on` (`email,name+domain`),
//! `action` (`mark` or `delete`; mark), `mark_column` (Duplicate Of: gets the kept row's id,
//! and is cleared on rows that are no longer duplicates), `scope` (`table` or `batch`; table).

use std::collections::HashMap;

use kiln_guest::email::is_free_mail;
use kiln_guest::types::{CellValue, Row};
use kiln_guest::walk::all_rows;
use kiln_guest::{Batch, Config, Error, Outcome, Transformer};

/// `Ada.Lovelace+news@Acme.com ` → `ada.lovelace@acme.com`; `None` when it is not an email.
pub fn email_key(raw: &str) -> Option<String> {
    let e = raw.trim().to_lowercase();
    let (local, domain) = e.split_once('@')?;
    let local = local.split('+').next().unwrap_or(local);
    if local.is_empty() || !domain.contains('.') || domain.contains('@') || e.contains(' ') {
        return None;
    }
    Some(format!("{local}@{domain}"))
}

/// First and last word of a name, lower-cased: `  ADA J. Lovelace ` → `ada lovelace`.
pub fn name_key(raw: &str) -> Option<String> {
    let words: Vec<String> = raw
        .split(|c: char| !c.is_alphanumeric() && c != '-' && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    match words.as_slice() {
        [first, .., last] => Some(format!("{first} {last}")),
        _ => None,
    }
}

/// What a contact row offers to match on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contact {
    pub email: Option<String>,
    pub name: Option<String>,
    pub domain: Option<String>,
    pub company: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchOn {
    pub email: bool,
    pub name_domain: bool,
}

/// The keys a contact is known by.
pub fn keys(c: &Contact, on: MatchOn) -> Vec<String> {
    let mut out = Vec::new();
    let email = c.email.as_deref().and_then(email_key);
    if on.email
        && let Some(e) = &email
    {
        out.push(format!("email:{e}"));
    }
    if on.name_domain
        && let Some(name) = c.name.as_deref().and_then(name_key)
    {
        let domain = c
            .domain
            .as_deref()
            .map(|d| d.trim().to_lowercase())
            .filter(|d| !d.is_empty())
            .or_else(|| {
                email
                    .as_deref()
                    .and_then(|e| e.split_once('@'))
                    .map(|(_, d)| d.to_string())
                    .filter(|d| !is_free_mail(d))
            })
            .or_else(|| {
                c.company
                    .as_deref()
                    .map(|co| co.trim().to_lowercase())
                    .filter(|co| !co.is_empty())
            });
        if let Some(d) = domain {
            out.push(format!("name:{name}@{d}"));
        }
    }
    out
}

/// Rows in table order grouped into contacts: row id → the id of the row kept for its
/// contact, for every row that is a copy.
pub fn duplicates(rows: &[(String, Vec<String>)]) -> HashMap<String, String> {
    let mut parent: Vec<usize> = (0..rows.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut first_with_key: HashMap<&str, usize> = HashMap::new();
    for (i, (_, ks)) in rows.iter().enumerate() {
        for k in ks {
            match first_with_key.get(k.as_str()) {
                None => {
                    first_with_key.insert(k, i);
                }
                Some(&j) => {
                    let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                    // The smaller index is the root, so a contact's root is its first row.
                    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
                    parent[hi] = lo;
                }
            }
        }
    }
    let mut out = HashMap::new();
    for i in 0..rows.len() {
        let r = root(&mut parent, i);
        if r != i {
            out.insert(rows[i].0.clone(), rows[r].0.clone());
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    Mark,
    Delete,
}

pub struct DedupeContacts {
    email: String,
    name: String,
    domain: String,
    company: String,
    on: MatchOn,
    action: Action,
    mark: String,
    whole_table: bool,
    /// Built from the whole table on the first batch (scope `table`).
    table_index: HashMap<String, String>,
    indexed: bool,
}

fn cell_text(row: &Row, field_id: Option<&str>) -> Option<String> {
    let id = field_id?;
    match &row.cells.iter().find(|c| c.field_id == id)?.value {
        CellValue::Text(s) | CellValue::Json(s) => Some(s.clone()),
        CellValue::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl DedupeContacts {
    fn contact(&self, batch: &Batch, row: &Row) -> Contact {
        let id = |c: &str| batch.field(c).map(|f| f.id.as_str());
        Contact {
            email: cell_text(row, id(&self.email)),
            name: cell_text(row, id(&self.name)),
            domain: cell_text(row, id(&self.domain)),
            company: cell_text(row, id(&self.company)),
        }
    }

    fn index(&self, batch: &Batch, rows: &[Row]) -> HashMap<String, String> {
        let keyed: Vec<(String, Vec<String>)> = rows
            .iter()
            .map(|r| (r.id.clone(), keys(&self.contact(batch, r), self.on)))
            .collect();
        duplicates(&keyed)
    }

    /// Reads the whole table once, on the first batch.
    fn ensure_table_index(&mut self, batch: &Batch) -> Result<(), String> {
        if self.indexed {
            return Ok(());
        }
        let table = batch.table();
        let view = table.first_view_id.as_deref().ok_or_else(|| {
            format!(
                "table `{}` has no view to read its rows through",
                table.name
            )
        })?;
        let rows = all_rows(&table.id, view)
            .map_err(|e| format!("cannot read table `{}` to find duplicates: {e}", table.name))?;
        self.table_index = self.index(batch, &rows);
        self.indexed = true;
        kiln_guest::log::info(&format!(
            "read {} rows of `{}`: {} are copies of an earlier row",
            rows.len(),
            table.name,
            self.table_index.len()
        ));
        Ok(())
    }
}

impl Transformer for DedupeContacts {
    fn new(config: Config) -> Result<Self, Error> {
        let bad = |key: &str, value: &str, reason: &str| Error::Config {
            key: key.into(),
            value: value.into(),
            reason: reason.into(),
        };
        let match_on = config.get_or("match_on", "email,name+domain");
        let mut on = MatchOn {
            email: false,
            name_domain: false,
        };
        for part in match_on.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "email" => on.email = true,
                "name+domain" => on.name_domain = true,
                _ => {
                    return Err(bad(
                        "match_on",
                        &match_on,
                        "use `email`, `name+domain` or both, comma-separated",
                    ));
                }
            }
        }
        if !on.email && !on.name_domain {
            return Err(bad(
                "match_on",
                &match_on,
                "name at least one of `email`, `name+domain`",
            ));
        }
        let action = match config.get_or("action", "mark").as_str() {
            "mark" => Action::Mark,
            "delete" => Action::Delete,
            other => return Err(bad("action", other, "use `mark` or `delete`")),
        };
        let whole_table = match config.get_or("scope", "table").as_str() {
            "table" => true,
            "batch" => false,
            other => return Err(bad("scope", other, "use `table` or `batch`")),
        };
        Ok(Self {
            email: config.get_or("email_column", "Email"),
            name: config.get_or("name_column", "Full Name"),
            domain: config.get_or("domain_column", "Company Domain"),
            company: config.get_or("company_column", "Company"),
            on,
            action,
            mark: config.get_or("mark_column", "Duplicate Of"),
            whole_table,
            table_index: HashMap::new(),
            indexed: false,
        })
    }

    fn transform(&mut self, batch: &Batch) -> Vec<Outcome> {
        if self.action == Action::Mark && !batch.has_column(&self.mark) {
            let message = format!(
                "table `{}` has no column `{}` (mark_column): add it, set --config mark_column=<column>, or use action=delete",
                batch.table().name,
                self.mark
            );
            return batch.rows().map(|r| r.error(message.clone())).collect();
        }
        let batch_index;
        let index = if self.whole_table {
            if let Err(message) = self.ensure_table_index(batch) {
                return batch.rows().map(|r| r.error(message.clone())).collect();
            }
            &self.table_index
        } else {
            let rows: Vec<Row> = batch.rows().map(|r| r.to_row()).collect();
            batch_index = self.index(batch, &rows);
            &batch_index
        };
        batch
            .rows()
            .map(|row| match (index.get(row.id()), self.action) {
                (Some(_), Action::Delete) => row.delete(),
                (Some(kept), Action::Mark) => row.set(&self.mark, kept.as_str()),
                (None, Action::Mark) if row.get(&self.mark).is_some() => {
                    row.set(&self.mark, CellValue::Null)
                }
                (None, _) => row.unchanged(),
            })
            .collect()
    }
}

kiln_guest::export_transformer!(DedupeContacts);

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_guest::Effect;

    const ALL: MatchOn = MatchOn {
        email: true,
        name_domain: true,
    };

    fn contact(email: &str, name: &str) -> Contact {
        Contact {
            email: Some(email.into()).filter(|e: &String| !e.is_empty()),
            name: Some(name.into()),
            ..Contact::default()
        }
    }

    #[test]
    fn keys_normalize_emails_and_names() {
        assert_eq!(
            email_key(" Ada.Lovelace+news@Acme.COM ").unwrap(),
            "ada.lovelace@acme.com"
        );
        assert_eq!(email_key("ada@@acme.com"), None);
        assert_eq!(name_key("  ADA J. Lovelace ").unwrap(), "ada lovelace");
        assert_eq!(name_key("Ada"), None, "one word is too weak to match on");
        // Free mail says nothing about the company: no name key without a domain.
        assert_eq!(
            keys(&contact("ada@gmail.com", "Ada Lovelace"), ALL),
            ["email:ada@gmail.com"]
        );
    }

    #[test]
    fn keys_chain_and_the_first_row_is_kept() {
        let rows: Vec<(String, Vec<String>)> = [
            contact("ada@acme.com", "Ada Lovelace"),
            contact("grace@navy.mil", "Grace Hopper"),
            contact(" ADA@acme.com", "A. Lovelace"),
            contact("alovelace@acme.com", "Ada Lovelace"),
            contact("", "Grace Hopper"),
        ]
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("r_{i}"), keys(c, ALL)))
        .collect();
        let d = duplicates(&rows);
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d["r_2"], "r_0");
        assert_eq!(d["r_3"], "r_0");
        // Only email: the second Lovelace address is another contact.
        let only_email: Vec<_> = rows
            .iter()
            .map(|(id, ks)| {
                (
                    id.clone(),
                    ks.iter()
                        .filter(|k| k.starts_with("email:"))
                        .cloned()
                        .collect(),
                )
            })
            .collect();
        assert_eq!(duplicates(&only_email).len(), 1);
    }

    #[test]
    fn a_batch_marks_copies_and_clears_stale_marks() {
        let table = Batch::table_with_columns("Contacts", &["Email", "Full Name", "Duplicate Of"]);
        let rows = vec![
            Batch::row_with_text(
                &table,
                "r_1",
                &[("Email", "ada@acme.com"), ("Duplicate Of", "r_9")],
            ),
            Batch::row_with_text(&table, "r_2", &[("Email", "ADA@acme.com ")]),
        ];
        let batch = Batch::new(table, rows);
        let mut plugin = DedupeContacts::new(Config::from_pairs([("scope", "batch")])).unwrap();
        let out = batch.resolve(plugin.transform(&batch));
        assert!(matches!(&out[0].effect, Effect::SetCells(c) if c[0].value == CellValue::Null));
        assert!(
            matches!(&out[1].effect, Effect::SetCells(c) if c[0].value == CellValue::Text("r_1".into()))
        );
        let mut plugin = DedupeContacts::new(Config::from_pairs([
            ("scope", "batch"),
            ("action", "delete"),
        ]))
        .unwrap();
        let out = batch.resolve(plugin.transform(&batch));
        assert_eq!(out[1].effect, Effect::Delete);
        assert_eq!(out[0].effect, Effect::Unchanged);
        assert!(DedupeContacts::new(Config::from_pairs([("action", "merge")])).is_err());
    }
}
