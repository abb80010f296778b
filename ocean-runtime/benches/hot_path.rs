//! Per-event costs on the hot path, on a real GitHub payload: JSON parsing, signature verification and the
//! GitHub mapping. Run with `cargo bench -p ocean-runtime --bench hot_path`.
//!
//! `issue_members_by_key` and `map_issue` are what a worker does for the load of `ocean bench` (an
//! `issues` delivery, the GitHub example's processor and mapping); `parse_payload` of that delivery is the
//! whole parse that reading by key replaces.

use std::time::SystemTime;

use ocean::auth::{Algorithm, sign};
use ocean::mapping::Mapping;
use ocean::{Headers, Payload};
use serde_json::Value;

fn main() {
    divan::main();
}

fn corpus(rel: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/payloads/github").join(rel);
    let v: Value = serde_json::from_slice(&std::fs::read(path).expect("corpus payload")).expect("JSON");
    serde_json::to_vec(&v).expect("compact")
}

/// The whole parse of a delivery: a pull request's, and the `issues` delivery of `ocean bench`'s load.
#[divan::bench(args = ["pull_request/opened.payload.json", "issues/opened.payload.json"])]
fn parse_payload(b: divan::Bencher<'_, '_>, rel: &str) {
    let body = corpus(rel);
    b.counter(divan::counter::BytesCount::new(body.len()))
        .bench(|| serde_json::from_slice::<Value>(divan::black_box(&body)).is_ok());
}

#[divan::bench]
fn verify_github_signature(b: divan::Bencher<'_, '_>) {
    let body = corpus("pull_request/opened.payload.json");
    let secret = "bench-secret";
    let sig = format!("sha256={}", hex::encode(sign(Algorithm::Sha256, secret.as_bytes(), &[&body])));
    let headers = Headers::from_pairs([("x-hub-signature-256", sig)]);
    let v = ocean::auth::github().secret_value(secret).build_verifier(None).ok().flatten().expect("verifier");
    b.counter(divan::counter::BytesCount::new(body.len()))
        .bench(|| v.verify(divan::black_box(&body), &headers, SystemTime::now()).is_ok());
}

#[divan::bench]
fn map_pull_request(b: divan::Bencher<'_, '_>) {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/port-app-configs/github.yml");
    let mapping =
        Mapping::parse("github.yml", &std::fs::read_to_string(config).expect("config"), false).expect("mapping");
    let payload: Value = serde_json::from_slice(&corpus("pull_request/opened.payload.json")).expect("JSON");
    let mut pr = payload["pull_request"].clone();
    pr["__repository"] = "Hello-World".into();
    let items = vec![pr];
    b.bench(|| mapping.map_items("pull-request", divan::black_box(&items), &[]).upserts.len());
}

/// Compiling one mapping leaf (done once per config version, at start-up and on a mapping refresh).
#[divan::bench]
fn compile_leaf(b: divan::Bencher<'_, '_>) {
    b.bench(|| ocean::mapping::Program::compile(".pull_request.head.ref | test(\"^main$\")", false).unwrap());
}

/// What the example's processor reads of the load's delivery: `action`, the `issue` (unparsed), and the
/// repository's name, added to the issue.
#[divan::bench]
fn issue_members_by_key(b: divan::Bencher<'_, '_>) {
    let body = corpus("issues/opened.payload.json");
    b.counter(divan::counter::BytesCount::new(body.len())).with_inputs(|| body.clone().into()).bench_local_values(
        |bytes| {
            let p = Payload::lazy(bytes);
            let opened = p["action"] == "opened";
            let mut issue = p.object("issue");
            if let (Some(issue), Some(name)) = (&mut issue, p.value_at(&["repository", "name"])) {
                issue.insert("__repository", name);
            }
            (opened, issue)
        },
    );
}

/// The example's read and issue mapping of the load's delivery: the issue handed to the mapping unparsed,
/// and only the members the mapping reads parsed. (A body that did not come through intake: its members
/// are located with serde_json, where a worker's are located by SIMD skipping.)
#[divan::bench]
fn read_and_map_issue(b: divan::Bencher<'_, '_>) {
    let config =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/github/.port/resources/port-app-config.yml");
    let mapping = Mapping::parse("example", &std::fs::read_to_string(config).expect("config"), false).expect("mapping");
    let body = corpus("issues/opened.payload.json");
    b.counter(divan::counter::BytesCount::new(body.len())).with_inputs(|| body.clone().into()).bench_local_values(
        |bytes| {
            let p = Payload::lazy(bytes);
            let mut issue = p.object("issue").expect("an issue");
            if let Some(name) = p.value_at(&["repository", "name"]) {
                issue.insert("__repository", name);
            }
            mapping.map_items("issue", &[issue], &[]).upserts.len()
        },
    );
}

/// The example's issue mapping of the load's delivery.
#[divan::bench]
fn map_issue(b: divan::Bencher<'_, '_>) {
    let config =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/github/.port/resources/port-app-config.yml");
    let mapping = Mapping::parse("example", &std::fs::read_to_string(config).expect("config"), false).expect("mapping");
    let payload: Value = serde_json::from_slice(&corpus("issues/opened.payload.json")).expect("JSON");
    let mut issue = payload["issue"].clone();
    issue["__repository"] = "Hello-World".into();
    let items = vec![issue];
    assert_eq!(mapping.map_items("issue", &items, &[]).upserts.len(), 1);
    b.bench(|| mapping.map_items("issue", divan::black_box(&items), &[]).upserts.len());
}
