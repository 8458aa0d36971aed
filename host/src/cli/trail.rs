//! `kiln trail show|verify`: the audit trail kept in the workspace file.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use kiln_host::trail::{Entry, Filter, Trail};

use super::{Context, output};

#[derive(Subcommand, Debug)]
pub(crate) enum TrailCommand {
    /// List recorded host calls and invocations, oldest first.
    Show(ShowArgs),
    /// Check the hash chain; exits non-zero and names the first broken entry.
    Verify {
        /// Emit JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        cluster: ClusterTrail,
    },
}

/// A tenant's records on a cluster (`kiln worker`s on NATS JetStream), instead of the
/// workspace file's.
#[derive(Args, Debug)]
pub(crate) struct ClusterTrail {
    /// The NATS server the workers use, e.g. nats://127.0.0.1:4222.
    #[arg(long, value_name = "URL", requires = "tenant")]
    pub(crate) nats: Option<String>,
    /// With --nats: whose records (a tenant id of serve.toml).
    #[arg(long, requires = "nats")]
    pub(crate) tenant: Option<String>,
}

impl ClusterTrail {
    /// The cluster and the tenant, when --nats was given.
    pub(crate) async fn connect(
        &self,
    ) -> anyhow::Result<Option<(kiln_host::serve::cluster::Cluster, String)>> {
        let (Some(url), Some(tenant)) = (&self.nats, &self.tenant) else {
            return Ok(None);
        };
        let cluster =
            kiln_host::serve::cluster::Cluster::connect(kiln_host::serve::ClusterConfig::new(url))
                .await
                .context("connecting to the cluster")?;
        Ok(Some((cluster, tenant.clone())))
    }
}

#[derive(Args, Debug)]
pub(crate) struct ShowArgs {
    /// Only this plugin's entries: its `.wasm` or SHA-256 (exactly that component), or a
    /// name (every component that called itself that).
    #[arg(long)]
    plugin: Option<String>,
    /// Only this invocation's entries.
    #[arg(long)]
    invocation: Option<String>,
    /// Only entries since T: a time (`2026-11-23T10:00:00Z`, `2026-11-23 10:00:00`) or a
    /// duration back from now (`2h`, `7days`).
    #[arg(long, value_name = "T", value_parser = parse_since)]
    since: Option<i64>,
    /// At most this many (the latest) entries.
    #[arg(long)]
    limit: Option<usize>,
    /// Emit JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    cluster: ClusterTrail,
}

fn parse_since(s: &str) -> Result<i64, String> {
    let at = if let Ok(ago) = humantime::parse_duration(s) {
        SystemTime::now()
            .checked_sub(ago)
            .ok_or_else(|| format!("`{s}` reaches back before 1970"))?
    } else {
        humantime::parse_rfc3339_weak(s).map_err(|_| {
            format!(
                "`{s}` is neither a time like 2026-11-23T10:00:00Z nor a duration like 2h or 7days"
            )
        })?
    };
    Ok(at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0))
}

/// The trail in the workspace file; refuses to create a file that is not there.
pub(crate) fn open(ctx: &Context) -> anyhow::Result<Trail> {
    // Runs over HTTP record into kiln's state file (`--state`), not a workspace file.
    if ctx.backend.kind == super::remote::BackendKind::Http {
        let path = super::remote::http_state_path(ctx)?;
        return Trail::open(&path).context("opening the audit trail");
    }
    let path = ctx.workspace_path()?;
    if !path.is_file() {
        bail!(
            "no kiln workspace at {}: its audit trail lives in the workspace file (pass --workspace <file>)",
            path.display()
        );
    }
    Trail::open(&path).context("opening the audit trail")
}

async fn open_cluster(cluster: &ClusterTrail) -> anyhow::Result<Option<Trail>> {
    let (Some(url), Some(tenant)) = (&cluster.nats, &cluster.tenant) else {
        return Ok(None);
    };
    let nats =
        kiln_host::serve::cluster::Cluster::connect(kiln_host::serve::ClusterConfig::new(url))
            .await
            .context("connecting to the cluster")?;
    Ok(Some(nats.trail(tenant)))
}

pub(crate) async fn trail(ctx: &Context, cmd: TrailCommand) -> anyhow::Result<ExitCode> {
    let cluster = match &cmd {
        TrailCommand::Show(args) => &args.cluster,
        TrailCommand::Verify { cluster, .. } => cluster,
    };
    let trail = match open_cluster(cluster).await? {
        Some(trail) => trail,
        None => open(ctx)?,
    };
    match cmd {
        TrailCommand::Show(args) => {
            let (plugin, plugin_sha256) = match args.plugin {
                Some(p) if super::plugins::is_sha256(p.trim()) => {
                    (None, Some(p.trim().to_ascii_lowercase()))
                }
                Some(p) if p.ends_with(".wasm") => {
                    (None, Some(super::plugins::identify(&p, false)?.sha256))
                }
                other => (other, None),
            };
            if let Some(name) = &plugin {
                let components = trail.components_named(name)?;
                if components > 1 {
                    eprintln!(
                        "kiln: {components} different components called themselves `{name}`; pass --plugin <file.wasm> or its SHA-256 to see one"
                    );
                }
            }
            let entries = trail.entries(&Filter {
                plugin,
                plugin_sha256,
                invocation_id: args.invocation,
                since_ms: args.since,
                limit: args.limit,
            })?;
            if args.json {
                output::json(&entries)?;
            } else {
                print_entries(&entries);
            }
            Ok(ExitCode::SUCCESS)
        }
        TrailCommand::Verify { json, .. } => {
            let v = trail.verify()?;
            if json {
                output::json(&v)?;
            } else {
                match &v.broken {
                    None => println!("audit trail intact: {} entries, head {}", v.entries, v.head),
                    Some(b) => eprintln!(
                        "audit trail BROKEN: {b}\n({} entries in {})",
                        v.entries,
                        trail.location()
                    ),
                }
            }
            Ok(if v.intact() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

pub(crate) fn time(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// How many targets, and how much of each, a table row shows (`--json` has them whole): a
/// guest chooses the ids it names, and one can be megabytes long.
/// (An applied batch names five: table, batch, rows set, rows deleted, digest.)
const SHOWN_TARGETS: usize = 5;
const TARGET_CHARS: usize = 48;

/// `text` cut to `max` characters, marked when cut; a `sha256:` digest shows its first
/// 12 hex digits, like a short commit id.
fn shorten(text: &str, max: usize) -> String {
    if let Some(hex) = text.strip_prefix("sha256:")
        && hex.len() == 64
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return format!("sha256:{}…", &hex[..12]);
    }
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => format!("{}… ({} bytes)", &text[..end], text.len()),
    }
}

fn print_entries(entries: &[Entry]) {
    if entries.is_empty() {
        println!("no entries");
        return;
    }
    println!("{}", entries_table(entries));
}

/// The entries as a table. Plugin names, targets and messages are guest-chosen (a config
/// key, a table id, an error echoing one): each is made inert for the terminal.
fn entries_table(entries: &[Entry]) -> comfy_table::Table {
    let mut t = output::table(&[
        "#",
        "time",
        "plugin",
        "invocation",
        "call",
        "targets",
        "outcome",
        "credits",
    ]);
    for e in entries {
        let mut targets = e
            .targets
            .iter()
            .take(SHOWN_TARGETS)
            .map(|t| output::sanitize(&shorten(t, TARGET_CHARS)))
            .collect::<Vec<_>>()
            .join(" ");
        if e.targets.len() > SHOWN_TARGETS {
            targets.push_str(&format!(" +{}", e.targets.len() - SHOWN_TARGETS));
        }
        let outcome = match &e.message {
            Some(m) if e.outcome != "ok" => {
                let short: String = m.chars().take(60).collect();
                format!("{}: {}", e.outcome, output::sanitize(&short))
            }
            _ => e.outcome.clone(),
        };
        t.add_row(vec![
            e.seq.to_string(),
            time(e.at_ms),
            output::sanitize(&e.plugin),
            e.invocation_id.clone(),
            e.call.clone(),
            targets,
            outcome,
            if e.credits == 0.0 {
                String::new()
            } else {
                e.credits.to_string()
            },
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_chosen_text_in_the_trail_is_shown_inert() {
        let hostile = "\x1b[2J\x1b]0;pwned\x07\r ok";
        let entry = Entry {
            seq: 1,
            at_ms: 0,
            plugin: format!("p{hostile}"),
            plugin_sha256: "ab".repeat(32),
            invocation_id: "inv_1".into(),
            call: "config.get".into(),
            targets: vec![format!("key{hostile}")],
            outcome: "error:invalid".into(),
            message: Some(format!("bad {hostile}")),
            credits: 0.0,
            prev_hash: String::new(),
            hash: String::new(),
        };
        let shown = entries_table(&[entry]).to_string();
        assert!(!shown.contains(['\x1b', '\x07', '\r']), "{shown:?}");
        assert!(shown.contains("key ok"), "{shown}");
    }
}
