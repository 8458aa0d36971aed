//! Presentation helpers: readable tables for people, JSON for scripts.

use comfy_table::{ContentArrangement, Table, presets};
use kiln_host::backend::model::CellValue;
use kiln_host::invocation::{AuditReport, Severity, TransformReport};

pub(crate) fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    // Off a terminal (pipes, CI logs) there is no width to fit; keep lines readable anyway.
    if t.width().is_none() {
        t.set_width(140);
    }
    t
}

pub(crate) fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / (1u64 << 10) as f64),
        n => format!("{n} B"),
    }
}

/// A cell for display: empty shown as `∅`, long text shortened.
pub(crate) fn cell(v: &CellValue) -> String {
    if v.is_null() {
        return "∅".to_string();
    }
    let text = v.as_text();
    let shown: String = text.chars().take(40).collect();
    let shown = if shown.len() < text.len() {
        format!("{shown}…")
    } else {
        shown
    };
    format!("{shown:?}")
}

pub(crate) fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The human summary of a transform run; `sample` bounds the changed rows listed.
pub(crate) fn print_transform(report: &TransformReport, sample: usize) {
    let verb = if report.dry_run {
        "would change"
    } else {
        "changed"
    };
    println!(
        "{} on table {} ({}){}",
        report.plugin,
        report.table_name,
        report.table_id,
        if report.dry_run {
            " — dry run: nothing was written"
        } else {
            ""
        }
    );
    let mut t = table(&[
        "rows seen",
        verb,
        "deleted",
        "unchanged",
        "failed",
        "batches",
        "time",
    ]);
    t.add_row(vec![
        report.rows_seen.to_string(),
        report.rows_changed.to_string(),
        report.rows_deleted.to_string(),
        report.rows_unchanged.to_string(),
        report.rows_failed.to_string(),
        report.batches.to_string(),
        format!("{} ms", report.elapsed_ms),
    ]);
    println!("{t}");

    if !report.changes.is_empty() && sample > 0 {
        println!(
            "\n{} (first {} of {} rows):",
            if report.dry_run {
                "Changes it would make"
            } else {
                "Changes"
            },
            sample.min(report.changes.len()),
            report.changes.len()
        );
        let mut t = table(&["row", "column", "before", "after"]);
        for change in report.changes.iter().take(sample) {
            for (i, c) in change.cells.iter().enumerate() {
                let row = if i == 0 { change.row_id.as_str() } else { "" };
                t.add_row(vec![
                    row.to_string(),
                    c.field.clone(),
                    cell(&c.before),
                    cell(&c.after),
                ]);
            }
        }
        println!("{t}");
    }

    if !report.errors.is_empty() {
        const SHOWN: usize = 20;
        println!("\nRow errors ({}):", report.errors.len());
        let mut t = table(&["row", "error"]);
        for e in report.errors.iter().take(SHOWN) {
            t.add_row(vec![e.row_id.clone(), e.message.clone()]);
        }
        println!("{t}");
        if report.errors.len() > SHOWN {
            println!(
                "… and {} more (use --json for all)",
                report.errors.len() - SHOWN
            );
        }
    }

    if let Some(f) = &report.failure {
        println!(
            "\nThe run stopped at batch {} ({} rows, none of them changed): {}",
            f.batch_index, f.rows, f.error
        );
    }
}

fn severity_label(s: Severity) -> String {
    s.as_str().to_uppercase()
}

pub(crate) fn print_audit(plugin: &str, report: &AuditReport) {
    println!("{plugin}: {}", report.summary);
    if report.findings.is_empty() {
        println!("No findings.");
        return;
    }
    let mut findings: Vec<_> = report.findings.iter().collect();
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let mut t = table(&["severity", "code", "subject", "finding"]);
    for f in findings {
        let mut text = f.message.clone();
        for (k, v) in &f.evidence {
            text.push_str(&format!("\n  {k}: {v}"));
        }
        t.add_row(vec![
            severity_label(f.severity),
            f.code.clone(),
            if f.subject.name.is_empty() {
                f.subject.id.clone()
            } else {
                format!("{} ({})", f.subject.name, f.subject.id)
            },
            text,
        ]);
    }
    println!("{t}");
}
