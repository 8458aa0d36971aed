//! The operator's policy: the most any plugin loaded by a runtime may get. A plugin's
//! effective grants, limits and credit budget are what its manifest requests, capped by this.
//!
//! ```toml
//! require_manifest = true        # refuse components that carry no kiln.toml
//! tables = ["Leads"]             # plugins may touch only these tables (ids or names)
//! deny_columns = ["SSN"]         # …and never these columns
//! max_credits_per_run = 50
//!
//! [grants]                       # interfaces not listed are not granted
//! tables = "write"
//! credits = "read"
//!
//! [limits]                       # ceilings on what manifests request
//! memory_mib = 128
//! batch_ms = 10000
//! ```
//!
//! Without a `[limits]` key, the ceiling is the runtime's default: a manifest may ask for
//! less than the default, never more. Only the policy may raise a ceiling above it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::capabilities::{Access, Grants, Interface, TableScope};
use crate::store::Limits;

use super::manifest::{LimitRequests, Manifest, ManifestError};

/// What an operator allows. [`Policy::default`] grants whatever manifests request.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Per interface, the most a plugin may get; `None` means not at all.
    caps: BTreeMap<Interface, Option<Access>>,
    pub require_manifest: bool,
    pub tables: Option<Vec<String>>,
    pub deny_columns: Vec<String>,
    pub limits: LimitRequests,
    /// Credits one run of any plugin may spend; `None` leaves it to the manifest.
    pub max_credits_per_run: Option<f64>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            caps: Interface::ALL
                .into_iter()
                .map(|i| (i, Some(Access::Write)))
                .collect(),
            require_manifest: false,
            tables: None,
            deny_columns: Vec::new(),
            limits: LimitRequests::default(),
            max_credits_per_run: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    require_manifest: bool,
    tables: Option<Vec<String>>,
    #[serde(default)]
    deny_columns: Vec<String>,
    max_credits_per_run: Option<f64>,
    grants: Option<BTreeMap<String, String>>,
    #[serde(default)]
    limits: LimitRequests,
}

/// Why a plugin's request was not granted, for load errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The manifest does not ask for the interface (or not at this level).
    NotRequested,
    /// The policy does not allow it.
    Policy,
}

/// A plugin's effective rights: the manifest's requests capped by the policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub grants: Grants,
    /// Interfaces requested but refused by the policy.
    pub refused: BTreeMap<Interface, Refusal>,
    pub limits: Limits,
    pub credits_per_run: f64,
}

impl Policy {
    /// Reads a policy file; errors name the file and line.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ManifestError::Malformed {
            origin: origin.clone(),
            message: format!("cannot read the policy file: {e}"),
        })?;
        Self::parse(&text, &origin)
    }

    pub fn parse(text: &str, origin: &str) -> Result<Self, ManifestError> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => ManifestError::Invalid {
                origin: origin.to_string(),
                line: text.get(..span.start).unwrap_or(text).matches('\n').count() + 1,
                message: e.message().trim().to_string(),
            },
            None => ManifestError::Malformed {
                origin: origin.to_string(),
                message: e.message().trim().to_string(),
            },
        })?;
        let mut policy = Policy {
            require_manifest: raw.require_manifest,
            tables: raw.tables,
            deny_columns: raw.deny_columns,
            limits: raw.limits,
            max_credits_per_run: raw.max_credits_per_run,
            ..Policy::default()
        };
        if let Some(grants) = raw.grants {
            policy.caps = Interface::ALL.into_iter().map(|i| (i, None)).collect();
            for (name, level) in grants {
                policy.set(&format!("{name}:{level}")).map_err(|message| {
                    ManifestError::Malformed {
                        origin: origin.to_string(),
                        message: format!("[grants] {message}"),
                    }
                })?;
            }
        }
        Ok(policy)
    }

    /// Applies `--grant INTERFACE[:read|write|none]` (the level defaults to read).
    pub fn set(&mut self, spec: &str) -> Result<(), String> {
        let (name, level) = spec.split_once(':').unwrap_or((spec, "read"));
        let interface = Interface::from_name(name.trim()).ok_or_else(|| {
            format!(
                "unknown interface `{name}`; expected one of {}",
                Interface::ALL.map(|i| i.name()).join(", ")
            )
        })?;
        let access = match level.trim() {
            "read" => Some(Access::Read),
            "write" => Some(Access::Write),
            "none" => None,
            other => {
                return Err(format!(
                    "access `{other}` for `{name}` is not read, write or none"
                ));
            }
        };
        self.caps.insert(interface, access);
        Ok(())
    }

    /// Applies `--deny INTERFACE`.
    pub fn deny(&mut self, name: &str) -> Result<(), String> {
        self.set(&format!("{name}:none"))
    }

    /// The most `interface` may be granted; `log` and `config` are always available.
    pub fn cap(&self, interface: Interface) -> Option<Access> {
        if interface.always_granted() {
            return Some(Access::Read);
        }
        self.caps.get(&interface).copied().flatten()
    }

    /// The manifest's requests capped by this policy, on top of the runtime's defaults.
    pub fn effective(&self, manifest: &Manifest, defaults: &Limits) -> Effective {
        let mut grants = Grants::new();
        let mut refused = BTreeMap::new();
        for interface in Interface::ALL {
            let Some(request) = manifest.request(interface) else {
                continue;
            };
            match self.cap(interface) {
                Some(cap) => grants = grants.with(interface, request.access.min(cap)),
                None => {
                    refused.insert(interface, Refusal::Policy);
                }
            }
        }
        let request = manifest.request(Interface::Tables);
        let mut scope = TableScope {
            columns: request.as_ref().and_then(|r| r.columns.clone()),
            denied_columns: self.deny_columns.clone(),
            ..TableScope::default()
        };
        if let Some(list) = request.and_then(|r| r.tables) {
            scope.table_lists.push(list);
        }
        if let Some(list) = &self.tables {
            scope.table_lists.push(list.clone());
        }
        grants = grants.with_tables(scope);

        let asked = &manifest.limits;
        let caps = &self.limits;
        let mib = |m: Option<u64>| m.map(|m| m.saturating_mul(1 << 20));
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        let limits = Limits {
            memory_bytes: clamp(
                mib(asked.memory_mib),
                Some(defaults.memory_bytes),
                mib(caps.memory_mib),
            )
            .unwrap_or(defaults.memory_bytes),
            deadline: clamp(
                asked.batch_ms,
                Some(u64::try_from(defaults.deadline.as_millis()).unwrap_or(u64::MAX)),
                caps.batch_ms,
            )
            .map_or(defaults.deadline, std::time::Duration::from_millis),
            fuel: clamp(asked.fuel, defaults.fuel, caps.fuel),
            max_host_calls: clamp(asked.host_calls, defaults.max_host_calls, caps.host_calls),
            log_bytes: clamp(
                asked.log_bytes,
                Some(defaults.log_bytes as u64),
                caps.log_bytes,
            )
            .map_or(defaults.log_bytes, size),
            output_bytes: clamp(
                asked.output_bytes,
                Some(defaults.output_bytes as u64),
                caps.output_bytes,
            )
            .map_or(defaults.output_bytes, size),
            ..defaults.clone()
        };
        let wanted = manifest.budget.credits_per_run.unwrap_or(0.0);
        let credits_per_run = self
            .max_credits_per_run
            .map_or(wanted, |max| wanted.min(max));
        Effective {
            grants,
            refused,
            limits,
            credits_per_run,
        }
    }
}

/// One limit: what the manifest asks (else the runtime's default), never above the ceiling.
/// The ceiling is the policy's when it sets one, else the runtime's default — so a manifest
/// can lower a limit but only an operator can raise it. `None` means unlimited.
fn clamp(asked: Option<u64>, default: Option<u64>, policy: Option<u64>) -> Option<u64> {
    let ceiling = policy.or(default);
    match (asked.or(default), ceiling) {
        (Some(wanted), Some(ceiling)) => Some(wanted.min(ceiling)),
        (wanted, ceiling) => wanted.or(ceiling),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> Manifest {
        let base = "name = \"p\"\nversion = \"1\"\nworld = \"transformer\"\n";
        Manifest::parse(&format!("{base}{text}"), "kiln.toml").unwrap()
    }

    #[test]
    fn the_default_policy_grants_what_is_requested_and_nothing_more() {
        let m = manifest("[capabilities]\ntables = \"write\"\n");
        let e = Policy::default().effective(&m, &Limits::default());
        assert_eq!(e.grants.get(Interface::Tables), Some(Access::Write));
        assert_eq!(e.grants.get(Interface::Credits), None);
        assert_eq!(e.grants.get(Interface::Log), Some(Access::Read));
        assert_eq!(e.credits_per_run, 0.0);
    }

    #[test]
    fn the_policy_lowers_access_and_refuses_what_it_does_not_list() {
        let m = manifest("[capabilities]\ntables = \"write\"\ncredits = \"read\"\n");
        let p = Policy::parse("[grants]\ntables = \"read\"\n", "policy.toml").unwrap();
        let e = p.effective(&m, &Limits::default());
        assert_eq!(e.grants.get(Interface::Tables), Some(Access::Read));
        assert_eq!(e.grants.get(Interface::Credits), None);
        assert_eq!(e.refused.get(&Interface::Credits), Some(&Refusal::Policy));
    }

    #[test]
    fn flags_grant_and_deny() {
        let mut p = Policy::default();
        p.deny("credits").unwrap();
        assert_eq!(p.cap(Interface::Credits), None);
        p.set("credits:read").unwrap();
        assert_eq!(p.cap(Interface::Credits), Some(Access::Read));
        assert!(
            p.set("credit:read")
                .unwrap_err()
                .contains("unknown interface")
        );
        assert!(p.set("tables:admin").unwrap_err().contains("admin"));
        p.deny("log").unwrap();
        assert_eq!(
            p.cap(Interface::Log),
            Some(Access::Read),
            "log is always on"
        );
    }

    #[test]
    fn limits_and_credits_take_the_lower_of_request_and_cap() {
        let m = manifest(
            "[limits]\nmemory_mib = 512\nbatch_ms = 100\n[budget]\ncredits_per_run = 80\n",
        );
        let p = Policy::parse(
            "max_credits_per_run = 50\n[limits]\nmemory_mib = 128\n",
            "policy.toml",
        )
        .unwrap();
        let e = p.effective(&m, &Limits::default());
        assert_eq!(e.limits.memory_bytes, 128 << 20);
        assert_eq!(e.limits.deadline.as_millis(), 100);
        assert_eq!(e.credits_per_run, 50.0);
    }

    #[test]
    fn without_a_policy_a_manifest_cannot_raise_a_limit_past_the_default() {
        let m = manifest(
            "[limits]\nmemory_mib = 1024\nbatch_ms = 86400000\nhost_calls = 1000000000000\n\
             fuel = 5\noutput_bytes = 1099511627776\nlog_bytes = 1099511627776\n",
        );
        let defaults = Limits::default();
        let e = Policy::default().effective(&m, &defaults);
        assert_eq!(e.limits.memory_bytes, defaults.memory_bytes);
        assert_eq!(e.limits.deadline, defaults.deadline);
        assert_eq!(e.limits.max_host_calls, defaults.max_host_calls);
        assert_eq!(e.limits.output_bytes, defaults.output_bytes);
        assert_eq!(e.limits.log_bytes, defaults.log_bytes);
        // Fuel is off by default (unbounded), so any request lowers it.
        assert_eq!(e.limits.fuel, Some(5));

        // Lowering is always allowed.
        let low = manifest("[limits]\nmemory_mib = 16\nbatch_ms = 50\nhost_calls = 7\n");
        let e = Policy::default().effective(&low, &defaults);
        assert_eq!(e.limits.memory_bytes, 16 << 20);
        assert_eq!(e.limits.deadline.as_millis(), 50);
        assert_eq!(e.limits.max_host_calls, Some(7));
    }

    #[test]
    fn a_policy_may_raise_a_ceiling_and_a_manifest_may_then_ask_for_it() {
        let m = manifest(
            "[limits]\nmemory_mib = 1024\nbatch_ms = 86400000\nhost_calls = 1000000000000\n",
        );
        let p = Policy::parse(
            "[limits]\nmemory_mib = 1024\nbatch_ms = 86400000\nhost_calls = 1000000000000\n",
            "policy.toml",
        )
        .unwrap();
        let e = p.effective(&m, &Limits::default());
        assert_eq!(e.limits.memory_bytes, 1 << 30);
        assert_eq!(e.limits.deadline.as_secs(), 86_400);
        assert_eq!(e.limits.max_host_calls, Some(1_000_000_000_000));
        // A raised ceiling is not a grant: a manifest that asks nothing gets the defaults.
        let quiet = manifest("");
        let e = p.effective(&quiet, &Limits::default());
        assert_eq!(e.limits, Limits::default());
        // An absurd request does not overflow into a small number.
        let huge = manifest("[limits]\nmemory_mib = 18446744073709551615\n");
        let e = Policy::default().effective(&huge, &Limits::default());
        assert_eq!(e.limits.memory_bytes, Limits::default().memory_bytes);
    }

    #[test]
    fn table_scope_combines_manifest_and_policy() {
        let m = manifest(
            "[capabilities.tables]\naccess = \"read\"\ntables = [\"Leads\"]\ncolumns = [\"Email\"]\n",
        );
        let p = Policy::parse(
            "tables = [\"t_1\"]\ndeny_columns = [\"SSN\"]\n",
            "policy.toml",
        )
        .unwrap();
        let e = p.effective(&m, &Limits::default());
        assert_eq!(e.grants.tables.table_lists.len(), 2);
        assert_eq!(e.grants.tables.columns, Some(vec!["Email".to_string()]));
        assert_eq!(e.grants.tables.denied_columns, vec!["SSN".to_string()]);
    }

    #[test]
    fn a_policy_typo_names_its_line() {
        let err = Policy::parse("max_credit_per_run = 5\n", "policy.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("policy.toml, line 1"), "{err}");
    }
}
