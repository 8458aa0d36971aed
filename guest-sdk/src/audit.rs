use crate::types::{AuditReport, AuditScope, Finding, Severity, Subject, SubjectKind};
use crate::{Config, Error};

/// A workspace audit. It reads Clay through [`crate::clay`] and returns a [`Report`].
pub trait Auditor: Sized + 'static {
    fn new(config: Config) -> Result<Self, Error>;

    fn audit(&mut self, scope: &AuditScope) -> Result<Report, Error>;
}

/// What an audit found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    summary: String,
    findings: Vec<Finding>,
}

impl Report {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set_summary(&mut self, summary: impl Into<String>) {
        self.summary = summary.into();
    }

    pub fn summary(&self) -> &str {
        &self.summary
    }

    pub fn push(&mut self, finding: FindingBuilder) {
        self.findings.push(finding.0);
    }

    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Findings with this code (handy in tests).
    pub fn with_code<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| f.code == code)
    }

    pub fn into_wit(self) -> AuditReport {
        AuditReport {
            summary: self.summary,
            findings: self.findings,
        }
    }
}

/// Starts a finding: `finding(Severity::High, "seat.single-admin", subject).message(…)`.
pub fn finding(severity: Severity, code: &str, subject: Subject) -> FindingBuilder {
    FindingBuilder(Finding {
        severity,
        code: code.to_string(),
        subject,
        message: String::new(),
        evidence: Vec::new(),
    })
}

/// A finding under construction.
#[derive(Debug, Clone)]
pub struct FindingBuilder(Finding);

impl FindingBuilder {
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.0.message = message.into();
        self
    }

    /// A fact backing the finding.
    pub fn evidence(mut self, key: &str, value: impl ToString) -> Self {
        self.0.evidence.push((key.to_string(), value.to_string()));
        self
    }
}

impl Subject {
    pub fn new(kind: SubjectKind, id: impl Into<String>, name: impl Into<String>) -> Self {
        Subject {
            kind,
            id: id.into(),
            name: name.into(),
        }
    }

    pub fn member(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self::new(SubjectKind::Member, id, name)
    }

    pub fn integration(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self::new(SubjectKind::Integration, id, name)
    }

    pub fn workspace(id: u64, name: impl Into<String>) -> Self {
        Self::new(SubjectKind::Workspace, id.to_string(), name)
    }

    pub fn table(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self::new(SubjectKind::Table, id, name)
    }
}

#[cfg(feature = "auditor")]
thread_local! {
    static AUDITOR: std::cell::RefCell<Option<Box<dyn std::any::Any>>> =
        const { std::cell::RefCell::new(None) };
}

/// The export glue: one plugin value per instance.
#[cfg(feature = "auditor")]
pub fn run_auditor<T: Auditor>(scope: AuditScope) -> Result<AuditReport, crate::types::ClayError> {
    AUDITOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let plugin = T::new(Config::from_host()).map_err(Error::into_clay)?;
            *slot = Some(Box::new(plugin));
        }
        match slot.as_mut().and_then(|p| p.downcast_mut::<T>()) {
            Some(plugin) => plugin
                .audit(&scope)
                .map(Report::into_wit)
                .map_err(Error::into_clay),
            None => Err(crate::types::ClayError::Invalid("plugin state lost".into())),
        }
    })
}
