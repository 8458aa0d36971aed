//! Who kiln is to Clay: a session cookie (from `kiln login` or `CLAY_SESSION_COOKIE`) or a
//! personal API key (`CLAY_API_KEY`). Secrets live in `SecretString`s, whose `Debug` is
//! redacted, and go out only as headers marked sensitive.

use std::fmt;
use std::io::Write as _;
use std::path::Path;

use reqwest::header::{AUTHORIZATION, COOKIE, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

/// The cookie Clay's v3 API authenticates with.
pub const SESSION_COOKIE: &str = "claysession";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    Session,
    ApiKey,
    None,
}

#[derive(Clone)]
pub enum Credentials {
    /// The value of the `claysession` cookie.
    Session(SecretString),
    /// Sent as a raw `Authorization: <key>` header, as some clients report Clay accepts.
    ApiKey(SecretString),
    None,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Credentials::Session(_) => "Credentials::Session([redacted])",
            Credentials::ApiKey(_) => "Credentials::ApiKey([redacted])",
            Credentials::None => "Credentials::None",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the credential holds characters that cannot go in an HTTP header")]
    BadHeader,
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl Credentials {
    /// A session from a cookie value, accepting `claysession=<value>` as well as the bare value.
    pub fn session(cookie: &str) -> Self {
        let cookie = cookie.trim();
        let value = cookie
            .strip_prefix(SESSION_COOKIE)
            .and_then(|rest| rest.strip_prefix('='))
            .unwrap_or(cookie);
        let value = value.split(';').next().unwrap_or(value).trim();
        Credentials::Session(SecretString::from(value.to_string()))
    }

    pub fn api_key(key: &str) -> Self {
        Credentials::ApiKey(SecretString::from(key.trim().to_string()))
    }

    pub fn kind(&self) -> AuthKind {
        match self {
            Credentials::Session(_) => AuthKind::Session,
            Credentials::ApiKey(_) => AuthKind::ApiKey,
            Credentials::None => AuthKind::None,
        }
    }

    /// The headers that authenticate a request, marked sensitive so no logger prints them.
    pub fn headers(&self) -> Result<HeaderMap, AuthError> {
        let mut headers = HeaderMap::new();
        let (name, text) = match self {
            Credentials::Session(s) => (COOKIE, format!("{SESSION_COOKIE}={}", s.expose_secret())),
            Credentials::ApiKey(k) => (AUTHORIZATION, k.expose_secret().to_string()),
            Credentials::None => return Ok(headers),
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| AuthError::BadHeader)?;
        value.set_sensitive(true);
        headers.insert(name, value);
        Ok(headers)
    }

    /// The cookie value, for storing after `kiln login`.
    pub fn session_value(&self) -> Option<&SecretString> {
        match self {
            Credentials::Session(s) => Some(s),
            _ => None,
        }
    }
}

/// Reads a session stored by [`save_session`]; `None` when there is none.
pub fn load_session(path: &Path) -> Result<Option<Credentials>, AuthError> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Ok(None),
        Ok(text) => Ok(Some(Credentials::session(&text))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(AuthError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Stores a session cookie in a file only the user can read (mode 0600 on Unix), replacing
/// any earlier one atomically so a crash never leaves half a cookie.
pub fn save_session(path: &Path, cookie: &SecretString) -> Result<(), AuthError> {
    let io = |source| AuthError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    // NamedTempFile is created 0600 on Unix already; set it anyway so the intent is explicit.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    tmp.write_all(cookie.expose_secret().as_bytes())
        .map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let c = Credentials::session("claysession=s3cr3t; Path=/");
        assert!(!format!("{c:?}").contains("s3cr3t"));
        let k = Credentials::api_key("key-123");
        assert!(!format!("{k:?}").contains("key-123"));
        let h = c.headers().unwrap();
        assert_eq!(h[COOKIE].to_str().unwrap(), "claysession=s3cr3t");
        assert!(h[COOKIE].is_sensitive());
        assert!(!format!("{h:?}").contains("s3cr3t"));
    }

    #[cfg(unix)]
    #[test]
    fn session_file_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kiln").join("session");
        save_session(&path, &SecretString::from("abc".to_string())).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let loaded = load_session(&path).unwrap().unwrap();
        assert_eq!(loaded.session_value().unwrap().expose_secret(), "abc");
    }
}
