//! Secret rotation as an operator configures it: several secrets in `OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET`
//! (a JSON array) or in `config.yaml` (a YAML list), read by the real binary. A body signed with any of
//! them is accepted; one signed with another secret is refused.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ocean::auth::{Algorithm, sign};

struct Guard(Child, std::path::PathBuf);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts the binary in `dir` (its working directory, where `config.yaml` is read) with `envs`.
fn spawn(dir: &Path, port: u16, envs: &[(&str, &str)]) -> Guard {
    let child = Command::new(env!("CARGO_BIN_EXE_example-github"))
        .current_dir(dir)
        .env("OCEAN__HTTP__PORT", port.to_string())
        .env("OCEAN__STATE_DIR", dir.join("state"))
        .env("RUST_LOG", "error")
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Guard(child, dir.to_owned())
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if client.get(format!("{base}/health/ready")).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the example did not become ready");
}

async fn send(client: &reqwest::Client, base: &str, secret: &str) -> u16 {
    let body = ocean_tests::payload("github/issues/opened.payload.json");
    let sig = format!("sha256={}", hex(&sign(Algorithm::Sha256, secret.as_bytes(), &[&body])));
    let r = client
        .post(format!("{base}/integration/webhook"))
        .header("content-type", "application/json")
        .header("x-github-event", "issues")
        .header("x-github-delivery", format!("rotation-{secret}-{}", rand_suffix()))
        .header("x-hub-signature-256", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

async fn accepts_both_and_refuses_others(guard: &Guard, port: u16) {
    let _ = guard;
    let client = ocean::testing::client();
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&client, &base).await;
    assert_eq!(send(&client, &base, "old").await, 202, "signed with the old secret");
    assert_eq!(send(&client, &base, "new").await, 202, "signed with the new secret");
    assert_eq!(send(&client, &base, "other").await, 401, "signed with neither");
    assert_eq!(send(&client, &base, "[\"old\",\"new\"]").await, 401, "the list is not itself a secret");
}

#[tokio::test]
async fn secrets_rotate_through_the_environment() {
    let dir = ocean_tests::temp_state_dir("rotation-env");
    let port = free_port();
    let guard = spawn(&dir, port, &[("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", r#"["old","new"]"#)]);
    accepts_both_and_refuses_others(&guard, port).await;
}

#[tokio::test]
async fn secrets_rotate_through_config_yaml() {
    let dir = ocean_tests::temp_state_dir("rotation-yaml");
    std::fs::write(dir.join("config.yaml"), "integration:\n  config:\n    webhookSecret:\n      - old\n      - new\n")
        .unwrap();
    let port = free_port();
    let guard = spawn(&dir, port, &[]);
    accepts_both_and_refuses_others(&guard, port).await;
}
