//! Components built to make a compiler work hard: each is a component wrapping one core
//! module, generated with wasm-encoder so the tests need no checked-in binaries.

use wasm_encoder::{
    CodeSection, Component, CustomSection, Function, FunctionSection, Module, ModuleSection,
    TypeSection,
};

fn wrap(module: &Module) -> Vec<u8> {
    let mut component = Component::new();
    component.section(&ModuleSection(module));
    component.finish()
}

/// `n` empty functions `() -> ()`.
pub fn many_functions(n: u32) -> Vec<u8> {
    let mut module = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([], []);
    module.section(&types);
    let mut funcs = FunctionSection::new();
    let mut code = CodeSection::new();
    let mut body = Function::new([]);
    body.instructions().end();
    for _ in 0..n {
        funcs.function(0);
        code.function(&body);
    }
    module.section(&funcs).section(&code);
    wrap(&module)
}

/// One function of `depth` nested empty blocks.
pub fn nested_blocks(depth: usize) -> Vec<u8> {
    let mut module = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([], []);
    module.section(&types);
    let mut funcs = FunctionSection::new();
    funcs.function(0);
    let mut raw = Vec::with_capacity(depth * 3 + 1);
    for _ in 0..depth {
        raw.extend_from_slice(&[0x02, 0x40]); // block (empty type)
    }
    raw.resize(raw.len() + depth + 1, 0x0b); // an `end` per block, and the body's own
    let mut body = Function::new([]);
    body.raw(raw);
    let mut code = CodeSection::new();
    code.function(&body);
    module.section(&funcs).section(&code);
    wrap(&module)
}

/// A valid, empty module padded with a custom section to about `bytes` bytes.
pub fn oversized(bytes: usize) -> Vec<u8> {
    let mut module = Module::new();
    module.section(&CustomSection {
        name: "padding".into(),
        data: vec![0u8; bytes].into(),
    });
    wrap(&module)
}
