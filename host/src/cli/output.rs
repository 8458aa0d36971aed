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

pub(crate) use kiln_host::report::text::{sanitize, sanitize_multiline};

/// An error and its causes on one line, each said once. Many library errors show their
/// source in their own message *and* return it from `source()` (`#[error("{0}")]` over a
/// `#[from]`), so anyhow's `{:#}` would print the same words twice or more; a cause whose
/// text the line already ends with adds nothing.
pub(crate) fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
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
    println!("{}", json_text(value)?);
    Ok(())
}

/// Pretty JSON with DEL and the C1 controls escaped too: JSON allows them raw, but a terminal
/// showing the output may obey them (U+009B is an 8-bit CSI). The text parses to the same
/// strings, since they can only occur inside strings.
pub(crate) fn json_text<T: serde::Serialize>(value: &T) -> serde_json::Result<String> {
    let text = serde_json::to_string_pretty(value)?;
    if !text.chars().any(is_c1_or_del) {
        return Ok(text);
    }
    let mut out = String::with_capacity(text.len() + 64);
    for c in text.chars() {
        if is_c1_or_del(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn is_c1_or_del(c: char) -> bool {
    ('\u{7f}'..='\u{9f}').contains(&c)
}

/// What a run's writes are known to have done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Written {
    /// The backend applied them before answering (the embedded workspace), or they were
    /// read back.
    Applied,
    /// Clay took them and applies them later: nothing yet says they landed.
    Submitted,
}

/// The human summary of a transform run; `sample` bounds the changed rows listed.
pub(crate) fn print_transform(report: &TransformReport, written: Written, sample: usize) {
    let verb = match (report.dry_run, written) {
        (true, _) => "would change",
        (false, Written::Applied) => "changed",
        (false, Written::Submitted) => "submitted",
    };
    println!(
        "{} on table {} ({}){}",
        sanitize(&report.plugin),
        sanitize(&report.table_name),
        sanitize(&report.table_id),
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
    let time = report.timings;
    let on = match report.instances {
        0 | 1 => String::new(),
        n => format!(" (on {n} instances at once)"),
    };
    println!(
        "time: reading rows {:.0} ms, plugin {:.0} ms{on}, checking outcomes {:.0} ms, writing {:.0} ms",
        time.read_ms, time.guest_ms, time.plan_ms, time.write_ms
    );
    if let Some(id) = &report.run_id {
        let mut line = format!("run: {id}");
        if report.batches_resumed > 0 || report.batches_reapplied > 0 {
            line.push_str(&format!(
                " (resumed: {} batches applied before, {} applied again from the journal)",
                report.batches_resumed, report.batches_reapplied
            ));
        }
        if report.failure.is_some() {
            line.push_str(&format!("; finish it with `kiln runs resume {id}`"));
        }
        println!("{line}");
    }

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
                    sanitize(row),
                    sanitize(&c.field),
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
            t.add_row(vec![sanitize(&e.row_id), sanitize(&e.message)]);
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
            f.batch_index,
            f.rows,
            sanitize(&f.error)
        );
    }
    if written == Written::Submitted && report.rows_changed > 0 {
        println!(
            "\nClay applies row updates after it answers: `--verify` reads them back and says what the table holds."
        );
    }
}

/// What `kiln run --verify` read back. Rows and fields are named by id, never by value.
pub(crate) fn print_verified(v: &super::run::Verified) {
    const SHOWN: usize = 10;
    let c = &v.changed;
    println!(
        "\nRead back: {} of {} changed rows hold every value written ({} {}); {} deleted rows still present.",
        c.verified,
        c.verified as usize + c.differing.len() + c.missing.len(),
        c.reads,
        if c.reads == 1 { "read" } else { "reads" },
        v.still_present.len()
    );
    if v.changed.agrees() && v.still_present.is_empty() {
        return;
    }
    let mut t = table(&["row", "what the table holds"]);
    for d in c.differing.iter().take(SHOWN) {
        t.add_row(vec![
            sanitize(&d.row_id),
            format!("other values in {}", sanitize(&d.field_ids.join(", "))),
        ]);
    }
    for id in c.missing.iter().take(SHOWN) {
        t.add_row(vec![sanitize(id), "no such row".to_string()]);
    }
    for id in v.still_present.iter().take(SHOWN) {
        t.add_row(vec![
            sanitize(id),
            "still present after its delete".to_string(),
        ]);
    }
    println!("{t}");
    let listed = c.differing.len().min(SHOWN)
        + c.missing.len().min(SHOWN)
        + v.still_present.len().min(SHOWN);
    let all = c.differing.len() + c.missing.len() + v.still_present.len();
    if all > listed {
        println!("… and {} more (use --json for all)", all - listed);
    }
}

fn severity_label(s: Severity) -> String {
    s.as_str().to_uppercase()
}

pub(crate) fn print_audit(plugin: &str, report: &AuditReport) {
    println!("{}: {}", sanitize(plugin), sanitize(&report.summary));
    if report.findings.is_empty() {
        println!("No findings.");
        return;
    }
    let mut findings: Vec<_> = report.findings.iter().collect();
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let mut t = table(&["severity", "code", "subject", "finding"]);
    for f in findings {
        let mut text = sanitize(&f.message);
        for (k, v) in &f.evidence {
            text.push_str(&format!("\n  {}: {}", sanitize(k), sanitize(v)));
        }
        t.add_row(vec![
            severity_label(f.severity),
            sanitize(&f.code),
            if f.subject.name.is_empty() {
                sanitize(&f.subject.id)
            } else {
                format!(
                    "{} ({})",
                    sanitize(&f.subject.name),
                    sanitize(&f.subject.id)
                )
            },
            text,
        ]);
    }
    println!("{t}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_of_an_error_is_said_once() {
        #[derive(Debug, thiserror::Error)]
        enum Wrapper {
            #[error("{0}")]
            Backend(#[from] std::io::Error),
        }
        let inner = std::io::Error::other("denied: no tables");
        let e = anyhow::Error::from(Wrapper::from(inner)).context("running p on table T");
        assert_eq!(error_chain(&e), "running p on table T: denied: no tables");
        let plain = anyhow::anyhow!("root").context("middle").context("top");
        assert_eq!(error_chain(&plain), "top: middle: root");
    }

    #[test]
    fn json_escapes_del_and_c1_and_still_parses_to_the_same_text() {
        let text = "a\x1b[2J\u{9b}b\x7f";
        let json = json_text(&serde_json::json!({ "m": text })).unwrap();
        assert!(!json.contains(['\x1b', '\u{9b}', '\x7f']), "{json}");
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["m"], text);
    }
}
