//! `kiln budget show|set`, and what `run`/`audit` hand an invocation so it is metered
//! and recorded.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{ArgGroup, Args, Subcommand};
use kiln_host::budget::{Budget, Ledger, Scope};
use kiln_host::invocation::{InvocationOptions, now_ms};

use super::remote::BackendKind;
use super::trail::ClusterTrail;
use super::{Context, output, plugins};

#[derive(Subcommand, Debug)]
pub(crate) enum BudgetCommand {
    /// Every budget with what its current period has used.
    Show {
        /// Emit JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        cluster: ClusterTrail,
    },
    /// Cap what a member (across plugins), a plugin (across members) or every plugin
    /// together (--pool) may spend.
    Set(SetArgs),
    /// Remove a member's, a plugin's or the pool's budget.
    Remove(WhoArgs),
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("who").required(true).args(["member", "plugin", "pool"])))]
pub(crate) struct WhoArgs {
    /// A member, by email.
    #[arg(long)]
    member: Option<String>,
    /// A plugin: its `.wasm`, a bundled plugin's name, or its SHA-256 (`kiln inspect` shows
    /// it). Budgets key on the component's hash, so renaming a plugin does not escape its
    /// budget and another plugin taking its name does not spend it.
    #[arg(long)]
    plugin: Option<String>,
    /// With --plugin <crate dir>: build it to learn its hash (its build scripts run natively).
    #[arg(long)]
    build: bool,
    #[command(flatten)]
    cluster: ClusterTrail,
    /// Everything spent through kiln against this workspace, by any plugin and member.
    #[arg(long)]
    pool: bool,
}

impl WhoArgs {
    /// The budget's key, and for a plugin the name to show for it.
    fn scope(&self) -> anyhow::Result<(Scope, Option<String>)> {
        match (&self.member, &self.plugin) {
            (None, None) if self.pool => Ok((Scope::Pool, None)),
            (Some(m), None) if m.contains('@') => Ok((Scope::member(m), None)),
            (Some(m), None) => bail!("--member takes the member's email, not `{m}`"),
            (None, Some(p)) if plugins::is_sha256(p.trim()) => Ok((Scope::plugin(p), None)),
            (None, Some(p)) => {
                let id = plugins::identify(p, self.build).with_context(|| {
                    format!(
                        "plugin budgets key on the component's SHA-256, so `{p}` must be a .wasm file, a bundled plugin or a SHA-256 (`kiln inspect <plugin>` prints it)"
                    )
                })?;
                Ok((Scope::plugin(&id.sha256), Some(id.name)))
            }
            _ => bail!("name exactly one of --member, --plugin or --pool"),
        }
    }
}

/// How `budget show` and `set` name a budget. The label is the plugin's manifest name,
/// chosen by the plugin, and legacy keys were too: both are shown inert.
fn shown(scope: &Scope, label: Option<&str>) -> String {
    super::output::sanitize(&match scope {
        Scope::Pool => "everything spent through kiln".to_string(),
        Scope::Member(email) => email.clone(),
        Scope::Plugin(key) if scope.is_legacy_plugin_name() => {
            format!("{key} (by name, from an older kiln: re-set it with --plugin <file.wasm>)")
        }
        Scope::Plugin(key) => {
            let short = key.get(..12).unwrap_or(key);
            match label {
                Some(name) => format!("{name} (sha256 {short}…)"),
                None => format!("sha256 {short}…"),
            }
        }
    })
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
    // Over HTTP, runs keep their ledger in kiln's own state file, not in a workspace file:
    // a budget set anywhere else would never be consulted.
    if ctx.backend.kind == BackendKind::Http {
        let path = super::remote::http_state_path(ctx)?;
        return Ledger::open(&path).context("opening the credit ledger");
    }
    let path = ctx.workspace_path()?;
    if !path.is_file() {
        bail!(
            "no kiln workspace at {}: budgets live in the workspace file (pass --workspace <file>)",
            path.display()
        );
    }
    Ledger::open(&path).context("opening the credit ledger")
}

pub(crate) async fn budget(ctx: &Context, cmd: BudgetCommand) -> anyhow::Result<ExitCode> {
    // On a cluster, a tenant's budgets are the ones its servers and workers share.
    let cluster = match &cmd {
        BudgetCommand::Show { cluster, .. } => cluster,
        BudgetCommand::Set(args) => &args.who.cluster,
        BudgetCommand::Remove(who) => &who.cluster,
    };
    let ledger = match cluster.connect().await? {
        Some((nats, tenant)) => nats.ledger(&tenant),
        None => open(ctx)?,
    };
    match cmd {
        BudgetCommand::Show { json, .. } => {
            let budgets = ledger.budgets(now_ms())?;
            if json {
                output::json(&budgets)?;
            } else if budgets.is_empty() {
                println!(
                    "no budgets: set one with `kiln budget set --member <email> --credits N` or `--plugin <file.wasm>`"
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
                    let scope = match &b.budget.scope {
                        Scope::Member(_) => "member",
                        Scope::Plugin(_) => "plugin",
                        Scope::Pool => "pool",
                    };
                    t.add_row(vec![
                        scope.to_string(),
                        shown(&b.budget.scope, b.label.as_deref()),
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
            let (scope, label) = args.who.scope()?;
            if matches!(scope, Scope::Member(_)) && ctx.backend.kind == BackendKind::Http {
                eprintln!(
                    "kiln: warning: over HTTP kiln acts as the logged-in Clay session and does not know which member that is, \
                     so member budgets are not applied to runs over HTTP (they are with the local backend). \
                     Cap what plugins spend over HTTP with `kiln budget set --plugin <file.wasm>` and `--max-credits`."
                );
            }
            ledger.set_budget_labeled(
                &Budget {
                    scope: scope.clone(),
                    credits: args.credits,
                    period_days: args.period_days,
                },
                label.as_deref(),
            )?;
            let who = match &scope {
                Scope::Member(_) | Scope::Pool => scope.to_string(),
                Scope::Plugin(_) => format!("plugin {}", shown(&scope, label.as_deref())),
            };
            println!(
                "{who} may spend {} credits per {} days",
                args.credits, args.period_days
            );
        }
        BudgetCommand::Remove(who) => {
            // A name that is no plugin kiln can find may be a budget set by name earlier.
            let scope = match (who.scope(), &who.plugin) {
                (Ok((scope, _)), _) => scope,
                (Err(_), Some(name)) if !name.contains('/') && !name.ends_with(".wasm") => {
                    Scope::Plugin(name.trim().to_string())
                }
                (Err(e), _) => return Err(e),
            };
            let legacy = who
                .plugin
                .as_deref()
                .map(|name| Scope::Plugin(name.trim().to_string()))
                .filter(|s| s.is_legacy_plugin_name() && *s != scope);
            let removed = ledger.remove_budget(&scope)?
                || match &legacy {
                    Some(legacy) => ledger.remove_budget(legacy)?,
                    None => false,
                };
            if removed {
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
    let ledger = Ledger::open(state).context("opening the credit ledger")?;
    if member.is_none() {
        let member_budgets = ledger
            .budgets(now_ms())?
            .iter()
            .filter(|b| matches!(b.budget.scope, Scope::Member(_)))
            .count();
        if member_budgets > 0 {
            eprintln!(
                "kiln: warning: the acting member is not known (over HTTP kiln acts as the logged-in session), \
                 so {member_budgets} member budget(s) do not apply to this run; plugin budgets and --max-credits do"
            );
        }
    }
    invocation.ledger = Some(ledger);
    invocation.member = member;
    Ok(())
}
