use std::collections::BTreeMap;
use std::str::FromStr;

use crate::Error;

/// The plugin's settings: its manifest defaults merged with what the operator passed.
///
/// ```
/// let config = kiln_guest::Config::from_pairs([("min_admins", "3")]);
/// assert_eq!(config.parse("min_admins", 2)?, 3);
/// assert_eq!(config.get_or("column", "Email"), "Email");
/// # Ok::<(), kiln_guest::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    values: BTreeMap<String, String>,
}

impl Config {
    /// Settings from key/value pairs (native tests and benches).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Reads the settings from the host (inside a plugin); natively, those of the installed
    /// [`MockWorkspace`](crate::testing::MockWorkspace) (none when nothing is installed).
    ///
    /// ```
    /// let ws = kiln_guest::testing::MockWorkspace::new("Acme");
    /// ws.set_config("min_admins", "3");
    /// let _installed = ws.install();
    /// assert_eq!(kiln_guest::Config::from_host().get("min_admins"), Some("3"));
    /// ```
    pub fn from_host() -> Self {
        #[cfg(target_arch = "wasm32")]
        {
            Self::from_pairs(crate::bindings::clay::api::config::all())
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            Self::from_pairs(crate::testing::installed_config())
        }
    }

    /// The value, if set.
    ///
    /// ```
    /// let config = kiln_guest::Config::from_pairs([("column", "Email")]);
    /// assert_eq!(config.get("column"), Some("Email"));
    /// assert_eq!(config.get("other"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The value, or `default` when the key is unset.
    pub fn get_or(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or(default).to_string()
    }

    /// The value parsed as `T`, or `default` when unset; a value that does not parse is an
    /// error naming the key.
    ///
    /// ```
    /// let config = kiln_guest::Config::from_pairs([("share", "lots")]);
    /// let err = config.parse::<f64>("share", 0.5).unwrap_err();
    /// assert!(err.to_string().contains("share"));
    /// ```
    pub fn parse<T>(&self, key: &str, default: T) -> Result<T, Error>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|e: T::Err| Error::Config {
                key: key.to_string(),
                value: v.to_string(),
                reason: e.to_string(),
            }),
        }
    }

    /// Every setting, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}
