use crate::types::{AuditReport, AuditScope, Finding, Severity, Subject, SubjectKind};
use crate::{Config, Error};

/// A workspace audit. It reads Clay through [`crate::clay`] and returns a [`Report`].
///
/// ```
/// use kiln_guest::clay::credits;
/// use kiln_guest::testing::MockWorkspace;
/// use kiln_guest::types::{AuditScope, MemberStatus, Role, Severity, Subject, TimeRange};
/// use kiln_guest::{Auditor, Config, Error, Report, finding};
///
/// struct NoAdmin;
///
/// impl Auditor for NoAdmin {
///     fn new(_config: Config) -> Result<Self, Error> {
///         Ok(NoAdmin)
///     }
///
///     fn audit(&mut self, scope: &AuditScope) -> Result<Report, Error> {
///         let members = credits::permissions(scope.workspace_id)?;
///         let mut report = Report::new();
///         if !members.iter().any(|m| m.role == Role::Admin) {
///             let ws = Subject::workspace(scope.workspace_id, "workspace");
///             report.push(finding(Severity::High, "seat.no-admin", ws).message("Nobody is an admin."));
///         }
///         Ok(report)
///     }
/// }
///
/// let ws = MockWorkspace::new("Acme");
/// ws.add_member("jo@acme.io", "Jo", Role::Member, MemberStatus::Active);
/// let _installed = ws.install();
/// let scope = AuditScope { workspace_id: 1, period: TimeRange { start: 0, end: ws.now() }, now: ws.now() };
/// let report = NoAdmin::new(Config::default())?.audit(&scope)?;
/// assert_eq!(report.with_code("seat.no-admin").count(), 1);
/// # Ok::<(), Error>(())
/// ```
pub trait Auditor: Sized + 'static {
    /// Creates the plugin from its settings; a bad setting is an [`Error::Config`].
    fn new(config: Config) -> Result<Self, Error>;

    /// Audits the workspace in `scope`; an error fails the whole audit.
    fn audit(&mut self, scope: &AuditScope) -> Result<Report, Error>;
}

/// What an audit found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    summary: String,
    findings: Vec<Finding>,
}

impl Report {
    /// An empty report.
    ///
    /// ```
    /// let report = kiln_guest::Report::new();
    /// assert!(report.findings().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// One line that sums the audit up, shown above the findings.
    ///
    /// ```
    /// let mut report = kiln_guest::Report::new();
    /// report.set_summary("8 members, 2 findings");
    /// assert_eq!(report.summary(), "8 members, 2 findings");
    /// ```
    pub fn set_summary(&mut self, summary: impl Into<String>) {
        self.summary = summary.into();
    }

    /// The summary line.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// Adds a finding.
    ///
    /// ```
    /// use kiln_guest::types::{Severity, Subject};
    /// let mut report = kiln_guest::Report::new();
    /// report.push(kiln_guest::finding(Severity::Low, "seat.pending", Subject::member("7", "Sam")));
    /// assert_eq!(report.findings().len(), 1);
    /// ```
    pub fn push(&mut self, finding: FindingBuilder) {
        self.findings.push(finding.0);
    }

    /// The findings, in the order they were pushed.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Findings with this code (handy in tests).
    ///
    /// ```
    /// use kiln_guest::types::{Severity, Subject};
    /// let mut report = kiln_guest::Report::new();
    /// report.push(kiln_guest::finding(Severity::Low, "a", Subject::member("1", "A")));
    /// report.push(kiln_guest::finding(Severity::Low, "b", Subject::member("2", "B")));
    /// assert_eq!(report.with_code("b").count(), 1);
    /// ```
    pub fn with_code<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| f.code == code)
    }

    /// The report as it crosses into the host.
    pub fn into_wit(self) -> AuditReport {
        AuditReport {
            summary: self.summary,
            findings: self.findings,
        }
    }
}

/// Starts a finding: `finding(Severity::High, "seat.single-admin", subject).message(…)`.
///
/// ```
/// use kiln_guest::finding;
/// use kiln_guest::types::{Severity, Subject};
///
/// let f = finding(Severity::High, "seat.single-admin", Subject::workspace(1, "Acme"))
///     .message("Maya is the only admin.")
///     .evidence("active admins", 1);
/// let mut report = kiln_guest::Report::new();
/// report.push(f);
/// assert_eq!(report.findings()[0].evidence, vec![("active admins".to_string(), "1".to_string())]);
/// ```
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
    /// What was found and what to do about it, in a sentence or two.
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
    /// A subject of any kind.
    ///
    /// ```
    /// use kiln_guest::types::{Subject, SubjectKind};
    /// let s = Subject::new(SubjectKind::Field, "f_1", "Work Email");
    /// assert_eq!(s.kind, SubjectKind::Field);
    /// ```
    pub fn new(kind: SubjectKind, id: impl Into<String>, name: impl Into<String>) -> Self {
        Subject {
            kind,
            id: id.into(),
            name: name.into(),
        }
    }

    /// A member, by user id and name.
    pub fn member(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self::new(SubjectKind::Member, id, name)
    }

    /// An integration (`aa_…`).
    pub fn integration(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self::new(SubjectKind::Integration, id, name)
    }

    /// The workspace itself.
    pub fn workspace(id: u64, name: impl Into<String>) -> Self {
        Self::new(SubjectKind::Workspace, id.to_string(), name)
    }

    /// A table (`t_…`).
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
#[doc(hidden)]
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
