use std::fmt;

use crate::types::ClayError;

/// What a plugin fails with: an error from Clay, a bad setting, or its own complaint.
#[derive(Debug, Clone)]
pub enum Error {
    /// A capability call failed.
    Clay(ClayError),
    /// A config key has a value the plugin cannot use.
    Config {
        key: String,
        value: String,
        reason: String,
    },
    /// Anything else the plugin wants to report.
    Plugin(String),
}

impl Error {
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
