//! `kiln budget show|set`, and what `run`/`audit` hand an invocation so it is metered
//! and recorded.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{ArgGroup, Args, Subcommand};
use kiln_host::budget::{Budget, Ledger, Scope};
use kiln_host::invocation::{InvocationOptions, now_ms};

use super::{Context, output};

#[derive(Subcommand, Debug)]
pub(crate) enum BudgetCommand {
    /// Every budget with what its current period has used.
    Show {
        /// Emit JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Cap what a member (across plugins) or a plugin (across members) may spend.
    Set(SetArgs),
    /// Remove a member's or a plugin's budget.
    Remove(WhoArgs),
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("who").required(true).args(["member", "plugin"])))]
pub(crate) struct WhoArgs {
    /// A member, by email.
    #[arg(long)]
    member: Option<String>,
    /// A plugin, by name.
    #[arg(long)]
    plugin: Option<String>,
}

impl WhoArgs {
    fn scope(&self) -> anyhow::Result<Scope> {
        match (&self.member, &self.plugin) {
            (Some(m), None) if m.contains('@') => Ok(Scope::member(m)),
            (Some(m), None) => bail!("--member takes the member's email, not `{m}`"),
            (None, Some(p)) => Ok(Scope::plugin(p)),
            _ => bail!("name exactly one of --member or --plugin"),
        }
    }
}

#[derive(Args, Debug)]
pub(crate) struct SetArgs {
    #[command(flatten)]
    who: WhoArgs,
    /// Credits allowed per period.
    #[arg(long)]
    credits: f64,
    /// The rolling period, in days.
    #[arg(long, default_value_t = 30)]
    period_days: u32,
}

fn open(ctx: &Context) -> anyhow::Result<Ledger> {
    let path = ctx.workspace_path()?;
    if !path.is_file() {
        bail!(
            "no kiln workspace at {}: budgets live in the workspace file (pass --workspace <file>)",
            path.display()
        );
    }
    Ledger::open(&path).context("opening the credit ledger")
}

pub(crate) fn budget(ctx: &Context, cmd: BudgetCommand) -> anyhow::Result<ExitCode> {
    let ledger = open(ctx)?;
    match cmd {
        BudgetCommand::Show { json } => {
            let budgets = ledger.budgets(now_ms())?;
            if json {
                output::json(&budgets)?;
            } else if budgets.is_empty() {
                println!(
                    "no budgets: set one with `kiln budget set --member <email> --credits N` or `--plugin <name>`"
                );
            } else {
                let mut t = output::table(&[
                    "scope",
                    "name",
                    "credits",
                    "period",
                    "spent",
                    "reserved",
                    "remaining",
                ]);
                for b in &budgets {
                    let (scope, name) = match &b.budget.scope {
                        Scope::Member(n) => ("member", n),
                        Scope::Plugin(n) => ("plugin", n),
                    };
                    t.add_row(vec![
                        scope.to_string(),
                        name.clone(),
                        b.budget.credits.to_string(),
                        format!("{} days", b.budget.period_days),
                        b.spent.to_string(),
                        b.reserved.to_string(),
                        b.remaining.to_string(),
                    ]);
                }
                println!("{t}");
            }
            if !json {
                let totals = ledger.totals(now_ms() - 30 * 24 * 3600 * 1000)?;
                println!(
                    "spent through kiln in the last 30 days: {} credits in {} calls{}",
                    totals.spent,
                    totals.calls,
                    if totals.open_reservations > 0 {
                        format!(
                            "; {} credits held by {} calls in flight",
                            totals.reserved, totals.open_reservations
                        )
                    } else {
                        String::new()
                    }
                );
            }
        }
        BudgetCommand::Set(args) => {
            let scope = args.who.scope()?;
            ledger.set_budget(&Budget {
                scope: scope.clone(),
                credits: args.credits,
                period_days: args.period_days,
            })?;
            println!(
                "{scope} may spend {} credits per {} days",
                args.credits, args.period_days
            );
        }
        BudgetCommand::Remove(who) => {
            let scope = who.scope()?;
            if ledger.remove_budget(&scope)? {
                println!("removed the budget of {scope}");
            } else {
                bail!("{scope} has no budget");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Every CLI invocation is recorded in the trail and metered by the ledger, both in the
/// workspace file, and spends as the acting member.
pub(crate) fn attach(
    state: &Path,
    invocation: &mut InvocationOptions,
    member: Option<String>,
) -> anyhow::Result<()> {
    invocation.trail =
        Some(kiln_host::trail::Trail::open(state).context("opening the audit trail")?);
    invocation.ledger = Some(Ledger::open(state).context("opening the credit ledger")?);
    invocation.member = member;
    Ok(())
}
