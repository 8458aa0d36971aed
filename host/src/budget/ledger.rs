//! The credit ledger in SQLite: budgets per member, per plugin and for the whole pool over a
//! rolling period, and one row per credit-spending call, reserved first and then committed
//! or refunded.
//!
//! A plugin's budget is keyed on the SHA-256 of its component, not on the name its manifest
//! gives itself: a plugin cannot rename itself out of its budget, nor name itself like
//! another plugin to spend that one's. The name is kept as a label, for display. Budgets set
//! before this (keyed by name) still apply to every component of that name, so upgrading
//! never lifts a cap; `kiln budget show` marks them so they can be re-set by hash.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use crate::backend::ClayError;
use crate::state_db::StateDb;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS kiln_budgets (
    scope TEXT NOT NULL CHECK (scope IN ('member', 'plugin', 'pool')),
    name TEXT NOT NULL,
    credits REAL NOT NULL CHECK (credits >= 0),
    period_days INTEGER NOT NULL CHECK (period_days > 0),
    label TEXT,
    PRIMARY KEY (scope, name)
);
-- state: reserved (in flight: `reserved` counts), committed (`spent` counts), refunded.
CREATE TABLE IF NOT EXISTS kiln_spend (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    plugin TEXT NOT NULL,
    plugin_sha256 TEXT,
    member TEXT,
    invocation_id TEXT NOT NULL,
    reserved REAL NOT NULL,
    spent REAL NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('reserved', 'committed', 'refunded'))
);
CREATE INDEX IF NOT EXISTS kiln_spend_plugin ON kiln_spend(plugin, at_ms);
CREATE INDEX IF NOT EXISTS kiln_spend_member ON kiln_spend(member, at_ms);
CREATE INDEX IF NOT EXISTS kiln_spend_at ON kiln_spend(at_ms);
"#;

/// Columns added since the first ledger schema: (table, column, declaration). Files written
/// by an older kiln get them on open.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("kiln_budgets", "label", "TEXT"),
    ("kiln_spend", "plugin_sha256", "TEXT"),
];

/// `kiln_budgets` as files from before pool budgets have it: its CHECK refuses `pool`, and
/// SQLite cannot alter a CHECK, so the table is rebuilt under the new schema.
const OLD_SCOPE_CHECK: &str = "CHECK (scope IN ('member', 'plugin'))";
const REBUILD_BUDGETS: &str = r#"
CREATE TABLE kiln_budgets_new (
    scope TEXT NOT NULL CHECK (scope IN ('member', 'plugin', 'pool')),
    name TEXT NOT NULL,
    credits REAL NOT NULL CHECK (credits >= 0),
    period_days INTEGER NOT NULL CHECK (period_days > 0),
    label TEXT,
    PRIMARY KEY (scope, name)
);
INSERT INTO kiln_budgets_new(scope, name, credits, period_days, label)
    SELECT scope, name, credits, period_days, label FROM kiln_budgets;
DROP TABLE kiln_budgets;
ALTER TABLE kiln_budgets_new RENAME TO kiln_budgets;
"#;

const SPEND_SHA_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS kiln_spend_plugin_sha256 ON kiln_spend(plugin_sha256, at_ms);";

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Who a budget caps.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "scope", content = "name", rename_all = "snake_case")]
pub enum Scope {
    /// A member (by email), across every plugin acting as them.
    Member(String),
    /// A plugin, whoever runs it: the SHA-256 of its component in hex. (A key that is not a
    /// SHA-256 is a budget from before budgets were keyed by hash: it caps every component
    /// whose manifest has that name.)
    Plugin(String),
    /// Every call recorded in this ledger, whoever makes it: what kiln may spend of the
    /// workspace's pool (in `kiln serve`, a tenant's credits per period).
    Pool,
}

impl Scope {
    /// Emails are matched case-insensitively, as Clay does.
    pub fn member(email: &str) -> Self {
        Scope::Member(email.trim().to_lowercase())
    }

    /// A plugin's budget by the SHA-256 of its component (or, legacy, by name).
    pub fn plugin(sha256: &str) -> Self {
        let key = sha256.trim();
        if is_sha256(key) {
            Scope::Plugin(key.to_ascii_lowercase())
        } else {
            Scope::Plugin(key.to_string())
        }
    }

    /// A plugin budget keyed by name, as budgets were before they were keyed by hash.
    pub fn is_legacy_plugin_name(&self) -> bool {
        matches!(self, Scope::Plugin(key) if !is_sha256(key))
    }

    /// The scope as one string (`pool`, `member:<email>`, `plugin:<sha256>`), and back.
    pub fn key(&self) -> String {
        match self {
            Scope::Pool => "pool".to_string(),
            _ => format!("{}:{}", self.kind(), self.name()),
        }
    }

    pub fn from_key(key: &str) -> Self {
        match key.split_once(':') {
            Some((kind, name)) => Scope::from_row(kind, name.to_string()),
            None => Scope::Pool,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Scope::Member(_) => "member",
            Scope::Plugin(_) => "plugin",
            Scope::Pool => "pool",
        }
    }

    fn name(&self) -> &str {
        match self {
            Scope::Member(n) | Scope::Plugin(n) => n,
            Scope::Pool => "*",
        }
    }

    fn from_row(kind: &str, name: String) -> Self {
        match kind {
            "member" => Scope::Member(name),
            "pool" => Scope::Pool,
            _ => Scope::Plugin(name),
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Pool => f.write_str("the pool"),
            _ => write!(f, "{} `{}`", self.kind(), self.name()),
        }
    }
}

/// A cap on credits spent through kiln over a rolling period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Budget {
    #[serde(flatten)]
    pub scope: Scope,
    pub credits: f64,
    pub period_days: u32,
}

/// Whether `s` is a SHA-256 in hex.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A budget and how much of it the current period has used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetStatus {
    #[serde(flatten)]
    pub budget: Budget,
    /// For a plugin budget: the name the plugin went by when the budget was set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Committed spending in the period.
    pub spent: f64,
    /// Held by calls in flight.
    pub reserved: f64,
    pub remaining: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("credit ledger in {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "a budget needs credits ≥ 0 and a period of at least one day (got {credits} credits over {period_days} days)"
    )]
    InvalidBudget { credits: f64, period_days: u32 },
    #[error("credit ledger at {at}: {message}")]
    Store { at: String, message: String },
}

/// Who is about to spend, and how much at most.
#[derive(Debug, Clone)]
pub struct Spender<'a> {
    /// The plugin's name, as its manifest gives it: for display and legacy budgets only.
    pub plugin: &'a str,
    /// The SHA-256 of the plugin's component: what plugin budgets key on.
    pub plugin_sha256: &'a str,
    /// The acting member's email, when known.
    pub member: Option<&'a str>,
    pub invocation_id: &'a str,
}

/// A reservation's row in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservationId(i64);

impl ReservationId {
    /// A store's own number for a reservation.
    pub fn new(n: i64) -> Self {
        Self(n)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// Where a ledger keeps its budgets and spending: a SQLite file, or (for kiln workers on
/// several machines) a store they share. Every method is one atomic step of the store, so
/// concurrent reservations can never together exceed a budget.
pub trait LedgerStore: Send + Sync {
    /// Sets (or replaces) a budget, with a name to show for it.
    fn set_budget_labeled(&self, budget: &Budget, label: Option<&str>) -> Result<(), LedgerError>;
    /// Removes a budget; `false` if there was none.
    fn remove_budget(&self, scope: &Scope) -> Result<bool, LedgerError>;
    /// Every budget with its use in the period ending at `now_ms`.
    fn budgets(&self, now_ms: i64) -> Result<Vec<BudgetStatus>, LedgerError>;
    /// Whether any budget caps this spender.
    fn has_budget_for(&self, spender: &Spender<'_>) -> Result<bool, LedgerError>;
    /// Holds `estimate` against every budget that caps the spender, or refuses naming the
    /// first one it would exceed.
    fn reserve(
        &self,
        spender: &Spender<'_>,
        estimate: f64,
        now_ms: i64,
    ) -> Result<Result<ReservationId, ClayError>, LedgerError>;
    /// Settles a reservation: `spent` committed (the rest refunded), or all refunded.
    fn settle(&self, id: ReservationId, spent: f64, committed: bool) -> Result<(), LedgerError>;
    /// Totals over every call recorded since `since_ms`.
    fn totals(&self, since_ms: i64) -> Result<Totals, LedgerError>;
    /// Where it is, for messages.
    fn location(&self) -> String;
}

/// A handle to a ledger. Clones share one store.
#[derive(Clone)]
pub struct Ledger {
    store: Arc<dyn LedgerStore>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("at", &self.store.location())
            .finish()
    }
}

impl Ledger {
    /// Opens the ledger in `path` (the workspace file, or a state file of its own).
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        Ok(Self {
            store: Arc::new(SqliteLedger::open(path)?),
        })
    }

    /// A ledger in another store.
    pub fn with_store(store: Arc<dyn LedgerStore>) -> Self {
        Self { store }
    }

    /// Sets (or replaces) a budget.
    pub fn set_budget(&self, budget: &Budget) -> Result<(), LedgerError> {
        self.set_budget_labeled(budget, None)
    }

    /// Sets (or replaces) a budget, with a name to show for it (a plugin's manifest name,
    /// since its key is a hash).
    pub fn set_budget_labeled(
        &self,
        budget: &Budget,
        label: Option<&str>,
    ) -> Result<(), LedgerError> {
        check_budget(budget)?;
        self.store.set_budget_labeled(budget, label)
    }

    /// Removes a budget; `false` if there was none.
    pub fn remove_budget(&self, scope: &Scope) -> Result<bool, LedgerError> {
        self.store.remove_budget(scope)
    }

    /// Every budget with its use in the period ending at `now_ms`.
    pub fn budgets(&self, now_ms: i64) -> Result<Vec<BudgetStatus>, LedgerError> {
        self.store.budgets(now_ms)
    }

    /// Whether any budget caps this plugin or member.
    pub fn has_budget_for(&self, spender: &Spender<'_>) -> Result<bool, LedgerError> {
        self.store.has_budget_for(spender)
    }

    /// Holds `estimate` credits against every budget that caps this spender, or refuses
    /// with `BudgetExhausted` naming the first budget it would exceed. The check and the
    /// hold are one atomic step of the store, so concurrent reservations (threads,
    /// processes, machines) can never together exceed a budget.
    pub fn reserve(
        &self,
        spender: &Spender<'_>,
        estimate: f64,
        now_ms: i64,
    ) -> Result<Result<ReservationId, ClayError>, LedgerError> {
        self.store.reserve(spender, estimate, now_ms)
    }

    /// Replaces a reservation with what the call really spent (the rest is refunded).
    pub fn commit(&self, id: ReservationId, spent: f64) -> Result<(), LedgerError> {
        self.store.settle(id, spent, true)
    }

    /// Releases a reservation entirely: the call spent nothing.
    pub fn refund(&self, id: ReservationId) -> Result<(), LedgerError> {
        self.store.settle(id, 0.0, false)
    }

    /// Totals over every call recorded since `since_ms`, for reports and tests.
    pub fn totals(&self, since_ms: i64) -> Result<Totals, LedgerError> {
        self.store.totals(since_ms)
    }
}

fn check_budget(budget: &Budget) -> Result<(), LedgerError> {
    if !(budget.credits.is_finite() && budget.credits >= 0.0) || budget.period_days == 0 {
        return Err(LedgerError::InvalidBudget {
            credits: budget.credits,
            period_days: budget.period_days,
        });
    }
    Ok(())
}

/// The ledger in one SQLite file. Clones share one connection.
struct SqliteLedger {
    inner: Arc<StateDb>,
}

impl SqliteLedger {
    /// Opens the ledger in `path` (the workspace file, or a state file of its own).
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        let err = |source| LedgerError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let db = StateDb::open(path, SCHEMA).map_err(err)?;
        {
            let conn = db.conn.lock().unwrap_or_else(|p| p.into_inner());
            for (table, column, decl) in ADDED_COLUMNS {
                add_column(&conn, table, column, decl).map_err(err)?;
            }
            let budgets_sql: String = conn
                .query_row(
                    "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'kiln_budgets'",
                    [],
                    |r| r.get(0),
                )
                .map_err(err)?;
            if budgets_sql.contains(OLD_SCOPE_CHECK) {
                conn.execute_batch(&format!("BEGIN IMMEDIATE;{REBUILD_BUDGETS}COMMIT;"))
                    .map_err(err)?;
            }
            conn.execute_batch(SPEND_SHA_INDEX).map_err(err)?;
        }
        Ok(Self {
            inner: Arc::new(db),
        })
    }

    fn sql(&self, source: rusqlite::Error) -> LedgerError {
        LedgerError::Sqlite {
            path: self.inner.path.clone(),
            source,
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.inner.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl LedgerStore for SqliteLedger {
    fn location(&self) -> String {
        self.inner.path.display().to_string()
    }

    /// Sets (or replaces) a budget, with a name to show for it (a plugin's manifest name,
    /// since its key is a hash).
    fn set_budget_labeled(&self, budget: &Budget, label: Option<&str>) -> Result<(), LedgerError> {
        self.conn()
            .execute(
                "INSERT INTO kiln_budgets(scope, name, credits, period_days, label)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(scope, name) DO UPDATE SET credits = excluded.credits,
                                                        period_days = excluded.period_days,
                                                        label = excluded.label",
                params![
                    budget.scope.kind(),
                    budget.scope.name(),
                    budget.credits,
                    budget.period_days,
                    label
                ],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// Removes a budget; `false` if there was none.
    fn remove_budget(&self, scope: &Scope) -> Result<bool, LedgerError> {
        let n = self
            .conn()
            .execute(
                "DELETE FROM kiln_budgets WHERE scope = ?1 AND name = ?2",
                params![scope.kind(), scope.name()],
            )
            .map_err(|e| self.sql(e))?;
        Ok(n > 0)
    }

    /// Every budget with its use in the period ending at `now_ms`.
    fn budgets(&self, now_ms: i64) -> Result<Vec<BudgetStatus>, LedgerError> {
        let conn = self.conn();
        let budgets: Vec<(Budget, Option<String>)> = {
            let mut stmt = conn
                .prepare(
                    "SELECT scope, name, credits, period_days, label FROM kiln_budgets
                     ORDER BY scope, name",
                )
                .map_err(|e| self.sql(e))?;
            stmt.query_map([], |r| {
                let kind: String = r.get(0)?;
                Ok((
                    Budget {
                        scope: Scope::from_row(&kind, r.get(1)?),
                        credits: r.get(2)?,
                        period_days: r.get(3)?,
                    },
                    r.get(4)?,
                ))
            })
            .map_err(|e| self.sql(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.sql(e))?
        };
        budgets
            .into_iter()
            .map(|(budget, label)| {
                let (spent, reserved) = used(
                    &conn,
                    &budget.scope,
                    now_ms - budget.period_days as i64 * DAY_MS,
                )
                .map_err(|e| self.sql(e))?;
                Ok(BudgetStatus {
                    remaining: (budget.credits - spent - reserved).max(0.0),
                    label,
                    budget,
                    spent,
                    reserved,
                })
            })
            .collect()
    }

    /// Whether any budget caps this plugin or member.
    fn has_budget_for(&self, spender: &Spender<'_>) -> Result<bool, LedgerError> {
        let conn = self.conn();
        Ok(!applicable(&conn, spender)
            .map_err(|e| self.sql(e))?
            .is_empty())
    }

    /// Holds `estimate` credits against every budget that caps this spender, or refuses
    /// with `BudgetExhausted` naming the first budget it would exceed. The check and the
    /// hold are one write transaction, so concurrent reservations (threads or processes)
    /// can never together exceed a budget.
    fn reserve(
        &self,
        spender: &Spender<'_>,
        estimate: f64,
        now_ms: i64,
    ) -> Result<Result<ReservationId, ClayError>, LedgerError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sql(e))?;
        for budget in applicable(&tx, spender).map_err(|e| self.sql(e))? {
            let since = now_ms - budget.period_days as i64 * DAY_MS;
            let (spent, reserved) = used(&tx, &budget.scope, since).map_err(|e| self.sql(e))?;
            let left = budget.credits - spent - reserved;
            if estimate > left + 1e-9 {
                return Ok(Err(refusal(&budget, spender, estimate, spent, reserved)));
            }
        }
        tx.execute(
            "INSERT INTO kiln_spend(at_ms, plugin, plugin_sha256, member, invocation_id, reserved, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'reserved')",
            params![
                now_ms,
                spender.plugin,
                spender.plugin_sha256.to_ascii_lowercase(),
                spender.member.map(str::to_lowercase),
                spender.invocation_id,
                estimate
            ],
        )
        .map_err(|e| self.sql(e))?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(Ok(ReservationId(id)))
    }

    fn settle(&self, id: ReservationId, spent: f64, committed: bool) -> Result<(), LedgerError> {
        let state = if committed { "committed" } else { "refunded" };
        self.conn()
            .execute(
                "UPDATE kiln_spend SET spent = ?2, state = ?3 WHERE id = ?1 AND state = 'reserved'",
                params![id.0, spent, state],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// Totals over every call recorded since `since_ms`, for reports and tests.
    fn totals(&self, since_ms: i64) -> Result<Totals, LedgerError> {
        self.conn()
            .query_row(
                "SELECT COALESCE(SUM(CASE state WHEN 'committed' THEN spent ELSE 0 END), 0),
                        COALESCE(SUM(CASE state WHEN 'reserved' THEN reserved ELSE 0 END), 0),
                        COUNT(*),
                        COALESCE(SUM(state = 'reserved'), 0)
                 FROM kiln_spend WHERE at_ms >= ?1",
                [since_ms],
                |r| {
                    Ok(Totals {
                        spent: r.get(0)?,
                        reserved: r.get(1)?,
                        calls: r.get::<_, i64>(2)? as u64,
                        open_reservations: r.get::<_, i64>(3)? as u64,
                    })
                },
            )
            .map_err(|e| self.sql(e))
    }
}

/// What the ledger holds over a period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Totals {
    pub spent: f64,
    pub reserved: f64,
    pub calls: u64,
    pub open_reservations: u64,
}

pub(crate) fn fmt_credits(c: f64) -> String {
    if c.fract() == 0.0 {
        format!("{c:.0}")
    } else {
        format!("{c:.2}")
    }
}

/// What a reservation past `budget` is told: which budget, what the call may cost, and
/// what is left.
pub(crate) fn refusal(
    budget: &Budget,
    spender: &Spender<'_>,
    estimate: f64,
    spent: f64,
    reserved: f64,
) -> ClayError {
    let left = budget.credits - spent - reserved;
    ClayError::BudgetExhausted(format!(
        "{}'s budget of {} credits per {} days: this call may cost up to {} credits, \
         and {} are left ({} spent, {} held by calls in flight)",
        describe(&budget.scope, spender),
        fmt_credits(budget.credits),
        budget.period_days,
        fmt_credits(estimate),
        fmt_credits(left.max(0.0)),
        fmt_credits(spent),
        fmt_credits(reserved)
    ))
}

/// Every scope a spender's spending counts against, whether or not a budget caps it now.
pub fn scopes_of(spender: &Spender<'_>) -> Vec<Scope> {
    let mut scopes = Vec::new();
    if let Some(m) = spender.member {
        scopes.push(Scope::member(m));
    }
    // By hash; and a budget set by name before budgets were keyed by hash still caps every
    // plugin that calls itself that name (it can only be stricter, never looser).
    scopes.push(Scope::plugin(spender.plugin_sha256));
    let legacy = Scope::Plugin(spender.plugin.trim().to_string());
    if legacy.is_legacy_plugin_name() && !scopes.contains(&legacy) {
        scopes.push(legacy);
    }
    scopes.push(Scope::Pool);
    scopes
}

/// How a refusal names a budget: a plugin's by the name it runs as and its hash.
fn describe(scope: &Scope, spender: &Spender<'_>) -> String {
    match scope {
        Scope::Plugin(key) if is_sha256(key) => format!(
            "plugin `{}` (sha256 {})",
            spender.plugin,
            key.get(..12).unwrap_or(key)
        ),
        other => other.to_string(),
    }
}

fn applicable(conn: &Connection, spender: &Spender<'_>) -> rusqlite::Result<Vec<Budget>> {
    let mut out = Vec::new();
    let scopes = scopes_of(spender);
    for scope in scopes {
        let found: Option<(f64, u32)> = conn
            .query_row(
                "SELECT credits, period_days FROM kiln_budgets WHERE scope = ?1 AND name = ?2",
                params![scope.kind(), scope.name()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((credits, period_days)) = found {
            out.push(Budget {
                scope,
                credits,
                period_days,
            });
        }
    }
    Ok(out)
}

/// (committed, reserved) credits of a scope since `since_ms`.
fn used(conn: &Connection, scope: &Scope, since_ms: i64) -> rusqlite::Result<(f64, f64)> {
    let column = match scope {
        Scope::Member(_) => "member",
        Scope::Plugin(key) if is_sha256(key) => "plugin_sha256",
        Scope::Plugin(_) => "plugin",
        Scope::Pool => {
            return conn.query_row(
                "SELECT COALESCE(SUM(CASE state WHEN 'committed' THEN spent ELSE 0 END), 0),
                        COALESCE(SUM(CASE state WHEN 'reserved' THEN reserved ELSE 0 END), 0)
                 FROM kiln_spend WHERE at_ms >= ?1",
                params![since_ms],
                |r| Ok((r.get(0)?, r.get(1)?)),
            );
        }
    };
    conn.query_row(
        &format!(
            "SELECT COALESCE(SUM(CASE state WHEN 'committed' THEN spent ELSE 0 END), 0),
                    COALESCE(SUM(CASE state WHEN 'reserved' THEN reserved ELSE 0 END), 0)
             FROM kiln_spend WHERE {column} = ?1 AND at_ms >= ?2"
        ),
        params![scope.name(), since_ms],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Adds `column` to `table` unless it is there already.
fn add_column(conn: &Connection, table: &str, column: &str, decl: &str) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    let exists = stmt
        .query_map([], |r| r.get::<_, String>(1))?
        .collect::<Result<Vec<_>, _>>()?
        .iter()
        .any(|c| c == column);
    if !exists {
        conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
    }
    Ok(())
}
