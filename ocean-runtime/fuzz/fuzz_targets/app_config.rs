//! The Port app config parser and compiler over arbitrary text: YAML or JSON, any keys, any jq in the
//! leaves. A bad config is an error naming where it is, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ocean::mapping::Mapping;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(e) = Mapping::parse("fuzz.yml", text, false) {
        assert!(e.to_string().contains("fuzz.yml"), "the error does not name the file: {e}");
    }
});
