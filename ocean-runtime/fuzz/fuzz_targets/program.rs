//! jq programs as arbitrary text: compiled the way a mapping leaf is (single quotes rewritten, a budget
//! step inserted in every function body and `reduce`/`foreach`), then evaluated on a small input within a
//! tight budget. Nothing panics, every evaluation ends, and a compile error's position lies in the text
//! as written.
//!
//! Input: the program, a NUL byte, then the JSON input (`null` without a NUL byte).

#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use ocean::mapping::{Limits, Program};

fuzz_target!(|data: &[u8]| {
    let (code, input) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"null"[..]),
    };
    let Ok(code) = std::str::from_utf8(code) else { return };
    let input = serde_json::from_slice(input).unwrap_or(serde_json::Value::Null);
    let program = match Program::compile(code, false) {
        Ok(p) => p,
        Err(e) => {
            if let Some(at) = e.offset {
                assert!(at <= code.len(), "error position {at} past the program's {} bytes: {e}", code.len());
            }
            return;
        }
    };
    let limits = Limits { time: Duration::from_millis(20), stack: 256 * 1024 };
    let started = Instant::now();
    let _ = program.first_within(&input, limits);
    // The budget is checked every few hundred steps: well within a second of it, whatever the program.
    assert!(started.elapsed() < Duration::from_secs(2), "`{code}` ran {:?} past a 20 ms budget", started.elapsed());
});
