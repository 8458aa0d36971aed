//! The Markdown report, for a ticket or a pull request. Plugin text is made inert: Markdown
//! renderers pass raw HTML through, so `<`, `>` and `&` are escaped, and table cells cannot
//! break out of their row.

use std::fmt::Write as _;

use super::chart::num;
use super::{AuditDocument, by_severity, date};

fn inline(s: &str) -> String {
    // Control sequences first: a report is often read with `cat`, in a terminal.
    html_escape::encode_text(&super::text::sanitize_multiline(s))
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

pub fn render(doc: &AuditDocument) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# {} — {}\n",
        inline(&doc.plugin),
        inline(&doc.workspace)
    );
    let _ = writeln!(
        out,
        "Period {} – {} · workspace id {}\n\n**{}**\n",
        date(doc.scope.period.start),
        date(doc.scope.period.end),
        doc.scope.workspace_id,
        inline(&doc.report.summary)
    );
    for (severity, findings) in by_severity(&doc.report) {
        let _ = writeln!(
            out,
            "## {} ({})\n",
            severity.as_str().to_uppercase(),
            findings.len()
        );
        for f in findings {
            let _ = writeln!(
                out,
                "- **{}** `{}` — {}",
                inline(if f.subject.name.is_empty() {
                    &f.subject.id
                } else {
                    &f.subject.name
                }),
                inline(&f.code).replace('`', "'"),
                inline(&f.message)
            );
            for (k, v) in &f.evidence {
                let _ = writeln!(out, "  - {}: {}", inline(k), inline(v));
            }
        }
        out.push('\n');
    }
    if let Some(credits) = &doc.credits {
        let _ = writeln!(
            out,
            "## Credits by member\n\n| member | credits |\n|---|---:|"
        );
        for (name, credits) in &credits.member_totals {
            let _ = writeln!(out, "| {} | {} |", inline(name), num(*credits));
        }
        let _ = writeln!(
            out,
            "\n## Credits by integration\n\n| integration | credits |\n|---|---:|"
        );
        for (name, credits) in &credits.integrations {
            let _ = writeln!(out, "| {} | {} |", inline(name), num(*credits));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::document;
    use super::*;

    #[test]
    fn plugin_text_cannot_inject_html_or_break_tables() {
        let md = render(&document("<script>x</script> | pipe\nnew line"));
        assert!(!md.contains("<script>"));
        assert!(md.contains("&lt;script&gt;x&lt;/script&gt; \\| pipe new line"));
        assert!(md.contains("| Jonas &lt;Berg&gt; | 40 |"));
    }

    #[test]
    fn sections_follow_severity() {
        let md = render(&document("m"));
        assert!(md.find("## CRITICAL (1)").unwrap() < md.find("## MEDIUM (1)").unwrap());
    }
}
