//! Evaluates jq programs as mapping leaves, one case per line, for the conformance test of jq's own test
//! files: reads `{"program": ..., "input": ...}` lines and writes one answer line each,
//! `{"output": <first output>}`, `{"none": true}` (no output), `{"error": "..."}` or
//! `{"compile_error": "..."}`. The test runs it as a child process, so that a case that aborts the process
//! or never ends is one failed case, not a failed run.

use std::io::{BufRead, Write};

use ocean::mapping::{Limits, Program};
use serde_json::{Value, json};

fn answer(program: &str, input: &Value) -> Value {
    let p = match Program::compile(program, false) {
        Ok(p) => p,
        Err(e) => return json!({"compile_error": e.message}),
    };
    // The stack of a mapping leaf on the runtime's mapping threads (64 MiB), and ten times the default
    // time budget: the step budget still stops runaway programs, and a loaded machine does not make a
    // slow but finite case (24,455 `strftime` round trips) differ from one run to the next.
    let limits = Limits { time: std::time::Duration::from_secs(10), stack: 64 * 1024 * 1024 };
    match p.first_within(input, limits) {
        Ok(Some(v)) => json!({"output": v}),
        Ok(None) => json!({"none": true}),
        Err(e) => json!({"error": e}),
    }
}

fn main() {
    // The stack of the runtime's mapping threads, so that deep programs behave as they do there.
    let worker = std::thread::Builder::new().stack_size(256 * 1024 * 1024).spawn(|| {
        let stdin = std::io::stdin();
        let mut stdout = std::io::stdout().lock();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { return };
            let req: Value = serde_json::from_str(&line).expect("a request line");
            let program = req["program"].as_str().unwrap_or_default();
            let out = answer(program, &req["input"]);
            writeln!(stdout, "{out}").expect("write an answer");
            stdout.flush().expect("flush");
        }
    });
    worker.expect("start the evaluation thread").join().expect("the evaluation thread");
}
