//! Start-up of the real binary: settings read from `OCEAN__*` as the reference reads them, and a missing
//! or invalid setting stops start-up with a message naming the key and its source.

use std::process::Command;

fn run(envs: &[(&str, &str)]) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("ocean-startup-{:x}", std::process::id()));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_example-github"));
    cmd.env("OCEAN__STATE_DIR", &dir).env("RUST_LOG", "error");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the example");
    let _ = std::fs::remove_dir_all(dir);
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_missing_required_secret_names_its_variable() {
    let (ok, err) = run(&[("OCEAN__HTTP__PORT", "0")]);
    assert!(!ok);
    assert!(err.contains("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET"), "{err}");
}

#[test]
fn an_invalid_setting_names_its_key_and_source() {
    let (ok, err) = run(&[("OCEAN__HTTP__PORT", "eighty"), ("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", "x")]);
    assert!(!ok);
    assert!(err.contains("OCEAN__HTTP__PORT") && err.contains("http.port"), "{err}");
}

#[test]
fn an_unknown_queue_backend_lists_the_valid_ones() {
    let (ok, err) = run(&[
        ("OCEAN__HTTP__PORT", "0"),
        ("OCEAN__QUEUE__BACKEND", "kafka"),
        ("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", "x"),
    ]);
    assert!(!ok);
    assert!(err.contains("OCEAN__QUEUE__BACKEND") && err.contains("`durable`") && err.contains("`memory`"), "{err}");
}

#[test]
fn an_empty_queue_file_is_refused_and_kept() {
    let dir = std::env::temp_dir().join(format!("ocean-startup-empty-{:x}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("queue.redb");
    std::fs::write(&file, b"").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_example-github"))
        .env("OCEAN__STATE_DIR", &dir)
        .env("OCEAN__HTTP__PORT", "0")
        .env("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", "x")
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("queue.redb") && err.contains("0 bytes"), "{err}");
    assert!(file.exists(), "the file is kept for inspection");
    let _ = std::fs::remove_dir_all(dir);
}
