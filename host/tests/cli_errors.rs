//! The `kiln` binary refuses bad input with messages a user can act on, and loses nothing.

use std::process::Command;

fn kiln() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.env_remove("KILN_WORKSPACE").env("KILN_LOG", "error");
    cmd
}

fn stderr_of(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("kiln runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn garbage_bytes_are_refused_as_not_wasm() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plugin.wasm");
    std::fs::write(&file, b"#!/bin/sh\necho hi\n").unwrap();
    let (ok, err) = stderr_of(
        kiln()
            .arg("inspect")
            .arg(&file)
            .arg("--cache-dir")
            .arg(dir.path()),
    );
    assert!(!ok);
    assert!(err.contains("not WebAssembly"), "{err}");
    assert!(
        err.contains("wasm32-wasip2"),
        "says what was expected: {err}"
    );
}

#[test]
fn a_core_module_is_refused_as_not_a_component() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("core.wasm");
    // The smallest valid core module: magic and version 1.
    std::fs::write(&file, b"\0asm\x01\0\0\0").unwrap();
    let (ok, err) = stderr_of(
        kiln()
            .arg("inspect")
            .arg(&file)
            .arg("--cache-dir")
            .arg(dir.path()),
    );
    assert!(!ok);
    assert!(
        err.contains("core WebAssembly module, not a component"),
        "{err}"
    );
}

#[test]
fn a_missing_workspace_says_how_to_create_one() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("nope.sqlite");
    let (ok, err) = stderr_of(
        kiln()
            .arg("--workspace")
            .arg(&ws)
            .args(["workspace", "show"]),
    );
    assert!(!ok);
    assert!(err.contains("kiln workspace init"), "{err}");
    assert!(
        !ws.exists(),
        "showing a missing workspace must not create one"
    );
}

#[test]
fn an_unknown_plugin_name_lists_the_bundled_ones() {
    let (ok, err) = stderr_of(kiln().args(["inspect", "no-such-plugin"]));
    assert!(!ok);
    assert!(err.contains("normalize-contacts"), "{err}");
    assert!(err.contains("seat-audit"), "{err}");
}
