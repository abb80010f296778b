//! `ocean new`: the crate it writes builds, and its generated test passes, as an author would run it
//! (`ocean new demo --ocean-path <checkout>/ocean-runtime && cd demo && cargo test`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn ocean_in(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ocean")).args(args).current_dir(dir).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

#[test]
fn a_new_crate_builds_and_its_test_passes() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = workspace().join("ocean-runtime");
    let (ok, out, err) = ocean_in(dir.path(), &["new", "demo", "--ocean-path", runtime.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("cd demo && cargo test"), "{out}");
    let demo = dir.path().join("demo");
    for file in [
        "Cargo.toml",
        "README.md",
        "src/main.rs",
        "src/tests.rs",
        ".port/spec.yaml",
        ".port/resources/port-app-config.yml",
        "events/issues/opened.json",
    ] {
        assert!(demo.join(file).is_file(), "{file} is missing");
    }
    let manifest = std::fs::read_to_string(demo.join("Cargo.toml")).unwrap();
    assert!(manifest.contains(&format!("path = \"{}\"", runtime.display())), "{manifest}");
    assert!(manifest.contains("name = \"demo\""), "{manifest}");
    assert_eq!(std::fs::read_to_string(demo.join("README.md")).unwrap().lines().filter(|l| !l.is_empty()).count(), 5);

    // The versions this workspace is tested with, resolved from the local registry cache: the build
    // needs no network and does not drift with new releases. In the workspace's target folder, whose
    // profile is the new crate's: the dependencies built for this test run are reused, and only the few
    // whose features differ are built again.
    std::fs::copy(workspace().join("Cargo.lock"), demo.join("Cargo.lock")).unwrap();
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace().join("target"), PathBuf::from);
    let out = Command::new(env!("CARGO"))
        .args(["test", "--offline"])
        .current_dir(&demo)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "cargo test of the new crate failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("tests::an_opened_issue_becomes_an_entity_and_a_deleted_one_goes ... ok"),
        "the generated test did not run:\n{stdout}"
    );
}

#[test]
fn new_refuses_a_bad_name_an_existing_folder_and_a_wrong_runtime_path() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = ocean_in(dir.path(), &["new", "9lives"]);
    assert!(!ok);
    assert!(err.contains("`9lives` is not a crate name"), "{err}");

    std::fs::create_dir(dir.path().join("taken")).unwrap();
    let (ok, _, err) = ocean_in(dir.path(), &["new", "taken"]);
    assert!(!ok);
    assert!(err.contains("`taken` already exists"), "{err}");

    let (ok, _, err) = ocean_in(dir.path(), &["new", "demo", "--ocean-path", dir.path().to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("--ocean-path: cannot read"), "{err}");
    assert!(!dir.path().join("demo").exists(), "a refused crate left files behind");

    // Without a path, the published version.
    let (ok, _, err) = ocean_in(dir.path(), &["new", "published"]);
    assert!(ok, "{err}");
    let manifest = std::fs::read_to_string(dir.path().join("published/Cargo.toml")).unwrap();
    assert!(manifest.contains(&format!("version = \"{}\"", env!("CARGO_PKG_VERSION"))), "{manifest}");
}
