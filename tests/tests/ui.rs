//! Compile-error tests of the macros: what users get wrong gets a spanned error naming the problem.
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test -p ocean-tests --test ui` and review
//! the diff.
//!
//! The snapshots hold rustc's own text around the macros' errors, which changes between compiler
//! releases: they are pinned to the release in `ui/TOOLCHAIN`, and the test says so rather than showing a
//! diff of wording when another compiler runs it.

#[test]
fn ui() {
    let pinned = include_str!("../ui/TOOLCHAIN").trim();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc).arg("--version").output().expect("rustc --version");
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(
        version.starts_with(&format!("rustc {pinned}")),
        "the UI snapshots are for rustc {pinned}, this is {version}: regenerate them with TRYBUILD=overwrite and update tests/ui/TOOLCHAIN"
    );
    let t = trybuild::TestCases::new();
    t.pass("ui/webhook_processor/pass/*.rs");
    t.compile_fail("ui/webhook_processor/fail/*.rs");
    t.compile_fail("ui/on_start/fail/*.rs");
    t.pass("ui/on_resync/pass/*.rs");
    t.compile_fail("ui/on_resync/fail/*.rs");
    t.pass("ui/route/pass/*.rs");
    t.compile_fail("ui/route/fail/*.rs");
}
