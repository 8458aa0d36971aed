//! `kiln new`: the scaffolded crate builds, passes its own test and becomes a component of the
//! world it was asked for — outside this repository, with the path to this checkout's SDK or
//! with a copy of the SDK of its own (`--vendor-sdk`, what an installed kiln does).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kiln_tests::{kiln_bin, repo_root};

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One target directory for every scaffolded crate, under the repository's target/, so the
/// SDK and wit-bindgen are compiled once, not per test run.
fn shared_target() -> PathBuf {
    repo_root().join("target").join("scaffolded")
}

fn kiln(cache: &Path) -> Command {
    let mut cmd = Command::new(kiln_bin());
    cmd.env_remove("KILN_WORKSPACE")
        .env("KILN_CACHE_DIR", cache)
        .env("KILN_LOG", "error")
        .env("CARGO_TARGET_DIR", shared_target());
    cmd
}

/// How the new crate reaches the SDK.
#[derive(Clone, Copy, PartialEq)]
enum Sdk {
    /// This checkout's guest-sdk, by absolute path.
    Checkout,
    /// Its own copy (`--vendor-sdk`, as an installed kiln with no source tree does).
    Vendored,
}

fn scaffold_build_and_inspect(world: &str, sdk: Sdk) {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("my-{world}");
    let mut new = kiln(dir.path());
    new.args(["new", &name, "--world", world, "--dir"])
        .arg(dir.path());
    if sdk == Sdk::Vendored {
        new.arg("--vendor-sdk");
    }
    let made = new.output().unwrap();
    assert!(made.status.success(), "{}", text(&made));
    let crate_dir = dir.path().join(&name);
    for file in [
        "Cargo.toml",
        "kiln.toml",
        "src/lib.rs",
        "rust-toolchain.toml",
    ] {
        assert!(crate_dir.join(file).is_file(), "{file} is missing");
    }
    let cargo_toml = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    let checkout = repo_root().join("guest-sdk").display().to_string();
    match sdk {
        Sdk::Checkout => assert!(cargo_toml.contains(&checkout), "{cargo_toml}"),
        Sdk::Vendored => {
            // Nothing of this checkout: the crate and its copy of the SDK build on their own.
            assert!(!cargo_toml.contains(&checkout), "{cargo_toml}");
            assert!(cargo_toml.contains("kiln-sdk/guest-sdk"), "{cargo_toml}");
            for file in ["guest-sdk/Cargo.toml", "batch/Cargo.toml", "wit/clay.wit"] {
                assert!(crate_dir.join("kiln-sdk").join(file).is_file(), "{file}");
            }
        }
    }

    // Its own test passes natively, straight away.
    let tested = Command::new("cargo")
        .arg("test")
        .current_dir(&crate_dir)
        .env("CARGO_TARGET_DIR", shared_target())
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(tested.status.success(), "{}", text(&tested));
    assert!(
        text(&tested).contains("test result: ok. 1 passed"),
        "{}",
        text(&tested)
    );

    // It builds to a component of the requested world.
    let built = kiln(dir.path())
        .arg("build")
        .arg(&crate_dir)
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", text(&built));
    let inspected = kiln(dir.path())
        .arg("inspect")
        .arg(&crate_dir)
        .args(["--build", "--json"])
        .output()
        .unwrap();
    assert!(inspected.status.success(), "{}", text(&inspected));
    let info: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert_eq!(info["world"], world);
    assert_eq!(info["name"], name);

    // Scaffolding over an existing crate is refused and changes nothing.
    let again = kiln(dir.path())
        .args(["new", &name, "--world", world, "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(text(&again).contains("already exists"), "{}", text(&again));
}

#[test]
fn a_new_auditor_builds_tests_and_inspects() {
    scaffold_build_and_inspect("auditor", Sdk::Checkout);
}

#[test]
fn a_new_transformer_with_its_own_copy_of_the_sdk_builds_tests_and_inspects() {
    scaffold_build_and_inspect("transformer", Sdk::Vendored);
}
