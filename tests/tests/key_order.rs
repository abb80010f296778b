//! Objects keep the order of their keys from the payload to the entity, as libjq and Port keep it:
//! `keys_unsorted`, `to_entries`, `tojson` and `first(.[])` see the keys as the provider sent them.

use std::time::Duration;

use ocean::testing::TestIntegration;
use serde_json::json;

const MAPPING: &str = r#"
resources:
  - kind: item
    selector: { query: 'true' }
    port:
      entity:
        mappings:
          identifier: .id | tostring
          title: .labels | to_entries | map(.key) | join(",")
          blueprint: '"item"'
          properties:
            keys: keys_unsorted
            json: .labels | tojson
            first: first(.labels[])
            labels: .labels
"#;

#[tokio::test]
async fn keys_keep_the_order_the_provider_sent_them_in() {
    let integration =
        ocean::Integration::new("order").processor(ocean_tests::echo("/items", "item")).default_mapping(MAPPING);
    let it = TestIntegration::builder(integration).start().await.unwrap();
    // Written by hand, not through a map that might sort: the order is the provider's.
    let body = br#"{"id": 1, "zeta": true, "labels": {"urgent": "red", "bug": "orange", "api": "blue"}, "alpha": 0}"#;
    let r = it.post("/items", body, &[]).await;
    assert_eq!(r.status(), 202);
    let e = it.wait_for_entity("item", "1", Duration::from_secs(10)).await.expect("the entity");
    assert_eq!(e["title"], "urgent,bug,api");
    assert_eq!(e["properties"]["keys"], json!(["id", "zeta", "labels", "alpha"]));
    assert_eq!(e["properties"]["json"], r#"{"urgent":"red","bug":"orange","api":"blue"}"#);
    assert_eq!(e["properties"]["first"], "red");
    // The stored entity keeps the order too.
    let labels: Vec<&String> = e["properties"]["labels"].as_object().unwrap().keys().collect();
    assert_eq!(labels, ["urgent", "bug", "api"]);
    it.shutdown().await;
}
