//! The demo workspace: realistic enough that audits find real things and transforms have
//! real mess to clean. Deterministic: the same `now` gives the same data.

use std::fmt;

use rusqlite::params;

use super::ids::mix;
use super::store::{DAY_MS, Db, NewResource, sql};
use super::{LocalBackend, LocalError};
use crate::backend::ClayError;
use crate::backend::model::*;

/// What the demo seed created.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SeedSummary {
    pub members: usize,
    pub integrations: usize,
    pub leads_table_id: String,
    pub leads_rows: usize,
    pub ledger_entries: usize,
    pub credits_spent: f64,
}

impl fmt::Display for SeedSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} members, {} integrations, table Leads ({}) with {} rows, {} credit-ledger entries over 90 days ({:.0} credits)",
            self.members,
            self.integrations,
            self.leads_table_id,
            self.leads_rows,
            self.ledger_entries,
            self.credits_spent
        )
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = mix(self.0);
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// (user id, email, name, role, status)
const MEMBERS: &[(&str, &str, &str, &str, &str)] = &[
    ("1000", "maya@northwind.io", "Maya Chen", "admin", "active"),
    (
        "1001",
        "jonas@northwind.io",
        "Jonas Berg",
        "member",
        "active",
    ),
    (
        "1002",
        "priya@northwind.io",
        "Priya Raman",
        "member",
        "active",
    ),
    (
        "1003",
        "leo@northwind.io",
        "Leo Martins",
        "member",
        "active",
    ),
    (
        "1004",
        "sam@northwind.io",
        "Sam Okafor",
        "member",
        "removed",
    ),
    (
        "1005",
        "ines@northwind.io",
        "Ines Duarte",
        "member",
        "active",
    ),
    ("1006", "tom@northwind.io", "Tom Becker", "member", "active"),
    ("1007", "ava@northwind.io", "Ava Novak", "member", "pending"),
];

const TYPES: &[(&str, &str, &str, &str)] = &[
    ("hunter", "Hunter", "Hunter.io", "api_key"),
    ("lusha", "Lusha", "Lusha", "api_key"),
    ("clearbit", "Clearbit", "HubSpot", "oauth"),
    ("openai", "OpenAI", "OpenAI", "api_key"),
    ("zerobounce", "ZeroBounce", "ZeroBounce", "api_key"),
];

const FIRST: &[&str] = &[
    "Ada", "Grace", "Alan", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Edsger",
    "Radia", "Tim", "Hedy", "John", "Sophie", "Carlos", "Amara", "Yuki", "Mateo", "Fatima", "Noah",
    "Olga", "Ravi", "Chloe", "Omar", "Lena", "Diego", "Mei", "Kwame", "Ingrid",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Berners-Lee",
    "Lamarr",
    "McCarthy",
    "Wilson",
    "Mendes",
    "Okafor",
    "Tanaka",
    "Garcia",
    "Haddad",
    "Schmidt",
    "Ivanova",
    "Patel",
    "Dubois",
    "Farouk",
    "Larsen",
    "Rossi",
    "Zhang",
    "Mensah",
    "Berg",
];
/// Head count per entry of `COMPANIES`, for lead scoring.
const EMPLOYEES: &[f64] = &[
    1200.0, 340.0, 45.0, 2800.0, 150.0, 15000.0, 8000.0, 60.0, 25.0, 900.0, 12.0, 30.0,
];
const COMPANIES: &[(&str, &str)] = &[
    ("Acme Corp", "acme.com"),
    ("Globex", "globex.com"),
    ("Initech", "initech.io"),
    ("Umbrella Health", "umbrella-health.com"),
    ("Hooli", "hooli.xyz"),
    ("Stark Industries", "stark.com"),
    ("Wayne Enterprises", "wayne.co"),
    ("Soylent", "soylent.com"),
    ("Tyrell", "tyrell.ai"),
    ("Cyberdyne", "cyberdyne.net"),
    ("Vandelay Industries", "vandelay.com"),
    ("Pied Piper", "piedpiper.com"),
];
const TITLES: &[&str] = &[
    "VP Sales",
    "Head of Growth",
    "Software Engineer",
    "CTO",
    "Marketing Manager",
    "Account Executive",
    "Founder & CEO",
    "Data Analyst",
    "RevOps Lead",
    "Director of Marketing",
];
const COUNTRIES: &[&str] = &[
    "US",
    "US",
    "US",
    "United Kingdom",
    "DE",
    "France",
    "Canada",
    "Japan",
];
const FREEMAIL: &[&str] = &["gmail.com", "yahoo.com", "outlook.com", "hotmail.com"];

fn text(s: impl Into<String>) -> CellValue {
    let s = s.into();
    if s.is_empty() {
        CellValue::Null
    } else {
        CellValue::Text(s)
    }
}

fn messy_name(rng: &mut Rng, first: &str, last: &str) -> String {
    match rng.below(10) {
        0 => format!("{} {}", first.to_lowercase(), last.to_lowercase()),
        1 => format!("  {first}   {last} "),
        2 => format!("{} {}", first.to_uppercase(), last.to_uppercase()),
        3 => format!(
            "{first} {} {last}",
            rng.pick(&["J.", "Marie", "van", "de la"])
        ),
        4 if rng.chance(30) => first.to_string(),
        _ => format!("{first} {last}"),
    }
}

fn messy_email(rng: &mut Rng, first: &str, last: &str, domain: &str) -> String {
    let f = first.to_lowercase();
    let l = last.to_lowercase().replace('-', "");
    let roll = rng.below(100);
    let base = if roll < 10 {
        format!("{f}.{l}{}@{}", rng.below(99), rng.pick(FREEMAIL))
    } else {
        format!("{f}.{l}@{domain}")
    };
    match roll {
        0..=24 => base,
        25..=44 => base.to_uppercase(),
        45..=59 => format!("  {base} "),
        60..=69 => {
            let mut c = base.chars();
            c.next()
                .map(|h| h.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        }
        70..=72 => base.replace('@', ""),
        73..=75 => base.replace('@', "@@"),
        76..=77 => format!("{f}@{}", domain.split('.').next().unwrap_or(domain)),
        78..=79 => format!("{f} {l}@{domain}"),
        80..=83 => String::new(),
        _ => base,
    }
}

fn messy_phone(rng: &mut Rng) -> String {
    let (a, b, c) = (200 + rng.below(700), rng.below(1000), rng.below(10_000));
    match rng.below(9) {
        0 => format!("({a}) {b:03}-{c:04}"),
        1 => format!("+1 {a}.{b:03}.{c:04}"),
        2 => format!("{a}-{b:03}-{c:04}"),
        3 => format!("{a}{b:03}{c:04}"),
        4 => format!("00 44 20 {b:03}{} {c:04}", rng.below(10)),
        5 => format!("+44 20 {b:03}{} {c:04}", rng.below(10)),
        6 => format!("1-{a}-{b:03}-{c:04}"),
        7 => rng.pick(&["n/a", "call reception", "", "tbd"]).to_string(),
        _ => format!("+1 ({a}) {b:03} {c:04}"),
    }
}

impl LocalBackend {
    /// Seeds the demo into a freshly created workspace (see [`LocalBackend::create`]).
    pub fn seed_demo(&self, now: Timestamp) -> Result<SeedSummary, LocalError> {
        self.blocking(|db| seed(db, now))
    }
}

fn seed(db: &mut Db<'_>, now: Timestamp) -> Result<SeedSummary, LocalError> {
    let existing: i64 = db
        .conn
        .query_row("SELECT COUNT(*) FROM resources", [], |r| r.get(0))?;
    if existing > 0 {
        return Err(ClayError::Conflict(
            "the demo seed needs an empty workspace; this one already has resources".into(),
        )
        .into());
    }
    let ws = 1u64;
    let day = |d: i64| now - d * DAY_MS;
    {
        let tx = db.conn.transaction()?;
        tx.execute(
            "UPDATE workspaces SET name = 'Northwind GTM', credit_pool = 10000 WHERE id = 1",
            [],
        )?;
        tx.execute("DELETE FROM members", [])?;
        for (id, email, name, role, status) in MEMBERS {
            tx.execute(
                "INSERT INTO members(user_id, workspace_id, email, name, role, status) VALUES (?1, 1, ?2, ?3, ?4, ?5)",
                params![id, email, name, role, status],
            )?;
        }
        for (id, name, provider, auth) in TYPES {
            tx.execute(
                "INSERT INTO integration_types(id, name, provider_name, authentication_type) VALUES (?1, ?2, ?3, ?4)",
                params![id, name, provider, auth],
            )?;
        }
        tx.commit()?;
    }

    let integration = |db: &mut Db<'_>,
                       name: &str,
                       ty: &str,
                       owner: &str,
                       at: i64|
     -> Result<String, LocalError> {
        let id = super::ids::new_id("aa_");
        db.conn.execute(
            "INSERT INTO integrations(id, workspace_id, name, type_id, owner_id, created_at) VALUES (?1, 1, ?2, ?3, ?4, ?5)",
            params![id, name, ty, owner, at],
        )?;
        Ok(id)
    };
    let hunter = integration(db, "Hunter (Sam's key)", "hunter", "1004", day(300))?;
    let lusha = integration(db, "Lusha (Sam's account)", "lusha", "1004", day(280))?;
    let clearbit = integration(db, "Clearbit", "clearbit", "1000", day(400))?;
    let openai = integration(db, "OpenAI", "openai", "1001", day(200))?;

    // The resource tree.
    let sales = super::ids::new_id("fol_");
    db.insert_resource(
        ws,
        &NewResource {
            kind: ResourceKind::Folder,
            id: &sales,
            name: "Sales",
            parent_id: None,
            created_by: Some("1000"),
            created_at: day(120),
        },
    )?;
    let prospecting = super::ids::new_id("wb_");
    db.insert_resource(
        ws,
        &NewResource {
            kind: ResourceKind::Workbook,
            id: &prospecting,
            name: "Prospecting",
            parent_id: Some(&sales),
            created_by: Some("1000"),
            created_at: day(110),
        },
    )?;
    let customers = super::ids::new_id("wb_");
    db.insert_resource(
        ws,
        &NewResource {
            kind: ResourceKind::Workbook,
            id: &customers,
            name: "Customers",
            parent_id: None,
            created_by: Some("1002"),
            created_at: day(40),
        },
    )?;
    for (name, by, age) in [
        ("Old experiments", "1005", 150),
        ("Q3 outreach", "1006", 200),
        ("Sam's lists", "1004", 50),
    ] {
        let id = super::ids::new_id("wb_");
        db.insert_resource(
            ws,
            &NewResource {
                kind: ResourceKind::Workbook,
                id: &id,
                name,
                parent_id: None,
                created_by: Some(by),
                created_at: day(age),
            },
        )?;
    }

    let leads = db.create_table(ws, &prospecting, "Leads", Some("1001"), day(85))?;
    let mut f = std::collections::HashMap::new();
    for name in [
        "Full Name",
        "Email",
        "Phone",
        "Company",
        "Title",
        "Country",
        "First Name",
        "Last Name",
        "Company Domain",
        "Email Status",
    ] {
        f.insert(name, db.add_field(&leads, name, FieldKind::Text, None)?);
    }
    // For lead-score: a company size to score and the two columns it writes.
    let employees = db.add_field(&leads, "Employees", FieldKind::Number, None)?;
    db.add_field(&leads, "Lead Score", FieldKind::Number, None)?;
    db.add_field(&leads, "Score Reason", FieldKind::Text, None)?;
    let action =
        |key: &str, pkg: &str, account: &str, cost: f64, inputs: Vec<String>| ActionConfig {
            action_key: key.into(),
            package_id: pkg.into(),
            auth_account_id: Some(account.to_string()),
            credit_cost: Some(cost),
            input_field_ids: inputs,
        };
    let work_email = db.add_field(
        &leads,
        "Work Email",
        FieldKind::Action,
        Some(&action(
            "find-work-email",
            "hunter",
            &hunter,
            2.0,
            vec![f["Full Name"].clone(), f["Company"].clone()],
        )),
    )?;
    db.add_field(
        &leads,
        "Mobile",
        FieldKind::Action,
        Some(&action(
            "find-mobile",
            "lusha",
            &lusha,
            10.0,
            vec![f["Full Name"].clone(), f["Company"].clone()],
        )),
    )?;
    db.add_field(
        &leads,
        "Company Size",
        FieldKind::Action,
        Some(&action(
            "enrich-company",
            "clearbit",
            &clearbit,
            1.0,
            vec![f["Company"].clone()],
        )),
    )?;

    let accounts = db.create_table(ws, &customers, "Accounts", Some("1002"), day(40))?;
    let acc_company = db.add_field(&accounts, "Company", FieldKind::Text, None)?;
    let acc_domain = db.add_field(&accounts, "Domain", FieldKind::Text, None)?;
    db.add_field(
        &accounts,
        "Summary",
        FieldKind::Action,
        Some(&action(
            "summarize",
            "openai",
            &openai,
            1.0,
            vec![acc_company.clone()],
        )),
    )?;
    let events = db.create_table(ws, &customers, "Events", Some("1003"), day(10))?;
    db.add_field(&events, "Event", FieldKind::Text, None)?;

    // The messy Leads rows.
    let mut rng = Rng(0x5EED_C1A7);
    let mut rows: Vec<NewRow> = Vec::with_capacity(2000);
    let text_cell = |field: &str, v: CellValue| CellInput {
        field_id: field.to_string(),
        value: v,
    };
    while rows.len() < 2000 {
        if rows.len() > 20 && rng.chance(3) {
            // A duplicate of an earlier person, typed again a little differently.
            let i = rng.below(rows.len() as u64) as usize;
            let mut dup = rows[i].clone();
            for c in &mut dup.cells {
                if c.field_id == f["Email"]
                    && let CellValue::Text(e) = &c.value
                {
                    c.value = CellValue::Text(format!(" {}", e.trim().to_uppercase()));
                }
            }
            rows.push(dup);
            continue;
        }
        let first = rng.pick(FIRST);
        let last = rng.pick(LAST);
        let company_index = rng.below(COMPANIES.len() as u64) as usize;
        let (company, domain) = COMPANIES[company_index];
        let mut cells = vec![
            text_cell(&f["Full Name"], text(messy_name(&mut rng, first, last))),
            text_cell(
                &f["Email"],
                text(messy_email(&mut rng, first, last, domain)),
            ),
            text_cell(&f["Phone"], text(messy_phone(&mut rng))),
            text_cell(&f["Company"], text(company)),
            text_cell(&f["Title"], text(rng.pick(TITLES))),
            text_cell(&f["Country"], text(rng.pick(COUNTRIES))),
            text_cell(&employees, CellValue::Number(EMPLOYEES[company_index])),
        ];
        if rows.len() < 300 {
            let local = format!("{}.{}", first.to_lowercase(), last.to_lowercase());
            cells.push(text_cell(&work_email, text(format!("{local}@{domain}"))));
        }
        rows.push(NewRow { id: None, cells });
    }
    db.add_rows(&leads, &rows, usize::MAX)?;
    let account_rows: Vec<NewRow> = COMPANIES
        .iter()
        .map(|(c, d)| NewRow {
            id: None,
            cells: vec![
                text_cell(&acc_company, text(*c)),
                text_cell(&acc_domain, text(*d)),
            ],
        })
        .collect();
    db.add_rows(&accounts, &account_rows, usize::MAX)?;
    seed_contacts(db, ws, &customers, day(5))?;

    // 90 days of credit use. Jonas burns most of the pool; Ines stopped 70 days ago; Tom
    // never spends; Sam spent until he was removed 20 days ago.
    let mut entries = 0usize;
    let mut spent = 0.0;
    {
        let tx = db.conn.transaction()?;
        let mut charge = |at: i64,
                          user: Option<&str>,
                          account: Option<&str>,
                          pkg: &str,
                          table: &str,
                          credits: f64|
         -> Result<(), LocalError> {
            tx.execute(
                "INSERT INTO ledger(workspace_id, at, user_id, integration_id, package_id, table_id, credits)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)",
                params![at, user, account, pkg, table, credits],
            )?;
            entries += 1;
            spent += credits;
            Ok(())
        };
        for d in 0..90i64 {
            let at = |k: i64| now - d * DAY_MS - (k + 1) * 3_600_000;
            for k in 0..10 {
                charge(at(k), Some("1001"), Some(&hunter), "hunter", &leads, 2.0)?;
                charge(at(k), Some("1001"), Some(&openai), "openai", &accounts, 1.0)?;
            }
            for k in 0..3 {
                charge(at(k), Some("1001"), Some(&lusha), "lusha", &leads, 10.0)?;
            }
            for k in 0..4 {
                charge(at(k), Some("1002"), Some(&hunter), "hunter", &leads, 2.0)?;
            }
            if d % 2 == 0 {
                charge(
                    at(1),
                    Some("1003"),
                    Some(&clearbit),
                    "clearbit",
                    &events,
                    1.0,
                )?;
                charge(
                    at(2),
                    Some("1003"),
                    Some(&clearbit),
                    "clearbit",
                    &events,
                    1.0,
                )?;
                charge(at(3), Some("1003"), Some(&hunter), "hunter", &leads, 2.0)?;
            }
            charge(
                at(4),
                Some("1000"),
                Some(&clearbit),
                "clearbit",
                &leads,
                1.0,
            )?;
            if d >= 20 {
                for k in 0..3 {
                    charge(at(k), Some("1004"), Some(&hunter), "hunter", &leads, 2.0)?;
                }
                charge(at(5), Some("1004"), Some(&lusha), "lusha", &leads, 10.0)?;
            }
            if d >= 70 {
                charge(at(6), Some("1005"), Some(&hunter), "hunter", &leads, 2.0)?;
                charge(at(7), Some("1005"), Some(&hunter), "hunter", &leads, 2.0)?;
            }
            if d % 7 == 3 {
                charge(at(8), None, None, "zerobounce", &leads, 5.0)?;
            }
        }
        tx.commit().map_err(sql).map_err(LocalError::Clay)?;
    }
    Ok(SeedSummary {
        members: MEMBERS.len(),
        integrations: 4,
        leads_table_id: leads,
        leads_rows: rows.len(),
        ledger_entries: entries,
        credits_spent: spent,
    })
}

/// (full name, email, company, phone, source). The `re-import` rows repeat an earlier
/// contact: a re-typed email, a +tag, the same name at the same company under another
/// address. The `look-alike` rows only resemble one and must survive a dedupe.
const CONTACTS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "Ada Lovelace",
        "ada.lovelace@acme.com",
        "Acme Corp",
        "+1 415 555 0101",
        "webinar",
    ),
    (
        "Grace Hopper",
        "grace@globex.com",
        "Globex",
        "+1 415 555 0102",
        "webinar",
    ),
    (
        "Alan Turing",
        "alan.turing@initech.io",
        "Initech",
        "+44 20 7946 0103",
        "conference",
    ),
    (
        "Linus Torvalds",
        "linus@hooli.xyz",
        "Hooli",
        "+1 503 555 0104",
        "conference",
    ),
    (
        "Margaret Hamilton",
        "mhamilton@stark.com",
        "Stark Industries",
        "+1 617 555 0105",
        "referral",
    ),
    (
        "Ken Thompson",
        "ken@wayne.co",
        "Wayne Enterprises",
        "+1 908 555 0106",
        "webinar",
    ),
    (
        "Barbara Liskov",
        "barbara.liskov@tyrell.ai",
        "Tyrell",
        "+1 617 555 0107",
        "conference",
    ),
    (
        "Dennis Ritchie",
        "dmr@cyberdyne.net",
        "Cyberdyne",
        "+1 908 555 0108",
        "referral",
    ),
    (
        "Frances Allen",
        "fran.allen@soylent.com",
        "Soylent",
        "+1 914 555 0109",
        "webinar",
    ),
    (
        "Radia Perlman",
        "radia@piedpiper.com",
        "Pied Piper",
        "+1 650 555 0110",
        "conference",
    ),
    (
        "Hedy Lamarr",
        "hedy.lamarr@gmail.com",
        "Vandelay Industries",
        "+1 212 555 0111",
        "referral",
    ),
    (
        "Edsger Dijkstra",
        "edsger@umbrella-health.com",
        "Umbrella Health",
        "+31 20 555 0112",
        "webinar",
    ),
    (
        "ADA LOVELACE",
        "  Ada.Lovelace@ACME.com ",
        "Acme Corp",
        "415-555-0101",
        "re-import",
    ),
    (
        "Grace Hopper",
        "grace+events@globex.com",
        "Globex",
        "",
        "re-import",
    ),
    (
        "Alan M. Turing",
        "aturing@initech.io",
        "Initech",
        "",
        "re-import",
    ),
    (
        "Ken Thompson",
        "KEN@WAYNE.CO",
        "Wayne Enterprises",
        "(908) 555-0106",
        "re-import",
    ),
    (
        "Radia Perlman",
        "radia.perlman@piedpiper.com",
        "Pied Piper",
        "",
        "re-import",
    ),
    (
        "Alan Turing",
        "alan@turing.example",
        "Bletchley Labs",
        "",
        "look-alike",
    ),
    (
        "Ada Byron",
        "ada.byron@acme.com",
        "Acme Corp",
        "",
        "look-alike",
    ),
    (
        "Hedy Lamarr",
        "hedy@vandelay.com",
        "Vandelay Industries",
        "",
        "look-alike",
    ),
    (
        "Dennis Ritchie",
        "dennis.ritchie@yahoo.com",
        "",
        "",
        "look-alike",
    ),
    (
        "Sophie Wilson",
        "sophie.wilson@acorn.co.uk",
        "Acorn",
        "+44 1223 555 0122",
        "conference",
    ),
];

/// A small contact list with known duplicates, for dedupe-contacts.
fn seed_contacts(db: &mut Db<'_>, ws: u64, workbook: &str, at: i64) -> Result<(), LocalError> {
    let table = db.create_table(ws, workbook, "Contacts", Some("1002"), at)?;
    let mut fields = Vec::new();
    for name in [
        "Full Name",
        "Email",
        "Company",
        "Phone",
        "Source",
        "Duplicate Of",
    ] {
        fields.push(db.add_field(&table, name, FieldKind::Text, None)?);
    }
    let rows: Vec<NewRow> = CONTACTS
        .iter()
        .map(|(name, email, company, phone, source)| NewRow {
            id: None,
            cells: [*name, *email, *company, *phone, *source]
                .into_iter()
                .zip(&fields)
                .map(|(v, f)| CellInput {
                    field_id: f.clone(),
                    value: text(v),
                })
                .collect(),
        })
        .collect();
    db.add_rows(&table, &rows, usize::MAX)?;
    Ok(())
}
