//! Compile-error tests of the macros: what users get wrong gets a spanned error naming the problem.
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test -p ocean-tests --test ui` and review
//! the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/webhook_processor/pass/*.rs");
    t.compile_fail("ui/webhook_processor/fail/*.rs");
    t.compile_fail("ui/on_start/fail/*.rs");
    t.compile_fail("ui/route/fail/*.rs");
}
