//! The Port app config parser over arbitrary text (YAML or JSON, any keys): a bad config is an error,
//! never a panic; a config that parses keeps every key through a round trip; and small configs are
//! compiled, where a bad jq leaf is an error naming the file, never a panic.
//!
//! Compiling costs about half a millisecond per leaf (`cargo bench -p ocean-runtime --bench hot_path`), so
//! only configs of at most `COMPILED_LEAVES` leaves are compiled: the parser is fuzzed at full speed, and
//! the compiler on the small configs the fuzzer derives.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ocean::mapping::{Mapping, PortAppConfig};
use serde_json::Value;

const COMPILED_LEAVES: usize = 4;

fn leaves(v: &Value) -> usize {
    match v {
        Value::String(_) => 1,
        Value::Array(a) => a.iter().map(leaves).sum(),
        Value::Object(o) => o.values().map(leaves).sum(),
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(config) = serde_norway::from_str::<PortAppConfig>(text) else { return };
    let json = serde_json::to_value(&config).expect("a parsed config serialises");
    let again: PortAppConfig = serde_json::from_value(json.clone()).expect("a serialised config parses");
    assert_eq!(serde_json::to_value(&again).expect("serialises"), json, "keys lost in a round trip");
    let count: usize = config
        .resources
        .iter()
        .map(|r| 1 + usize::from(r.port.items_to_parse.is_some()) + leaves(&r.port.entity.mappings))
        .sum();
    if count <= COMPILED_LEAVES
        && let Err(e) = Mapping::compile("fuzz.yml", config, false)
    {
        assert!(e.to_string().contains("fuzz.yml"), "the error does not name the file: {e}");
    }
});
