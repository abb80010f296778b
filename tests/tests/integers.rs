//! Integer ids beyond 2^53 (what a double holds exactly) keep every digit from the request body to the
//! catalog: two issues whose ids differ in the last digit stay two entities, as libjq keeps them.

use std::time::Duration;

use ocean::testing::TestIntegration;

const MAPPING: &str = r#"
resources:
  - kind: item
    selector: { query: 'true' }
    port:
      entity:
        mappings:
          identifier: .id | tostring
          blueprint: '"item"'
          properties: { id: .id, negative: .neg, viaPath: .nested.id }
"#;

#[tokio::test]
async fn ids_beyond_two_to_the_53_stay_exact() {
    let integration =
        ocean::Integration::new("integers").processor(ocean_tests::echo("/items", "item")).default_mapping(MAPPING);
    let it = TestIntegration::start(integration).await.unwrap();
    for id in ["9007199254740993", "9007199254740992", "13911860366432383"] {
        let body = format!(r#"{{"id": {id}, "neg": -{id}, "nested": {{"id": {id}}}}}"#);
        assert_eq!(it.post("/items", body.as_bytes(), &[]).await.status(), 202);
    }
    assert!(it.wait_idle(Duration::from_secs(10)).await);
    let mut ids: Vec<String> =
        it.entities("item").iter().map(|e| e["identifier"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    assert_eq!(ids, ["13911860366432383", "9007199254740992", "9007199254740993"]);
    let e = it.entity("item", "9007199254740993").unwrap();
    assert_eq!(e["properties"]["id"].to_string(), "9007199254740993");
    assert_eq!(e["properties"]["negative"].to_string(), "-9007199254740993");
    assert_eq!(e["properties"]["viaPath"].to_string(), "9007199254740993");
    it.shutdown().await;
}
