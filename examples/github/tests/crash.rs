//! The example binary killed with SIGKILL during a load, restarted on the same state directory: every
//! event that got a 202 ends up in the catalog, and redelivered duplicates change nothing. Then SIGTERM
//! with events in flight lets them finish before the process exits.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

const SECRET: &str = "crash-secret";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Kills the process if the test fails before it does.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(state: &Path, port: u16) -> Guard {
    Guard(
        Command::new(env!("CARGO_BIN_EXE_example-github"))
            .env("OCEAN__HTTP__PORT", port.to_string())
            .env("OCEAN__STATE_DIR", state)
            .env("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", SECRET)
            // Segments of about 90 events: the log starts, recycles and ends segments many times
            // under the load and around the kills.
            .env("OCEAN__QUEUE__SEGMENT_MIB", "1")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the example"),
    )
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{base}/health/ready")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the example did not become ready");
}

/// The corpus `issues/opened` payload, as issue `id`.
fn event(template: &Value, id: u64) -> Vec<u8> {
    let mut v = template.clone();
    v["issue"]["id"] = id.into();
    v["issue"]["title"] = format!("crash test {id}").into();
    serde_json::to_vec(&v).unwrap()
}

async fn post(client: &reqwest::Client, base: &str, body: Vec<u8>, delivery: &str) -> Option<String> {
    let sig = ocean::auth::sign(ocean::auth::Algorithm::Sha256, SECRET.as_bytes(), &[&body]);
    let sig: String = sig.iter().map(|b| format!("{b:02x}")).collect();
    let r = client
        .post(format!("{base}/integration/webhook"))
        .header("x-github-event", "issues")
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", format!("sha256={sig}"))
        .body(body)
        .send()
        .await
        .ok()?;
    if r.status() != 202 {
        return None;
    }
    r.json::<Value>().await.ok()?["status"].as_str().map(str::to_owned)
}

/// Waits until no event is queued or in flight (the queue depth of every path is 0).
async fn wait_drained(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let text = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        let depths: Vec<&str> = text.lines().filter(|l| l.starts_with("ocean_queue_depth")).collect();
        if depths.iter().all(|l| l.ends_with(" 0")) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the queue did not drain");
}

async fn entities(client: &reqwest::Client, base: &str) -> Vec<Value> {
    client.get(format!("{base}/catalog/blueprints/githubIssue/entities")).send().await.unwrap().json().await.unwrap()
}

/// The payload template, a fresh state directory named after the test (`suffix`), and a client.
fn setup(suffix: &str) -> (Value, PathBuf, reqwest::Client) {
    let template: Value = serde_json::from_slice(&ocean_tests::payload("github/issues/opened.payload.json")).unwrap();
    let state = state_dir().with_extension(suffix);
    std::fs::create_dir_all(&state).unwrap();
    ocean::install_crypto_provider();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    (template, state, client)
}

fn state_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("ocean-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_load_loses_no_acknowledged_event() {
    let template: Value = serde_json::from_slice(&ocean_tests::payload("github/issues/opened.payload.json")).unwrap();
    let state = state_dir();
    ocean::install_crypto_provider();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let mut accepted_total = BTreeSet::new();

    for round in 0..2u64 {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut child = spawn(&state, port);
        wait_ready(&client, &base).await;
        let accepted = Arc::new(Mutex::new(BTreeSet::new()));
        let mut senders = Vec::new();
        for t in 0..8u64 {
            let (client, base, accepted, template) = (client.clone(), base.clone(), accepted.clone(), template.clone());
            senders.push(tokio::spawn(async move {
                for i in 0..200u64 {
                    let id = round * 10_000 + t * 1000 + i;
                    if post(&client, &base, event(&template, id), &format!("crash-{id}")).await.as_deref()
                        == Some("accepted")
                    {
                        accepted.lock().unwrap().insert(id);
                    }
                }
            }));
        }
        // Kill the process in the middle of the load.
        let deadline = Instant::now() + Duration::from_secs(30);
        while accepted.lock().unwrap().len() < 150 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        for s in senders {
            s.await.unwrap();
        }
        let got = accepted.lock().unwrap().clone();
        assert!(got.len() >= 150, "load too small before the kill: {}", got.len());
        accepted_total.extend(got);
    }

    // Restart on the same state: everything acknowledged is applied.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = spawn(&state, port);
    wait_ready(&client, &base).await;
    let expected: BTreeSet<String> = accepted_total.iter().map(|id| format!("Hello-World{id}")).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut present = BTreeSet::new();
    while Instant::now() < deadline {
        present =
            entities(&client, &base).await.iter().filter_map(|e| e["identifier"].as_str().map(str::to_owned)).collect();
        if expected.is_subset(&present) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lost: Vec<&String> = expected.difference(&present).collect();
    assert!(lost.is_empty(), "{} acknowledged events lost: {:?}", lost.len(), &lost[..lost.len().min(10)]);
    // The log went through many 1 MiB segments (the setting reached the queue from the environment).
    let newest = std::fs::read_dir(state.join("queue-log"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".seg")?.parse::<u64>().ok())
        .max();
    assert!(newest.is_some_and(|n| n >= 4), "segments: {newest:?}");

    // Redelivered duplicates do not change the catalog. Events persisted but never acknowledged (the
    // process died before answering) may still be applying: wait for the queue to drain first.
    wait_drained(&client, &base).await;
    let before = entities(&client, &base).await;
    for id in accepted_total.iter().take(100) {
        let mut body: Value = serde_json::from_slice(&event(&template, *id)).unwrap();
        body["issue"]["title"] = "changed by a duplicate".into();
        let status = post(&client, &base, serde_json::to_vec(&body).unwrap(), &format!("crash-{id}")).await;
        assert_eq!(status.as_deref(), Some("duplicate"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(entities(&client, &base).await, before);

    // SIGTERM with events in flight: they finish before the process exits.
    let mut last = BTreeSet::new();
    for i in 0..50u64 {
        let id = 900_000 + i;
        if post(&client, &base, event(&template, id), &format!("term-{id}")).await.as_deref() == Some("accepted") {
            last.insert(format!("Hello-World{id}"));
        }
    }
    let status = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = child.0.wait().unwrap();
    assert!(exit.success(), "exit after SIGTERM: {exit:?}");
    let catalog = ocean::sink::LocalCatalog::open(&state.join("catalog.redb")).unwrap();
    let ids: BTreeSet<String> = catalog
        .list("githubIssue")
        .unwrap()
        .iter()
        .filter_map(|e| e["identifier"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(last.len(), 50);
    assert!(last.is_subset(&ids), "events in flight at SIGTERM were not applied");
    drop(catalog);
    std::fs::remove_dir_all(&state).ok();
}

/// The local catalog makes its commits durable together, a few tens of milliseconds after them; an event
/// leaves the queue only once its entity is durable. Killed as soon as every entity shows, the process
/// restarts with each of them, from the catalog or replayed from the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_as_soon_as_entities_show_keeps_every_one() {
    let (template, state, client) = setup("shown");
    let mut expected = BTreeSet::new();
    for round in 0..3u64 {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut child = spawn(&state, port);
        wait_ready(&client, &base).await;
        let sends: Vec<_> = (0..40u64)
            .map(|i| {
                let (client, base, id) = (client.clone(), base.clone(), 500_000 + round * 100 + i);
                let body = event(&template, id);
                tokio::spawn(async move { (id, post(&client, &base, body, &format!("shown-{id}")).await) })
            })
            .collect();
        let mut this_round = BTreeSet::new();
        for send in sends {
            let (id, status) = send.await.unwrap();
            assert_eq!(status.as_deref(), Some("accepted"), "event {id}");
            this_round.insert(format!("Hello-World{id}"));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let shown: BTreeSet<String> = entities(&client, &base)
                .await
                .iter()
                .filter_map(|e| e["identifier"].as_str().map(str::to_owned))
                .collect();
            if this_round.is_subset(&shown) {
                break;
            }
            assert!(Instant::now() < deadline, "entities did not show");
        }
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        expected.extend(this_round);
    }
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _child = spawn(&state, port);
    wait_ready(&client, &base).await;
    wait_drained(&client, &base).await;
    let present: BTreeSet<String> =
        entities(&client, &base).await.iter().filter_map(|e| e["identifier"].as_str().map(str::to_owned)).collect();
    let lost: Vec<&String> = expected.difference(&present).collect();
    assert!(lost.is_empty(), "{} entities lost after SIGKILL: {:?}", lost.len(), &lost[..lost.len().min(10)]);
    std::fs::remove_dir_all(&state).ok();
}

/// Events processed one at a time leave the queue once their entities are durable, even when no other
/// write follows to carry the catalog's durable commit: killed after an idle second, the process replays
/// none of them at its next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_processed_then_idle_are_not_replayed_after_sigkill() {
    let (template, state, client) = setup("idle");
    let processed = |base: String| {
        let client = client.clone();
        async move {
            let text = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
            text.lines()
                .filter(|l| l.starts_with("ocean_events_processed_total"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>()
        }
    };
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = spawn(&state, port);
    wait_ready(&client, &base).await;
    for id in 700_000..700_010u64 {
        let status = post(&client, &base, event(&template, id), &format!("idle-{id}")).await;
        assert_eq!(status.as_deref(), Some("accepted"), "event {id}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while processed(base.clone()).await < (id - 700_000 + 1) as f64 {
            assert!(Instant::now() < deadline, "event {id} was not processed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    child.0.kill().unwrap();
    child.0.wait().unwrap();

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _child = spawn(&state, port);
    wait_ready(&client, &base).await;
    wait_drained(&client, &base).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(processed(base.clone()).await, 0.0, "events done before the kill were processed again");
    assert_eq!(entities(&client, &base).await.len(), 10);
    std::fs::remove_dir_all(&state).ok();
}
