//! `kiln audit --format …`: the audit as a table, JSON, Markdown or a self-contained HTML
//! page with charts (the documents themselves are [`kiln_host::report`]'s).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use clap::ValueEnum;
use kiln_host::Clay;
use kiln_host::invocation::{AuditReport, AuditScope};
use kiln_host::report;

/// How `kiln audit` presents its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A readable table on the terminal.
    Table,
    /// The scope and report as JSON.
    Json,
    /// Markdown, for a ticket or a pull request.
    Md,
    /// One self-contained HTML file with charts (use with --out).
    Html,
}

/// Prints (or writes to `out`) the audit in `format`. Credit data is read only for the
/// formats that show it.
pub(crate) async fn present(
    backend: &Arc<dyn Clay>,
    plugin: &str,
    scope: AuditScope,
    report: AuditReport,
    format: Format,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let text = match format {
        Format::Table => {
            if out.is_some() {
                anyhow::bail!(
                    "--out needs --format json, md or html; the table is for the terminal"
                );
            }
            super::output::print_audit(plugin, &report);
            return Ok(());
        }
        Format::Json => {
            let mut s = super::output::json_text(&serde_json::json!({
                "plugin": plugin,
                "scope": scope,
                "report": report,
            }))?;
            s.push('\n');
            s
        }
        Format::Md | Format::Html => {
            let workspace = backend
                .list_workspaces()
                .await?
                .into_iter()
                .find(|w| w.id == scope.workspace_id)
                .map(|w| w.name)
                .unwrap_or_else(|| format!("workspace {}", scope.workspace_id));
            let credits = report::credit_picture(backend, &scope)
                .await
                .context("reading the period's credit reports for the report")?;
            let doc = report::AuditDocument {
                plugin: plugin.to_string(),
                workspace,
                scope,
                report,
                credits: Some(credits),
            };
            if format == Format::Md {
                report::audit_markdown(&doc)
            } else {
                report::audit_html(&doc)
            }
        }
    };
    match out {
        Some(path) => {
            std::fs::write(path, text)
                .with_context(|| format!("writing the report to {}", path.display()))?;
            eprintln!("kiln: report written to {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}
