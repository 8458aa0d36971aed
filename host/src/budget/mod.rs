//! Credit budgets: Clay shares one credit pool between all members and caps nobody, so
//! kiln meters every credit-spending call a plugin makes.
//!
//! Before a call that spends credits (running an enrichment column) runs, its estimated
//! cost is reserved against the invocation's per-run budget and against every per-member
//! and per-plugin budget in the [`Ledger`]; a call that would exceed one gets
//! `budget-exhausted` naming it, before anything is spent. Afterwards the actual cost is
//! committed and the rest refunded — everything when the call failed.
//!
//! Unknowns are never taken for zero: a column whose cost per row Clay does not say cannot
//! run under a budget (the refusal says so), and a run whose answer does not say what it
//! spent is charged its estimate. Only a call with no budget at all and neither number known
//! goes unmetered, and that is logged as a warning.

mod ledger;
#[cfg(test)]
mod tests;

use std::future::Future;

use ledger::fmt_credits;
pub(crate) use ledger::refusal;
pub use ledger::{
    Budget, BudgetStatus, Ledger, LedgerError, LedgerStore, ReservationId, Scope, Spender, Totals,
    is_sha256, scopes_of,
};

use crate::backend::model::RunResult;
use crate::backend::{ClayError, ClayResult};
use crate::state_db::now_ms;

/// Credits are decimals; never refuse a call over rounding noise.
const EPSILON: f64 = 1e-9;

/// One invocation's spending: its per-run budget, who it spends as, and the ledger.
pub struct Meter {
    plugin: String,
    plugin_sha256: String,
    member: Option<String>,
    invocation_id: String,
    per_run: Option<f64>,
    ledger: Option<Ledger>,
    spent: f64,
}

impl Meter {
    /// `plugin`: the plugin's name (for messages); `plugin_sha256`: its component's hash,
    /// which plugin budgets key on. `per_run`: credits this invocation may spend (`None`:
    /// no per-run cap). `ledger`: where per-member and per-plugin budgets are kept and
    /// spending is recorded.
    pub fn new(
        plugin: &str,
        plugin_sha256: &str,
        member: Option<String>,
        invocation_id: String,
        per_run: Option<f64>,
        ledger: Option<Ledger>,
    ) -> Self {
        Self {
            plugin: plugin.to_string(),
            plugin_sha256: plugin_sha256.to_string(),
            member,
            invocation_id,
            per_run,
            ledger,
            spent: 0.0,
        }
    }

    /// Credits this invocation has spent so far.
    pub fn spent(&self) -> f64 {
        self.spent
    }

    /// Runs a credit-spending call under the budgets. `estimate` is always awaited (it is
    /// what is committed if the run does not say what it spent); `run` only when the
    /// estimate fits every budget, and under a budget only when there is an estimate.
    pub async fn spend(
        &mut self,
        estimate: impl Future<Output = ClayResult<f64>> + Send,
        run: impl Future<Output = ClayResult<RunResult>> + Send,
    ) -> ClayResult<RunResult> {
        let limited = self.per_run.is_some()
            || match &self.ledger {
                Some(ledger) => {
                    let (ledger, plugin, sha, member, inv) = self.owned(ledger);
                    blocking(move || {
                        ledger.has_budget_for(&Spender {
                            plugin: &plugin,
                            plugin_sha256: &sha,
                            member: member.as_deref(),
                            invocation_id: &inv,
                        })
                    })
                    .await?
                }
                None => false,
            };
        // Always estimated, budget or not: the estimate is also what is committed when
        // Clay's answer does not say what the call spent.
        let estimate = match estimate.await {
            Ok(e) if e.is_finite() && e >= 0.0 => Some(e),
            Ok(e) if limited => {
                return Err(ClayError::Unavailable(format!(
                    "the backend estimated this call's cost as {e} credits, so the budget cannot be checked"
                )));
            }
            // Under a budget an unknown cost is refused: it could be anything.
            Err(e) if limited => return Err(e),
            Ok(e) => {
                tracing::warn!(plugin = %self.plugin, "no usable cost estimate ({e} credits) for an unbudgeted credit-spending call");
                None
            }
            Err(e) => {
                tracing::warn!(plugin = %self.plugin, "running an unbudgeted credit-spending call whose cost is unknown: {e}");
                None
            }
        };
        let reserved = estimate.unwrap_or(0.0);
        if let Some(limit) = self.per_run {
            let left = limit - self.spent;
            if reserved > left + EPSILON {
                return Err(ClayError::BudgetExhausted(format!(
                    "plugin `{}`'s per-run budget of {} credits: this call may cost up to {} credits, and {} are left",
                    self.plugin,
                    fmt_credits(limit),
                    fmt_credits(reserved),
                    fmt_credits(left.max(0.0))
                )));
            }
        }
        let hold = match &self.ledger {
            None => None,
            Some(ledger) => {
                let (ledger, plugin, sha, member, inv) = self.owned(ledger);
                let id = blocking({
                    let ledger = ledger.clone();
                    move || {
                        let spender = Spender {
                            plugin: &plugin,
                            plugin_sha256: &sha,
                            member: member.as_deref(),
                            invocation_id: &inv,
                        };
                        ledger.reserve(&spender, reserved, now_ms())
                    }
                })
                .await??;
                Some(Hold {
                    ledger,
                    id,
                    estimate: reserved,
                    settled: false,
                })
            }
        };
        let mut result = run.await;
        if let Ok(r) = &mut result
            && r.credits_unreported
        {
            match estimate {
                // Committing 0 would let every unreported run spend outside every budget.
                Some(e) => {
                    tracing::warn!(plugin = %self.plugin, "Clay did not say what the run spent; committing the estimate of {} credits", fmt_credits(e));
                    r.credits_spent = e;
                }
                None => tracing::warn!(
                    plugin = %self.plugin,
                    "Clay did not say what the run spent, and its cost is unknown: it spent an unmetered amount of credits"
                ),
            }
        }
        let spent = result.as_ref().map_or(0.0, |r| r.credits_spent);
        if let Ok(r) = &result {
            self.spent += r.credits_spent;
            if r.credits_spent > reserved + EPSILON && limited {
                tracing::warn!(
                    plugin = %self.plugin,
                    "the call spent {} credits, more than the {} estimated",
                    r.credits_spent,
                    reserved
                );
            }
        }
        if let Some(mut hold) = hold {
            let ledger = hold.ledger.clone();
            let id = hold.id;
            let ok = result.is_ok();
            hold.settled = true;
            blocking(move || {
                if ok {
                    ledger.commit(id, spent)
                } else {
                    ledger.refund(id)
                }
            })
            .await?;
        }
        result
    }

    fn owned(&self, ledger: &Ledger) -> (Ledger, String, String, Option<String>, String) {
        (
            ledger.clone(),
            self.plugin.clone(),
            self.plugin_sha256.clone(),
            self.member.clone(),
            self.invocation_id.clone(),
        )
    }
}

/// A reservation not yet settled. If the call is abandoned mid-flight (its invocation hit
/// a deadline) nobody knows what it spent, so the estimate stays charged: a budget may be
/// under-used, never overspent.
struct Hold {
    ledger: Ledger,
    id: ReservationId,
    estimate: f64,
    settled: bool,
}

impl Drop for Hold {
    fn drop(&mut self) {
        if !self.settled
            && let Err(e) = self.ledger.commit(self.id, self.estimate)
        {
            tracing::error!("could not settle an abandoned credit reservation: {e}");
        }
    }
}

/// Runs ledger SQL on the blocking pool; a ledger failure fails the call, never the host.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LedgerError> + Send + 'static,
) -> ClayResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ClayError::Unavailable(format!("credit ledger task failed: {e}")))?
        .map_err(|e| ClayError::Unavailable(e.to_string()))
}
