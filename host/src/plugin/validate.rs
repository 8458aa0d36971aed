//! Caps on what a component may ask the compiler to do, checked before any compilation.
//!
//! Cranelift's time and memory grow with the number of functions, the size of each body and
//! how deeply its blocks nest: a 7.6 MB component of a million empty functions took minutes and
//! gigabytes to compile. These caps are checked by one linear walk over the binary (nested core
//! modules and components included), without validating or compiling anything, so a hostile
//! upload is refused in time proportional to its size and with nothing but its bytes in memory.

use std::fmt;

use wasmparser::{Operator, Parser, Payload};

use super::LoadError;

/// Limits on a component's shape, enforced at load. The defaults leave a wide margin over
/// every bundled plugin (see `tests/tests/compile_caps.rs`); an embedder that loads large
/// guests (an interpreter compiled to wasm, say) raises them in
/// [`RuntimeConfig::load_caps`](crate::RuntimeConfig::load_caps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadCaps {
    /// Bytes of the component file.
    pub max_component_bytes: usize,
    /// Functions defined across all of its core modules.
    pub max_functions: u64,
    /// Bytes of one function body.
    pub max_function_body_bytes: usize,
    /// Blocks (`block`, `loop`, `if`, `try`…) open at once inside one function.
    pub max_nesting_depth: u32,
    /// Locals declared by one function.
    pub max_locals_per_function: u64,
    /// Core modules embedded in the component, nested components included.
    pub max_core_modules: u32,
    /// Core and component instances the component declares.
    pub max_instances: u32,
}

impl Default for LoadCaps {
    fn default() -> Self {
        // Bundled plugins and test guests (measured): ≤ 260 KB, ≤ 606 functions, bodies
        // ≤ 12 KB, nesting ≤ 42, ≤ 63 locals, 3 core modules, ≤ 30 instances. Rust plugins with heavy
        // dependencies are larger, so the margins are wide: these stop bombs, not plugins.
        Self {
            max_component_bytes: 32 << 20,
            max_functions: 50_000,
            max_function_body_bytes: 1 << 20,
            max_nesting_depth: 2_000,
            max_locals_per_function: 10_000,
            max_core_modules: 64,
            max_instances: 1_000,
        }
    }
}

/// Which cap a component exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    ComponentBytes,
    Functions,
    FunctionBodyBytes,
    NestingDepth,
    LocalsPerFunction,
    CoreModules,
    Instances,
}

impl Cap {
    /// The field of [`LoadCaps`] that sets it, as an operator would look it up.
    pub fn name(self) -> &'static str {
        match self {
            Cap::ComponentBytes => "max_component_bytes",
            Cap::Functions => "max_functions",
            Cap::FunctionBodyBytes => "max_function_body_bytes",
            Cap::NestingDepth => "max_nesting_depth",
            Cap::LocalsPerFunction => "max_locals_per_function",
            Cap::CoreModules => "max_core_modules",
            Cap::Instances => "max_instances",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Cap::ComponentBytes => "the component is larger than",
            Cap::Functions => "the component defines more functions than",
            Cap::FunctionBodyBytes => "a function body is larger than",
            Cap::NestingDepth => "a function nests blocks deeper than",
            Cap::LocalsPerFunction => "a function declares more locals than",
            Cap::CoreModules => "the component embeds more core modules than",
            Cap::Instances => "the component declares more instances than",
        }
    }
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A component over one of its [`LoadCaps`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} the load cap {cap} = {limit} (found {found}{}); it is refused before compiling",
    cap.what(),
    if *.exact { "" } else { " or more" }
)]
pub struct CapExceeded {
    pub cap: Cap,
    pub limit: u64,
    /// What the component has, or the first count past the limit when the walk stopped early.
    pub found: u64,
    exact: bool,
}

/// What [`check`] measured, for reporting and for sizing the caps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    pub component_bytes: usize,
    pub functions: u64,
    pub max_function_body_bytes: usize,
    pub max_nesting_depth: u32,
    pub max_locals_per_function: u64,
    pub core_modules: u32,
    pub instances: u32,
}

/// Why a component could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Cap(#[from] CapExceeded),
    #[error("the component is malformed: {0}")]
    Malformed(String),
}

impl From<wasmparser::BinaryReaderError> for CheckError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        CheckError::Malformed(e.to_string())
    }
}

fn over(cap: Cap, limit: u64, found: u64, exact: bool) -> CheckError {
    CheckError::Cap(CapExceeded {
        cap,
        limit,
        found,
        exact,
    })
}

/// Walks `bytes` once and refuses it at the first cap it exceeds. Counts are checked against
/// the section headers before their contents are read, so a section announcing a million
/// functions is refused without reading them.
pub fn check(bytes: &[u8], caps: &LoadCaps) -> Result<Shape, CheckError> {
    if bytes.len() > caps.max_component_bytes {
        return Err(over(
            Cap::ComponentBytes,
            caps.max_component_bytes as u64,
            bytes.len() as u64,
            true,
        ));
    }
    let mut shape = Shape {
        component_bytes: bytes.len(),
        ..Shape::default()
    };
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::ModuleSection { .. } => {
                shape.core_modules += 1;
                if shape.core_modules > caps.max_core_modules {
                    return Err(over(
                        Cap::CoreModules,
                        caps.max_core_modules.into(),
                        shape.core_modules.into(),
                        false,
                    ));
                }
            }
            Payload::InstanceSection(reader) => add_instances(&mut shape, reader.count(), caps)?,
            Payload::ComponentInstanceSection(reader) => {
                add_instances(&mut shape, reader.count(), caps)?
            }
            Payload::CodeSectionStart { count, .. } => {
                shape.functions += u64::from(count);
                if shape.functions > caps.max_functions {
                    return Err(over(
                        Cap::Functions,
                        caps.max_functions,
                        shape.functions,
                        false,
                    ));
                }
            }
            Payload::CodeSectionEntry(body) => check_body(&body, caps, &mut shape)?,
            _ => {}
        }
    }
    Ok(shape)
}

fn add_instances(shape: &mut Shape, count: u32, caps: &LoadCaps) -> Result<(), CheckError> {
    shape.instances = shape.instances.saturating_add(count);
    if shape.instances > caps.max_instances {
        return Err(over(
            Cap::Instances,
            caps.max_instances.into(),
            shape.instances.into(),
            false,
        ));
    }
    Ok(())
}

fn check_body(
    body: &wasmparser::FunctionBody<'_>,
    caps: &LoadCaps,
    shape: &mut Shape,
) -> Result<(), CheckError> {
    let size = body.range().len();
    if size > caps.max_function_body_bytes {
        return Err(over(
            Cap::FunctionBodyBytes,
            caps.max_function_body_bytes as u64,
            size as u64,
            true,
        ));
    }
    shape.max_function_body_bytes = shape.max_function_body_bytes.max(size);

    let mut locals: u64 = 0;
    for group in body.get_locals_reader()? {
        let (n, _) = group?;
        locals = locals.saturating_add(u64::from(n));
        if locals > caps.max_locals_per_function {
            return Err(over(
                Cap::LocalsPerFunction,
                caps.max_locals_per_function,
                locals,
                false,
            ));
        }
    }
    shape.max_locals_per_function = shape.max_locals_per_function.max(locals);

    // The body itself is the outermost block; its final `end` closes it.
    let mut depth: u32 = 0;
    let mut deepest: u32 = 0;
    let mut ops = body.get_operators_reader()?;
    while !ops.eof() {
        match ops.read()? {
            Operator::Block { .. }
            | Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::Try { .. }
            | Operator::TryTable { .. } => {
                depth += 1;
                if depth > caps.max_nesting_depth {
                    return Err(over(
                        Cap::NestingDepth,
                        caps.max_nesting_depth.into(),
                        depth.into(),
                        false,
                    ));
                }
                deepest = deepest.max(depth);
            }
            Operator::End => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    shape.max_nesting_depth = shape.max_nesting_depth.max(deepest);
    Ok(())
}

/// [`check`] for the load path: a cap is [`LoadError::OverCap`], bytes that do not parse are
/// [`LoadError::Compile`] (the compiler would refuse them with the same reason).
pub(crate) fn enforce(bytes: &[u8], caps: &LoadCaps) -> Result<(), LoadError> {
    match check(bytes, caps) {
        Ok(_) => Ok(()),
        Err(CheckError::Cap(cap)) => Err(LoadError::OverCap(cap)),
        Err(CheckError::Malformed(e)) => Err(LoadError::Compile(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prints the shape of every built bundled plugin, to size the defaults:
    /// `cargo test -p kiln-host --lib plugin::validate -- --nocapture`.
    #[test]
    fn bundled_plugins_fit_the_default_caps() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/kiln-plugins/components");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for entry in entries.flatten() {
            let bytes = std::fs::read(entry.path()).unwrap();
            let shape = check(&bytes, &LoadCaps::default());
            println!("{}: {shape:?}", entry.path().display());
            assert!(shape.is_ok());
        }
    }

    #[test]
    fn the_message_names_the_cap_and_its_value() {
        let caps = LoadCaps {
            max_component_bytes: 4,
            ..LoadCaps::default()
        };
        let err = check(b"\0asm\x0d\0\x01\0", &caps).unwrap_err().to_string();
        assert!(err.contains("max_component_bytes = 4"), "{err}");
        assert!(err.contains("found 8"), "{err}");
    }
}
