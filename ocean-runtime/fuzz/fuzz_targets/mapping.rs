//! Mapping evaluation over arbitrary JSON: real Port app configs from the corpus and the kinds they map,
//! each input as an updated and as a deleted item. A failing expression is a null with a warning, an
//! item without identifier is dropped; nothing panics.
//!
//! Input: one byte choosing the (config, kind) pair, then the JSON item; or a JSON object (`{...}`), whose
//! length chooses the pair (so corpus payloads are seeds as they are).

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use ocean::mapping::Mapping;

macro_rules! corpus_config {
    ($name:literal) => {
        ($name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/corpus/port-app-configs/", $name)))
    };
}

static MAPPINGS: LazyLock<Vec<(Mapping, Vec<String>)>> = LazyLock::new(|| {
    [
        corpus_config!("github.yml"),
        corpus_config!("gitlab.yml"),
        corpus_config!("jira.yml"),
        corpus_config!("pagerduty.yml"),
        corpus_config!("azure-devops.yml"),
        corpus_config!("bitbucket-cloud.yml"),
        (
            "example-github",
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../examples/github/.port/resources/port-app-config.yml"
            )),
        ),
    ]
    .into_iter()
    .map(|(name, text)| {
        let m = Mapping::parse(name, text, false).unwrap_or_else(|e| panic!("{e}"));
        let mut kinds: Vec<String> = m.config().resources.iter().map(|r| r.kind.clone()).collect();
        kinds.dedup();
        (m, kinds)
    })
    .collect()
});

/// Every (config, kind) pair.
static PAIRS: LazyLock<Vec<(&'static Mapping, &'static str)>> =
    LazyLock::new(|| MAPPINGS.iter().flat_map(|(m, kinds)| kinds.iter().map(move |k| (m, k.as_str()))).collect());

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let (choice, json) = if first == b'{' { (data.len(), data) } else { (usize::from(first), rest) };
    let Ok(item) = serde_json::from_slice::<serde_json::Value>(json) else { return };
    let (mapping, kind) = PAIRS[choice % PAIRS.len()];
    let items = [item];
    let _ = mapping.map_items(kind, &items, &items);
});
