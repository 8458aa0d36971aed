//! The plugin manifest, `kiln.toml`: who the plugin is and what it asks for — capabilities
//! (with table and column scope), limits, a credit budget — and the settings it reads.
//!
//! `kiln build` embeds the manifest's text in the component as a custom section named
//! [`SECTION`], so one `.wasm` carries it; the runtime reads it back at load.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::capabilities::{Access, Interface};
use crate::plugin::World;

/// The custom section that carries the manifest inside a component.
pub const SECTION: &str = "kiln-manifest";

/// A parsed, validated manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub world: World,
    pub description: String,
    /// What the plugin requests, per interface. `log` and `config` are always granted.
    pub capabilities: BTreeMap<Interface, Request>,
    pub limits: LimitRequests,
    pub budget: BudgetRequest,
    /// How a transformer's batches may be run.
    pub transform: TransformRequest,
    /// The settings the plugin reads, with their defaults.
    pub config: BTreeMap<String, ConfigKey>,
}

/// `[transform]`: what a transformer declares about its batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformRequest {
    /// Each batch's outcomes depend on that batch alone (no state carried from one batch to
    /// the next), so kiln may run batches on several instances at once (`kiln run
    /// --parallel`). Honoured only for a plugin that imports no `tables` interface.
    #[serde(default)]
    pub independent_batches: bool,
}

/// One interface's request: an access level and, for `tables`, an optional scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    pub access: Access,
    /// Tables by id or name; `None` means any table.
    pub tables: Option<Vec<String>>,
    /// Columns by field id or name; `None` means every column.
    pub columns: Option<Vec<String>>,
}

impl Request {
    pub fn unscoped(access: Access) -> Self {
        Self {
            access,
            tables: None,
            columns: None,
        }
    }
}

/// Limits the plugin asks for. A request above the runtime's default gets the default
/// unless the operator's policy raises the ceiling; the policy may also lower them.
/// (In a policy file, the same keys are those ceilings.)
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitRequests {
    pub memory_mib: Option<u64>,
    /// Wall-clock deadline of one call (a batch or an audit).
    pub batch_ms: Option<u64>,
    pub fuel: Option<u64>,
    pub host_calls: Option<u64>,
    /// Bytes one call may hand back (a batch's outcomes, an audit's report).
    pub output_bytes: Option<u64>,
    /// Bytes of log output (the `log` interface and stdout/stderr) per invocation.
    pub log_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetRequest {
    /// Credits one run may spend; `None` (or 0) means it may not spend any.
    pub credits_per_run: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigKey {
    pub default: Option<String>,
    #[serde(default)]
    pub description: String,
}

/// A manifest that could not be read; the message names the file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("{origin}, line {line}: {message}")]
    Invalid {
        origin: String,
        line: usize,
        message: String,
    },
    #[error("{origin}: {message}")]
    Malformed { origin: String, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: Spanned<String>,
    version: String,
    world: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    capabilities: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    #[serde(default)]
    limits: LimitRequests,
    #[serde(default)]
    budget: BudgetRequest,
    transform: Option<Spanned<TransformRequest>>,
    #[serde(default)]
    config: BTreeMap<String, ConfigKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    access: String,
    tables: Option<Vec<String>>,
    columns: Option<Vec<String>>,
}

impl Manifest {
    /// Parses `text`; `origin` (a path, or the plugin's name) goes into error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ManifestError> {
        let at = |span: Range<usize>, message: String| ManifestError::Invalid {
            origin: origin.to_string(),
            line: line_of(text, span.start),
            message,
        };
        let raw: Raw = toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => at(span, e.message().trim().to_string()),
            None => ManifestError::Malformed {
                origin: origin.to_string(),
                message: e.message().trim().to_string(),
            },
        })?;

        let name = raw.name.get_ref();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(at(
                raw.name.span(),
                format!("name `{name}` must be lowercase letters, digits and '-'"),
            ));
        }
        let world = match raw.world.get_ref().as_str() {
            "transformer" => World::Transformer,
            "auditor" => World::Auditor,
            other => {
                return Err(at(
                    raw.world.span(),
                    format!("world `{other}` is not `transformer` or `auditor`"),
                ));
            }
        };

        let mut capabilities = BTreeMap::new();
        for (key, value) in raw.capabilities {
            let interface = Interface::ALL
                .into_iter()
                .find(|i| i.name() == key.get_ref())
                .ok_or_else(|| {
                    at(
                        key.span(),
                        format!(
                            "unknown capability `{}`; expected one of {}",
                            key.get_ref(),
                            Interface::ALL.map(|i| i.name()).join(", ")
                        ),
                    )
                })?;
            let span = value.span();
            let request = parse_request(value.into_inner()).map_err(|m| at(span.clone(), m))?;
            if interface != Interface::Tables
                && (request.tables.is_some() || request.columns.is_some())
            {
                return Err(at(
                    span,
                    format!("only `tables` takes a table or column scope, not `{interface}`"),
                ));
            }
            capabilities.insert(interface, request);
        }
        if let Some(credits) = raw.budget.credits_per_run
            && !(credits >= 0.0 && credits.is_finite())
        {
            return Err(ManifestError::Malformed {
                origin: origin.to_string(),
                message: format!("budget.credits_per_run must be a number ≥ 0, not {credits}"),
            });
        }
        let transform = match raw.transform {
            Some(t) if world != World::Transformer => {
                return Err(at(
                    t.span(),
                    "[transform] is for transformers; this plugin's world is `auditor`".into(),
                ));
            }
            Some(t) => t.into_inner(),
            None => TransformRequest::default(),
        };
        Ok(Self {
            name: name.clone(),
            version: raw.version,
            world,
            description: raw.description,
            capabilities,
            limits: raw.limits,
            budget: raw.budget,
            transform,
            config: raw.config,
        })
    }

    /// What a component without an embedded manifest is taken to ask for: its world's
    /// read-only defaults, no credits, any settings.
    pub fn implied(name: &str, world: World) -> Self {
        let capabilities = match world {
            World::Transformer => vec![Interface::Tables],
            World::Auditor => Interface::ALL
                .into_iter()
                .filter(|i| !matches!(i, Interface::Log | Interface::Config))
                .collect(),
        };
        Self {
            name: name.to_string(),
            version: "0.0.0".to_string(),
            world,
            description: String::new(),
            capabilities: capabilities
                .into_iter()
                .map(|i| (i, Request::unscoped(Access::Read)))
                .collect(),
            limits: LimitRequests::default(),
            budget: BudgetRequest::default(),
            transform: TransformRequest::default(),
            config: BTreeMap::new(),
        }
    }

    /// What the plugin requests of `interface`; `log` and `config` are always requested.
    pub fn request(&self, interface: Interface) -> Option<Request> {
        match interface {
            Interface::Log | Interface::Config => Some(Request::unscoped(Access::Read)),
            _ => self.capabilities.get(&interface).cloned(),
        }
    }
}

fn parse_request(value: toml::Value) -> Result<Request, String> {
    match value {
        toml::Value::String(s) => Ok(Request::unscoped(parse_access(&s)?)),
        toml::Value::Table(t) => {
            let raw: RawRequest = t
                .try_into()
                .map_err(|e: toml::de::Error| e.message().trim().to_string())?;
            Ok(Request {
                access: parse_access(&raw.access)?,
                tables: raw.tables,
                columns: raw.columns,
            })
        }
        other => Err(format!(
            "expected \"read\", \"write\" or a table {{ access = …, tables = […], columns = […] }}, found {}",
            other.type_str()
        )),
    }
}

fn parse_access(s: &str) -> Result<Access, String> {
    match s {
        "read" => Ok(Access::Read),
        "write" => Ok(Access::Write),
        other => Err(format!("access `{other}` is not \"read\" or \"write\"")),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

impl fmt::Display for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.name, self.version, self.world)
    }
}

/// Why a manifest could not be embedded in, or read from, a component.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SectionError {
    #[error("not a WebAssembly binary: {0}")]
    Parse(String),
    #[error("the `{SECTION}` section is not UTF-8 text")]
    NotText,
    #[error("the component carries more than one `{SECTION}` section")]
    Duplicate,
}

/// The manifest text a component carries, if any. Only top-level sections count: a
/// nested core module's custom sections belong to it, not to the plugin.
pub fn extract(wasm: &[u8]) -> Result<Option<String>, SectionError> {
    let mut found = None;
    for (range, name) in top_level_custom_sections(wasm)? {
        if name != SECTION {
            continue;
        }
        if found.is_some() {
            return Err(SectionError::Duplicate);
        }
        let data = &wasm[range];
        found = Some(
            std::str::from_utf8(data)
                .map_err(|_| SectionError::NotText)?
                .to_string(),
        );
    }
    Ok(found)
}

/// `wasm` without its manifest section: the code alone, which is what compiling depends on.
pub fn strip(wasm: &[u8]) -> Result<Vec<u8>, SectionError> {
    let mut out = Vec::with_capacity(wasm.len());
    let mut last = 0;
    for (section, name) in top_level_sections_with_names(wasm)? {
        if name.as_deref() == Some(SECTION) {
            out.extend_from_slice(&wasm[last..section.start]);
            last = section.end;
        }
    }
    out.extend_from_slice(&wasm[last..]);
    Ok(out)
}

/// `wasm` with its manifest section (if any) replaced by one carrying `manifest`.
pub fn embed(wasm: &[u8], manifest: &str) -> Result<Vec<u8>, SectionError> {
    let mut out = strip(wasm)?;
    out.reserve(manifest.len() + 32);
    let custom = wasm_encoder::CustomSection {
        name: SECTION.into(),
        data: manifest.as_bytes().into(),
    };
    out.push(wasm_encoder::Section::id(&custom));
    wasm_encoder::Encode::encode(&custom, &mut out);
    Ok(out)
}

/// (data range, name) of each top-level custom section.
fn top_level_custom_sections(wasm: &[u8]) -> Result<Vec<(Range<usize>, String)>, SectionError> {
    use wasmparser::{Parser, Payload};
    let mut out = Vec::new();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| SectionError::Parse(e.to_string()))? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::CustomSection(reader) if depth == 0 => out.push((
                reader.data_offset()..reader.range().end,
                reader.name().to_string(),
            )),
            _ => {}
        }
    }
    Ok(out)
}

/// A top-level section: its whole byte range (id and size included) and, for a custom
/// section, its name.
type Section = (Range<usize>, Option<String>);

/// Each top-level section, found by walking the section headers.
fn top_level_sections_with_names(wasm: &[u8]) -> Result<Vec<Section>, SectionError> {
    let bad = |m: &str| SectionError::Parse(m.to_string());
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(bad("missing the \\0asm header"));
    }
    let mut out = Vec::new();
    let mut pos = 8;
    while pos < wasm.len() {
        let start = pos;
        let id = wasm[pos];
        pos += 1;
        let (size, n) = read_u32(&wasm[pos..]).ok_or_else(|| bad("truncated section header"))?;
        pos += n;
        let end = pos
            .checked_add(size as usize)
            .filter(|e| *e <= wasm.len())
            .ok_or_else(|| bad("a section runs past the end of the file"))?;
        let name = if id == 0 {
            let (len, n) =
                read_u32(&wasm[pos..end]).ok_or_else(|| bad("truncated custom section name"))?;
            wasm.get(pos + n..pos + n + len as usize)
                .map(|b| String::from_utf8_lossy(b).into_owned())
        } else {
            None
        };
        out.push((start..end, name));
        pos = end;
    }
    Ok(out)
}

fn read_u32(bytes: &[u8]) -> Option<(u32, usize)> {
    let mut result: u32 = 0;
    for (i, b) in bytes.iter().take(5).enumerate() {
        result |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((result, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "normalize-contacts"
version = "0.1.0"
world = "transformer"
description = "cleans contacts"

[capabilities]
credits = "read"

[capabilities.tables]
access = "write"
tables = ["Leads"]
columns = ["Email"]

[limits]
memory_mib = 64
batch_ms = 2000

[budget]
credits_per_run = 5

[config.email_column]
default = "Email"
description = "where emails are"
"#;

    #[test]
    fn a_full_manifest_parses() {
        let m = Manifest::parse(GOOD, "kiln.toml").unwrap();
        assert_eq!(m.world, World::Transformer);
        let tables = m.request(Interface::Tables).unwrap();
        assert_eq!(tables.access, Access::Write);
        assert_eq!(tables.tables, Some(vec!["Leads".to_string()]));
        assert_eq!(tables.columns, Some(vec!["Email".to_string()]));
        assert_eq!(
            m.request(Interface::Credits),
            Some(Request::unscoped(Access::Read))
        );
        assert_eq!(m.request(Interface::Folders), None);
        assert_eq!(
            m.request(Interface::Log),
            Some(Request::unscoped(Access::Read))
        );
        assert_eq!(m.limits.memory_mib, Some(64));
        assert_eq!(m.budget.credits_per_run, Some(5.0));
        assert_eq!(m.config["email_column"].default.as_deref(), Some("Email"));
    }

    fn error_of(text: &str) -> ManifestError {
        Manifest::parse(text, "kiln.toml").unwrap_err()
    }

    #[test]
    fn a_typo_in_a_key_names_its_line() {
        let text = GOOD.replace("memory_mib = 64", "memroy_mib = 64");
        let err = error_of(&text).to_string();
        assert!(err.contains("line 16"), "{err}");
        assert!(err.contains("memroy_mib"), "{err}");
    }

    #[test]
    fn transform_declares_independent_batches_for_transformers_only() {
        assert!(
            !Manifest::parse(GOOD, "kiln.toml")
                .unwrap()
                .transform
                .independent_batches
        );
        let text = format!("{GOOD}\n[transform]\nindependent_batches = true\n");
        assert!(
            Manifest::parse(&text, "kiln.toml")
                .unwrap()
                .transform
                .independent_batches
        );
        let typo = format!("{GOOD}\n[transform]\nindependent_batch = true\n");
        let err = error_of(&typo).to_string();
        assert!(err.contains("independent_batch"), "{err}");
        let auditor = text.replace("world = \"transformer\"", "world = \"auditor\"");
        let err = error_of(&auditor).to_string();
        assert!(err.contains("[transform] is for transformers"), "{err}");
    }

    #[test]
    fn an_unknown_top_level_key_is_refused() {
        let err = error_of(&format!("{GOOD}\nauthor = \"me\"\n")).to_string();
        assert!(err.contains("author"), "{err}");
        assert!(err.contains("line"), "{err}");
    }

    #[test]
    fn an_unknown_capability_names_its_line_and_the_choices() {
        let text = GOOD.replace("credits = \"read\"", "credit = \"read\"");
        let err = error_of(&text).to_string();
        assert!(err.contains("line 8"), "{err}");
        assert!(err.contains("unknown capability `credit`"), "{err}");
        assert!(err.contains("credits"), "{err}");
    }

    #[test]
    fn a_bad_access_level_or_world_is_refused() {
        let err = error_of(&GOOD.replace("credits = \"read\"", "credits = \"admin\"")).to_string();
        assert!(err.contains("`admin`"), "{err}");
        let err = error_of(&GOOD.replace("\"transformer\"", "\"transform\"")).to_string();
        assert!(
            err.contains("line 4") && err.contains("`transform`"),
            "{err}"
        );
    }

    #[test]
    fn scope_on_an_interface_other_than_tables_is_refused() {
        let text = GOOD.replace(
            "credits = \"read\"",
            "credits = { access = \"read\", tables = [\"Leads\"] }",
        );
        let err = error_of(&text).to_string();
        assert!(err.contains("only `tables`"), "{err}");
    }

    #[test]
    fn missing_required_fields_are_named() {
        let err = error_of("name = \"x\"\nworld = \"auditor\"\n").to_string();
        assert!(err.contains("version"), "{err}");
    }

    /// The smallest valid component: the preamble of a component with no sections.
    fn empty_component() -> Vec<u8> {
        b"\0asm\x0d\x00\x01\x00".to_vec()
    }

    #[test]
    fn embedding_round_trips_and_replaces_an_earlier_manifest() {
        let wasm = empty_component();
        assert_eq!(extract(&wasm).unwrap(), None);
        let once = embed(&wasm, "name = \"a\"").unwrap();
        assert_eq!(extract(&once).unwrap().as_deref(), Some("name = \"a\""));
        let twice = embed(&once, "name = \"b\"").unwrap();
        assert_eq!(extract(&twice).unwrap().as_deref(), Some("name = \"b\""));
        assert_eq!(twice.len(), once.len(), "the old section was replaced");
    }
}
