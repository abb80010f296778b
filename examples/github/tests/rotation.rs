//! Secret rotation as an operator configures it: several secrets in `OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET`
//! (a JSON array) or in `config.yaml` (a YAML list), read by the real binary. A body signed with any of
//! them is accepted; one signed with another secret is refused.

use ocean::auth::{Algorithm, sign};

mod support;

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

async fn accepts_both_and_refuses_others(binary: &support::Binary) {
    let client = ocean::testing::client();
    let base = &binary.base;
    support::wait_ready(&client, base).await;
    assert_eq!(send(&client, base, "old").await, 202, "signed with the old secret");
    assert_eq!(send(&client, base, "new").await, 202, "signed with the new secret");
    assert_eq!(send(&client, base, "other").await, 401, "signed with neither");
    assert_eq!(send(&client, base, "[\"old\",\"new\"]").await, 401, "the list is not itself a secret");
}

#[tokio::test]
async fn secrets_rotate_through_the_environment() {
    let dir = ocean_tests::temp_state_dir("rotation-env");
    let binary = support::spawn(&dir, &[("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", r#"["old","new"]"#)]);
    accepts_both_and_refuses_others(&binary).await;
}

#[tokio::test]
async fn secrets_rotate_through_config_yaml() {
    let dir = ocean_tests::temp_state_dir("rotation-yaml");
    std::fs::write(dir.join("config.yaml"), "integration:\n  config:\n    webhookSecret:\n      - old\n      - new\n")
        .unwrap();
    let binary = support::spawn(&dir, &[]);
    accepts_both_and_refuses_others(&binary).await;
}
