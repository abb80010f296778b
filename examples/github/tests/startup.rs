//! Start-up of the real binary: settings read from `OCEAN__*` as the reference reads them, and a missing
//! or invalid setting stops start-up with a message naming the key and its source.

use std::process::Command;

fn run(envs: &[(&str, &str)]) -> (bool, String) {
    run_with_yaml(None, envs)
}

/// Runs the binary in a fresh working directory, with `config.yaml` in it when given.
fn run_with_yaml(yaml: Option<&str>, envs: &[(&str, &str)]) -> (bool, String) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("ocean-startup-{:x}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    if let Some(yaml) = yaml {
        std::fs::write(dir.join("config.yaml"), yaml).unwrap();
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_example-github"));
    cmd.current_dir(&dir).env("OCEAN__STATE_DIR", dir.join("state")).env("RUST_LOG", "error");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the example");
    let _ = std::fs::remove_dir_all(dir);
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The lines of a start-up error: printed with Display, never as a Rust structure.
fn error_lines(err: &str) -> Vec<&str> {
    assert!(!err.contains("Config(") && !err.contains("Error { "), "printed in Debug form: {err}");
    err.lines().filter(|l| !l.trim().is_empty()).collect()
}

#[test]
fn a_bad_value_in_config_yaml_names_the_file_line_and_column() {
    let yaml = "queue:\n  capacity: 10\nhttp:\n  # where to listen\n  port: eighty\n";
    let (ok, err) = run_with_yaml(Some(yaml), &[("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", "x")]);
    assert!(!ok);
    let lines = error_lines(&err);
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("`http.port`") && lines[0].contains("config.yaml line 5 column 3"), "{err}");
    assert!(lines[0].contains("expected u16"), "{err}");
}

#[test]
fn misspelt_keys_are_refused_with_the_closest_valid_key() {
    let (ok, err) = run(&[
        ("OCEAN__HTTP__PROT", "8080"),
        ("OCEAN__QUEUE__BACKEN", "memory"),
        ("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", "x"),
    ]);
    assert!(!ok);
    let lines = error_lines(&err);
    assert!(lines.iter().any(|l| l.contains("`OCEAN__HTTP__PROT`") && l.contains("`OCEAN__HTTP__PORT`")), "{err}");
    assert!(
        lines.iter().any(|l| l.contains("`OCEAN__QUEUE__BACKEN`") && l.contains("`OCEAN__QUEUE__BACKEND`")),
        "{err}"
    );
    let (ok, err) =
        run_with_yaml(Some("http:\n  prot: 8080\n"), &[("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", "x")]);
    assert!(!ok);
    assert!(err.contains("`http.prot`") && err.contains("line 2 column 3") && err.contains("`http.port`"), "{err}");
}

#[test]
fn durations_beyond_what_a_timer_holds_are_refused_at_start_up() {
    for key in ["OCEAN__MAX_EVENT_PROCESSING_SECONDS", "OCEAN__MAX_WAIT_SECONDS_BEFORE_SHUTDOWN"] {
        let (ok, err) = run(&[
            ("OCEAN__HTTP__PORT", "0"),
            (key, "18446744073709551615"),
            ("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", "x"),
        ]);
        assert!(!ok, "{key} was accepted");
        let lines = error_lines(&err);
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].contains(key) && lines[0].contains("outside"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn the_leaf_budget_and_the_http_limits_are_read_from_the_environment_and_checked() {
    for (key, value) in [
        ("OCEAN__MAPPING__LEAF_BUDGET_MS", "0"),
        ("OCEAN__HTTP__BODY_TIMEOUT_SECONDS", "0"),
        ("OCEAN__HTTP__MAX_CONNECTIONS", "0"),
        ("OCEAN__PROCESSING_NICENESS", "20"),
        ("OCEAN__PROCESSING_NICENESS", "-1"),
        ("OCEAN__PROCESSING_THREADS", "0"),
        ("OCEAN__PROCESSING_THREADS", "1025"),
    ] {
        let (ok, err) =
            run(&[("OCEAN__HTTP__PORT", "0"), (key, value), ("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", "x")]);
        assert!(!ok, "{key}={value} was accepted");
        let lines = error_lines(&err);
        assert!(lines.len() == 1 && lines[0].contains(key) && lines[0].contains("outside"), "{err}");
    }
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
