//! Port's mapping semantics, as the reference implements them: `itemsToParse`, boolean selectors, first
//! output, single-quote rewriting, `env` blanked, entities without identifier dropped, and the upsert and
//! delete sets (with deleted items that fail the selector still deleted).

use ocean::mapping::{EntityRef, Mapping};
use serde_json::{Value, json};

fn corpus_config(name: &str) -> Mapping {
    let path = ocean_tests::corpus().join("port-app-configs").join(name);
    Mapping::parse(name, &std::fs::read_to_string(path).unwrap(), false).unwrap()
}

#[test]
fn items_to_parse_expands_each_element_under_item() {
    let m = corpus_config("argocd.yml");
    let cluster = json!({"name": "prod", "namespaces": ["payments", "search"], "server": "https://k8s", "info": {"applicationsCount": 3}});
    let changes = m.map_items("cluster", &[cluster], &[]);
    let ids: Vec<&Value> = changes.upserts.iter().map(|e| &e.identifier).collect();
    assert_eq!(ids, vec![&json!("prod"), &json!("prod-payments"), &json!("prod-search")]);
    let ns = &changes.upserts[1];
    assert_eq!(ns.blueprint, "argocdNamespace");
    assert_eq!(ns.relations["cluster"], "prod");
}

#[test]
fn items_to_parse_name_and_top_level_transform() {
    let yaml = r#"
resources:
  - kind: team
    port:
      itemsToParse: .members
      itemsToParseName: member
      entity:
        mappings:
          identifier: .member.login
          blueprint: '"user"'
          properties: { team: .name, stillHasMembers: has("members") }
  - kind: team
    port:
      itemsToParse: .members
      itemsToParseTopLevelTransform: false
      entity:
        mappings:
          identifier: '"kept-" + .item.login'
          blueprint: '"user"'
          properties: { stillHasMembers: has("members") }
"#;
    let m = Mapping::parse("inline", yaml, false).unwrap();
    let team = json!({"name": "core", "members": [{"login": "ada"}, {"login": "alan"}]});
    let c = m.map_items("team", &[team], &[]);
    assert_eq!(c.upserts.len(), 4);
    assert_eq!(c.upserts[0].identifier, "ada");
    assert_eq!(c.upserts[0].properties["team"], "core");
    assert_eq!(c.upserts[0].properties["stillHasMembers"], false);
    assert_eq!(c.upserts[2].identifier, "kept-ada");
    assert_eq!(c.upserts[2].properties["stillHasMembers"], true);
}

#[test]
fn selector_semantics_and_the_upsert_and_delete_sets() {
    let yaml = r#"
resources:
  - kind: issue
    selector:
      query: .state == 'open'
    port:
      entity:
        mappings:
          identifier: .key
          title: .title
          blueprint: '"issue"'
          properties:
            home: env.HOME
            path: $ENV.PATH
            first: .labels[]
            broken: .title | ascii_downcase | error("boom")
  - kind: odd
    selector:
      query: .state
    port:
      entity:
        mappings: { identifier: .id | tostring, blueprint: '"odd"' }
"#;
    let m = Mapping::parse("inline", yaml, false).unwrap();
    let open = json!({"key": "1", "title": "Open", "state": "open", "labels": ["bug", "ui"]});
    let closed = json!({"key": "2", "title": "Closed", "state": "closed", "labels": []});
    let no_id = json!({"title": "No identifier: dropped", "state": "open", "labels": []});
    let deleted_closed = json!({"key": "3", "title": "Gone", "state": "closed"});
    let c = m.map_items("issue", &[open, closed, no_id], &[deleted_closed]);
    // Passed the selector: upserted; single quotes rewritten; first output; env blanked; a failing leaf is null.
    assert_eq!(c.upserts.len(), 1);
    let e = &c.upserts[0];
    assert_eq!(e.identifier, "1");
    assert_eq!(e.properties["home"], Value::Null);
    assert_eq!(e.properties["path"], Value::Null);
    assert_eq!(e.properties["first"], "bug");
    assert_eq!(e.properties["broken"], Value::Null);
    // Failed the selector among updates: deleted; deleted item failing the selector: still deleted (the fix).
    let issue = |id: &str| EntityRef { blueprint: "issue".into(), identifier: id.into() };
    assert_eq!(c.deletes, vec![issue("2"), issue("3")]);

    // A selector that does not yield a boolean skips the item.
    let c = m.map_items("odd", &[json!({"id": 9, "state": "open"})], &[]);
    assert!(c.upserts.is_empty() && c.deletes.is_empty());
}

#[test]
fn an_entity_upserted_by_one_resource_is_not_deleted_by_another() {
    let yaml = r#"
resources:
  - kind: pr
    selector: { query: .open }
    port: { entity: { mappings: { identifier: .id | tostring, blueprint: '"pr"' } } }
  - kind: pr
    selector: { query: .open | not }
    port: { entity: { mappings: { identifier: .id | tostring, blueprint: '"pr"' } } }
"#;
    let m = Mapping::parse("inline", yaml, false).unwrap();
    let c = m.map_items("pr", &[json!({"id": 5, "open": true})], &[]);
    assert_eq!(c.upserts.len(), 1);
    assert!(c.deletes.is_empty(), "{:?}", c.deletes);
}

/// Numbers written as text (interpolation, `tostring`, `tojson`, `@text`) read as libjq writes them: an
/// integral result of arithmetic without `.0`, large and small ones with libjq's exponent.
#[test]
fn numbers_in_text_read_as_libjq_writes_them() {
    let yaml = r#"
resources:
  - kind: file
    port:
      entity:
        mappings:
          identifier: '"f-\(.id)"'
          blueprint: '"file"'
          properties:
            half: '"\(.size / 2) KB"'
            quarter: .size / 4 | tostring
            large: .size * 1e15 | tojson
            larger: .size * 1e16 | tojson
            text: .size / 2 | @text
            tiny: '"\(.size / 1e7)"'
            list: '[.size / 2] | tojson'
"#;
    let m = Mapping::parse("inline", yaml, false).unwrap();
    let c = m.map_items("file", &[json!({"id": 7, "size": 2})], &[]);
    let e = &c.upserts[0];
    assert_eq!(e.identifier, "f-7");
    let p = &e.properties;
    assert_eq!(p["half"], "1 KB");
    assert_eq!(p["quarter"], "0.5");
    assert_eq!(p["large"], "2000000000000000");
    assert_eq!(p["larger"], "2e+16");
    assert_eq!(p["text"], "1");
    assert_eq!(p["tiny"], "2e-07");
    assert_eq!(p["list"], "[1]");
}
