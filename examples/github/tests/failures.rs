//! Failures that must not look like success: a push whose repository has no name is dead-lettered with
//! the reason and counted, not answered "processed" and dropped; GitHub's "Redeliver" (the same
//! `X-GitHub-Delivery`) of a dead-lettered event is processed again, across a restart too, and the dead
//! letter is marked as superseded. A delivery that was applied stays a duplicate.

use serde_json::{Value, json};

mod support;

const SECRET: &str = "failure-secret";
const TOKEN: &str = "admin-token";

fn envs() -> Vec<(&'static str, &'static str)> {
    vec![("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", SECRET), ("OCEAN__ADMIN__TOKEN", TOKEN)]
}

async fn dead_letters(client: &reqwest::Client, base: &str) -> Vec<Value> {
    let r = client.get(format!("{base}/admin/dlq")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v.as_array().cloned().or_else(|| v["dead_letters"].as_array().cloned()).unwrap_or_default()
}

async fn metric(client: &reqwest::Client, base: &str, line_start: &str) -> Option<f64> {
    let text = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines().find(|l| l.starts_with(line_start)).and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn an_unmappable_push_is_dead_lettered_and_its_redelivery_processed() {
    let dir = ocean_tests::temp_state_dir("failures");
    let binary = support::spawn(&dir, &envs());
    let client = ocean::testing::client();
    support::wait_ready(&client, &binary.base).await;

    let mut push: Value = serde_json::from_slice(&ocean_tests::payload("github/push/payload.json")).unwrap();
    push["repository"] = json!({});
    let body = serde_json::to_vec(&push).unwrap();
    let (status, answer) = support::send_github(&client, &binary.base, "push", &body, "d-unmappable", SECRET).await;
    assert_eq!((status, answer["status"].as_str()), (202, Some("accepted")), "{answer}");

    let first = support::eventually("the dead letter", || async {
        dead_letters(&client, &binary.base).await.into_iter().next()
    })
    .await;
    let error = first["error"].as_str().unwrap();
    assert!(error.contains("no_identifier") && error.contains("repository"), "{first}");
    assert_eq!(first["trace_id"], answer["trace_id"]);
    let failures = r#"ocean_mapping_failures_total{kind="repository",reason="no_identifier"}"#;
    assert_eq!(metric(&client, &binary.base, failures).await, Some(1.0));

    // GitHub's "Redeliver": the same delivery id is processed again, not answered `duplicate`.
    let (status, again) = support::send_github(&client, &binary.base, "push", &body, "d-unmappable", SECRET).await;
    assert_eq!((status, again["status"].as_str()), (202, Some("accepted")), "{again}");
    let listed = support::eventually("the second dead letter", || async {
        let d = dead_letters(&client, &binary.base).await;
        (d.len() == 2).then_some(d)
    })
    .await;
    assert_eq!(listed[0]["superseded_by"], again["trace_id"], "{listed:?}");
    assert!(listed[1]["superseded_by"].is_null());

    // An applied delivery stays a duplicate.
    let good = ocean_tests::payload("github/push/payload.json");
    let (_, applied) = support::send_github(&client, &binary.base, "push", &good, "d-good", SECRET).await;
    assert_eq!(applied["status"], "accepted");
    let (_, dup) = support::send_github(&client, &binary.base, "push", &good, "d-good", SECRET).await;
    assert_eq!(dup["status"], "duplicate");

    // Across a restart: the redelivery of the still open dead letter is processed and supersedes it.
    let binary = binary.restart(&envs());
    support::wait_ready(&client, &binary.base).await;
    let (_, dup) = support::send_github(&client, &binary.base, "push", &good, "d-good", SECRET).await;
    assert_eq!(dup["status"], "duplicate", "the applied delivery is remembered across the restart");
    let (_, third) = support::send_github(&client, &binary.base, "push", &body, "d-unmappable", SECRET).await;
    assert_eq!(third["status"], "accepted", "{third}");
    let listed = support::eventually("the third dead letter", || async {
        let d = dead_letters(&client, &binary.base).await;
        (d.len() == 3).then_some(d)
    })
    .await;
    assert_eq!(listed[1]["superseded_by"], third["trace_id"], "{listed:?}");
}
