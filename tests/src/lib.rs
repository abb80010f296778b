//! Helpers shared by the end-to-end tests: the corpus, and processors that record what they see.

use std::path::PathBuf;

/// The corpus folder (`tests/corpus`): real payloads and Port app configs.
pub fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// A corpus payload as compact JSON bytes, as the provider sends it.
pub fn payload(rel: &str) -> Vec<u8> {
    let text = std::fs::read(corpus().join("payloads").join(rel)).expect("corpus payload");
    let v: serde_json::Value = serde_json::from_slice(&text).expect("corpus payload is JSON");
    serde_json::to_vec(&v).expect("serialise")
}

/// Every `*.json` file of a corpus payload folder, sorted.
pub fn payload_files(rel: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus().join("payloads").join(rel))
        .expect("corpus folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}
