//! Credit budgets every worker shares through JetStream KV. A tenant's budgets, what it
//! spent per day and the holds of calls in flight are one key, changed only by
//! compare-and-set on its revision: of two workers reserving at once, one writes and the
//! other reads again and checks again, so N workers on N machines never together pass a
//! budget. Periods count whole days (UTC).

use std::collections::BTreeMap;
use std::future::Future;

use async_nats::jetstream::kv;
use serde::{Deserialize, Serialize};

use crate::backend::ClayError;
use crate::budget::{
    Budget, BudgetStatus, LedgerError, LedgerStore, ReservationId, Scope, Spender, Totals, refusal,
    scopes_of,
};

const DAY_MS: i64 = 24 * 3600 * 1000;
/// Days of spending kept (the longest period a budget can usefully have).
const KEPT_DAYS: i64 = 3660;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredBudget {
    scope: String,
    credits: f64,
    period_days: u32,
    #[serde(default)]
    label: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Hold {
    scopes: Vec<String>,
    amount: f64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Doc {
    budgets: Vec<StoredBudget>,
    /// Scope key → day → credits committed.
    spent: BTreeMap<String, BTreeMap<i64, f64>>,
    /// Day → calls settled.
    calls: BTreeMap<i64, u64>,
    holds: BTreeMap<i64, Hold>,
    next: i64,
}

impl Doc {
    fn used(&self, scope: &str, since_day: i64) -> f64 {
        self.spent
            .get(scope)
            .map_or(0.0, |days| days.range(since_day..).map(|(_, c)| c).sum())
    }

    fn held(&self, scope: &str) -> f64 {
        self.holds
            .values()
            .filter(|h| h.scopes.iter().any(|s| s == scope))
            .map(|h| h.amount)
            .sum()
    }

    fn applicable<'a>(&'a self, spender: &Spender<'_>) -> Vec<&'a StoredBudget> {
        let keys: Vec<String> = scopes_of(spender).iter().map(Scope::key).collect();
        self.budgets
            .iter()
            .filter(|b| keys.contains(&b.scope))
            .collect()
    }
}

/// A tenant's ledger in the `kiln_budgets` bucket.
pub(crate) struct KvLedger {
    kv: kv::Store,
    key: String,
    handle: tokio::runtime::Handle,
}

impl KvLedger {
    pub fn new(kv: kv::Store, tenant: &str, handle: tokio::runtime::Handle) -> Self {
        Self {
            kv,
            key: format!("tenant.{tenant}"),
            handle,
        }
    }

    fn fail(&self, e: impl std::fmt::Display) -> LedgerError {
        LedgerError::Store {
            at: self.location(),
            message: e.to_string(),
        }
    }

    /// The ledger's callers are synchronous (they run on the blocking pool, or in a drop).
    fn block<F: Future>(&self, fut: F) -> F::Output {
        tokio::task::block_in_place(|| self.handle.block_on(fut))
    }

    fn read(&self) -> Result<(Doc, u64), LedgerError> {
        self.block(async {
            match self.kv.entry(&self.key).await.map_err(|e| self.fail(e))? {
                Some(entry) if entry.operation == kv::Operation::Put => {
                    let doc = serde_json::from_slice(&entry.value).map_err(|e| self.fail(e))?;
                    Ok((doc, entry.revision))
                }
                Some(entry) => Ok((Doc::default(), entry.revision)),
                None => Ok((Doc::default(), 0)),
            }
        })
    }

    /// Applies `change` to the latest version until a compare-and-set lands. `change`
    /// answers its result and whether there is anything to write.
    fn change<T>(&self, mut change: impl FnMut(&mut Doc) -> (T, bool)) -> Result<T, LedgerError> {
        for attempt in 0..500u32 {
            let (mut doc, revision) = self.read()?;
            let (out, write) = change(&mut doc);
            if !write {
                return Ok(out);
            }
            let body = serde_json::to_vec(&doc).map_err(|e| self.fail(e))?;
            let landed = self.block(self.kv.update(&self.key, body.into(), revision));
            match landed {
                Ok(_) => return Ok(out),
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                    // Another worker wrote first: read its version and decide again.
                    std::thread::sleep(std::time::Duration::from_micros(
                        200 * u64::from(attempt.min(50)),
                    ));
                }
                Err(e) => return Err(self.fail(e)),
            }
        }
        Err(self.fail("too many workers changed the ledger at once; try again"))
    }
}

impl LedgerStore for KvLedger {
    fn location(&self) -> String {
        format!("JetStream KV kiln_budgets/{}", self.key)
    }

    fn set_budget_labeled(&self, budget: &Budget, label: Option<&str>) -> Result<(), LedgerError> {
        let key = budget.scope.key();
        self.change(|doc| {
            doc.budgets.retain(|b| b.scope != key);
            doc.budgets.push(StoredBudget {
                scope: key.clone(),
                credits: budget.credits,
                period_days: budget.period_days,
                label: label.map(str::to_string),
            });
            doc.budgets.sort_by(|a, b| a.scope.cmp(&b.scope));
            ((), true)
        })
    }

    fn remove_budget(&self, scope: &Scope) -> Result<bool, LedgerError> {
        let key = scope.key();
        self.change(|doc| {
            let before = doc.budgets.len();
            doc.budgets.retain(|b| b.scope != key);
            let removed = doc.budgets.len() < before;
            (removed, removed)
        })
    }

    fn budgets(&self, now_ms: i64) -> Result<Vec<BudgetStatus>, LedgerError> {
        let (doc, _) = self.read()?;
        Ok(doc
            .budgets
            .iter()
            .map(|b| {
                let since = (now_ms - b.period_days as i64 * DAY_MS).div_euclid(DAY_MS);
                let spent = doc.used(&b.scope, since + 1);
                let reserved = doc.held(&b.scope);
                BudgetStatus {
                    budget: Budget {
                        scope: Scope::from_key(&b.scope),
                        credits: b.credits,
                        period_days: b.period_days,
                    },
                    label: b.label.clone(),
                    spent,
                    reserved,
                    remaining: (b.credits - spent - reserved).max(0.0),
                }
            })
            .collect())
    }

    fn has_budget_for(&self, spender: &Spender<'_>) -> Result<bool, LedgerError> {
        let (doc, _) = self.read()?;
        Ok(!doc.applicable(spender).is_empty())
    }

    fn reserve(
        &self,
        spender: &Spender<'_>,
        estimate: f64,
        now_ms: i64,
    ) -> Result<Result<ReservationId, ClayError>, LedgerError> {
        let scopes: Vec<String> = scopes_of(spender).iter().map(Scope::key).collect();
        self.change(|doc| {
            for b in doc.applicable(spender) {
                let since = (now_ms - b.period_days as i64 * DAY_MS).div_euclid(DAY_MS);
                let spent = doc.used(&b.scope, since + 1);
                let reserved = doc.held(&b.scope);
                if estimate > b.credits - spent - reserved + 1e-9 {
                    let budget = Budget {
                        scope: Scope::from_key(&b.scope),
                        credits: b.credits,
                        period_days: b.period_days,
                    };
                    return (
                        Err(refusal(&budget, spender, estimate, spent, reserved)),
                        false,
                    );
                }
            }
            // Spending is kept only where a budget (or the pool, which every call counts
            // against) will read it: one key per member and plugin a tenant ever had, a day
            // each, would outgrow what NATS carries in one message. A budget set later counts
            // from then on.
            let pool = Scope::Pool.key();
            let kept: Vec<String> = scopes
                .iter()
                .filter(|k| **k == pool || doc.budgets.iter().any(|b| b.scope == **k))
                .cloned()
                .collect();
            let id = doc.next;
            doc.next += 1;
            doc.holds.insert(
                id,
                Hold {
                    scopes: kept,
                    amount: estimate,
                },
            );
            (Ok(ReservationId::new(id)), true)
        })
    }

    fn settle(&self, id: ReservationId, spent: f64, committed: bool) -> Result<(), LedgerError> {
        let today = crate::invocation::now_ms().div_euclid(DAY_MS);
        self.change(|doc| {
            let Some(hold) = doc.holds.remove(&id.get()) else {
                return ((), false);
            };
            if committed {
                for scope in hold.scopes {
                    *doc.spent
                        .entry(scope)
                        .or_default()
                        .entry(today)
                        .or_default() += spent;
                }
            }
            *doc.calls.entry(today).or_default() += 1;
            for days in doc.spent.values_mut() {
                days.retain(|day, _| *day > today - KEPT_DAYS);
            }
            doc.calls.retain(|day, _| *day > today - KEPT_DAYS);
            ((), true)
        })
    }

    fn totals(&self, since_ms: i64) -> Result<Totals, LedgerError> {
        let (doc, _) = self.read()?;
        let since = since_ms.div_euclid(DAY_MS);
        Ok(Totals {
            // Every call's spending counts against the pool's key.
            spent: doc.used(&Scope::Pool.key(), since),
            reserved: doc.holds.values().map(|h| h.amount).sum(),
            calls: doc.calls.range(since..).map(|(_, n)| n).sum(),
            open_reservations: doc.holds.len() as u64,
        })
    }
}
