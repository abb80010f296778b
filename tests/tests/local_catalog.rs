//! The embedded local catalog: Port's entity semantics (merge or replace, delete, relations kept), the
//! read API, and entities kept across a restart.

use std::time::Duration;

use ocean::testing::TestIntegration;
use serde_json::{Value, json};

fn mapping(merge: bool) -> String {
    format!(
        r#"
enableMergeEntity: {merge}
resources:
  - kind: service
    port:
      entity:
        mappings:
          identifier: .id
          title: .name
          blueprint: '"service"'
          team: .team
          properties: {{ language: .language, tier: .tier }}
          relations: {{ owner: .owner }}
"#
    )
}

async fn start(merge: bool, dir: &std::path::Path) -> TestIntegration {
    let integration = ocean::Integration::new("catalog")
        .processor(ocean_tests::echo("/items", "service"))
        .default_mapping(&mapping(merge));
    let d = dir.to_owned();
    TestIntegration::start_with(integration, move |s| s.state_dir = d).await.unwrap()
}

async fn send(it: &TestIntegration, body: Value) {
    assert_eq!(it.post("/items", body.to_string().as_bytes(), &[]).await.status(), 202);
    assert!(it.wait_idle(Duration::from_secs(10)).await);
}

#[tokio::test]
async fn merge_replace_delete_read_api_and_restart() {
    let dir = ocean_tests::temp_state_dir("catalog");
    let it = start(true, &dir).await;
    send(&it, json!({"upsert": [{"id": "api", "name": "API", "team": "core", "language": "rust", "tier": 1, "owner": "alice"}]})).await;
    // The entity as Port shows it: every field, properties and relations kept.
    let e = it.entity("service", "api").unwrap();
    assert_eq!(
        e,
        json!({"identifier": "api", "title": "API", "blueprint": "service", "icon": null, "team": "core",
        "properties": {"language": "rust", "tier": 1}, "relations": {"owner": "alice"}})
    );

    let list = it.client.get(format!("{}/catalog/blueprints/service/entities", it.base_url)).send().await.unwrap();
    assert_eq!(list.status(), 200);
    assert_eq!(list.json::<Vec<Value>>().await.unwrap().len(), 1);
    let missing =
        it.client.get(format!("{}/catalog/blueprints/service/entities/nope", it.base_url)).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    it.shutdown().await;

    // After a restart the entity is still there.
    let it = start(true, &dir).await;
    assert_eq!(it.entity("service", "api").unwrap()["title"], "API");
    send(&it, json!({"upsert": [{"id": "api", "name": "API v2", "team": "core", "language": "go"}]})).await;
    let e = it.entity("service", "api").unwrap();
    assert_eq!(e["title"], "API v2");
    assert_eq!(e["properties"]["language"], "go");
    send(&it, json!({"delete": [{"id": "api"}]})).await;
    assert!(it.entity("service", "api").is_none());
    it.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn merge_keeps_properties_of_other_writers_replace_does_not() {
    use ocean::mapping::{Changes, Entity};
    for merge in [true, false] {
        let dir = ocean_tests::temp_state_dir("catalog");
        let catalog = ocean::sink::LocalCatalog::open(&dir.join("catalog.redb")).unwrap();
        let entity = |props: Value| Entity {
            identifier: json!("svc"),
            title: json!("Service"),
            blueprint: "service".into(),
            icon: Value::Null,
            team: Value::Null,
            properties: props.as_object().unwrap().clone(),
            relations: Default::default(),
        };
        let apply = |e: Entity| {
            catalog.apply_blocking(&Changes { upserts: vec![e], merge, ..Default::default() }).unwrap();
        };
        apply(entity(json!({"a": 1})));
        apply(entity(json!({"b": 2})));
        let got = catalog.get("service", "svc").unwrap().unwrap();
        if merge {
            assert_eq!(got["properties"], json!({"a": 1, "b": 2}));
        } else {
            assert_eq!(got["properties"], json!({"b": 2}));
        }
        drop(catalog);
        std::fs::remove_dir_all(dir).ok();
    }
}
