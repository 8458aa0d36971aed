use std::fmt;

use crate::types::ClayError;

/// What a plugin fails with: an error from Clay, a bad setting, or its own complaint.
///
/// `?` turns a [`ClayError`] into an `Error`:
///
/// ```
/// use kiln_guest::Error;
/// use kiln_guest::types::ClayError;
///
/// fn read() -> Result<(), Error> {
///     Err(ClayError::Denied("credits".into()))?
/// }
/// assert_eq!(read().unwrap_err().to_string(), "denied: credits");
/// ```
#[derive(Debug, Clone)]
pub enum Error {
    /// A capability call failed.
    Clay(ClayError),
    /// A config key has a value the plugin cannot use.
    Config {
        /// The key.
        key: String,
        /// The value it has.
        value: String,
        /// Why the plugin cannot use it.
        reason: String,
    },
    /// Anything else the plugin wants to report.
    Plugin(String),
}

impl Error {
    /// The plugin's own complaint.
    ///
    /// ```
    /// let e = kiln_guest::Error::plugin("no Leads table");
    /// assert_eq!(e.to_string(), "no Leads table");
    /// ```
    pub fn plugin(message: impl Into<String>) -> Self {
        Error::Plugin(message.into())
    }

    /// The error as it crosses back into the host.
    pub fn into_clay(self) -> ClayError {
        match self {
            Error::Clay(e) => e,
            other => ClayError::Invalid(other.to_string()),
        }
    }
}

impl From<ClayError> for Error {
    fn from(e: ClayError) -> Self {
        Error::Clay(e)
    }
}

/// A readable description of a Clay error.
///
/// ```
/// use kiln_guest::types::ClayError;
/// assert_eq!(kiln_guest::describe(&ClayError::RateLimited(250)), "rate limited, retry after 250 ms");
/// ```
pub fn describe(e: &ClayError) -> String {
    match e {
        ClayError::NotFound(s) => format!("not found: {s}"),
        ClayError::Denied(s) => format!("denied: {s}"),
        ClayError::Invalid(s) => format!("invalid: {s}"),
        ClayError::RateLimited(ms) => format!("rate limited, retry after {ms} ms"),
        ClayError::BudgetExhausted(s) => format!("credit budget exhausted: {s}"),
        ClayError::Conflict(s) => format!("conflict: {s}"),
        ClayError::Upstream(s) => format!("Clay error: {s}"),
        ClayError::Unavailable(s) => format!("unavailable: {s}"),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Clay(e) => f.write_str(&describe(e)),
            Error::Config { key, value, reason } => {
                write!(f, "config key `{key}` has value `{value}`: {reason}")
            }
            Error::Plugin(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for Error {}
