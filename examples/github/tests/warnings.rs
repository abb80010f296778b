//! Start-up says what would otherwise fail silently: a processor kind that the mapping does not have.

mod support;

#[tokio::test]
async fn a_kind_missing_from_the_mapping_is_named_at_start_up() {
    let dir = ocean_tests::temp_state_dir("warnings");
    let mapping = dir.join("mapping.yml");
    std::fs::write(
        &mapping,
        "resources:\n  - kind: repository\n    selector: { query: 'true' }\n    port:\n      entity:\n        mappings: { identifier: .name, blueprint: '\"githubRepository\"' }\n",
    )
    .unwrap();
    let binary = support::spawn_logged(
        &dir,
        &[
            ("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", "s"),
            ("OCEAN__MAPPING_FILE", mapping.to_str().unwrap()),
            ("RUST_LOG", "warn"),
        ],
        None,
    );
    support::wait_ready(&ocean::testing::client(), &binary.base).await;
    let log = binary.log();
    for kind in ["issue", "pull-request"] {
        let line = format!("kind `{kind}` is not in the mapping (its kinds: repository)");
        assert!(log.contains(&line), "{line} missing from:\n{log}");
    }
    assert!(!log.contains("kind `repository` is not"), "{log}");
}
