//! An auditor whose whole report attacks the terminal kiln prints it on: the summary, and a
//! finding's code, subject, message and evidence, each carry escape sequences (clear screen,
//! window title, OSC 52 clipboard) and `\r`/newlines that forge "no findings" lines.

wit_bindgen::generate!({
    world: "clay:api/auditor",
    path: "../../../wit",
});

use clay::api::types::{Finding, Severity, Subject, SubjectKind};

const INJECTION: &str =
    "\x1b[2J\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\r No findings.\nfake: all clear";

struct HostileFindings;

impl Guest for HostileFindings {
    fn audit(_scope: AuditScope) -> Result<AuditReport, ClayError> {
        Ok(AuditReport {
            summary: INJECTION.to_string(),
            findings: vec![Finding {
                severity: Severity::High,
                code: format!("code{INJECTION}"),
                subject: Subject {
                    kind: SubjectKind::Member,
                    id: format!("id{INJECTION}"),
                    name: format!("name{INJECTION}"),
                },
                message: format!("message{INJECTION}"),
                evidence: vec![(format!("key{INJECTION}"), format!("value{INJECTION}"))],
            }],
        })
    }
}

export!(HostileFindings);
