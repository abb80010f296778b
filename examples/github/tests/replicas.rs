//! Three replicas of the example binary on one private PostgreSQL (`OCEAN__QUEUE__BACKEND=postgres`), a
//! load spread over them, and one replica killed with SIGKILL mid-load and started again: every event
//! answered `accepted` ends in the shared catalog, and each entity whose versions were sent one after
//! another to different replicas ends on its last version, across the takeover of the killed replica's
//! leases. Then the database itself stops under load: no event is acknowledged while it is down, and
//! processing resumes by itself once it is back.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ocean_tests::postgres::PgCluster;
use serde_json::Value;
use support::{Binary, eventually, send_github, spawn, try_send_github, wait_ready};

const SECRET: &str = "replicas-secret";

fn envs(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OCEAN__QUEUE__BACKEND", "postgres".into()),
        ("OCEAN__POSTGRES__URL", url.into()),
        ("OCEAN__QUEUE__LEASE_SECONDS", "3".into()),
        ("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", SECRET.into()),
        ("OCEAN__RESYNC_ON_START", "false".into()),
    ]
}

fn start(tag: &str, url: &str) -> Binary {
    let dir = ocean_tests::temp_state_dir(tag);
    let envs = envs(url);
    let refs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    spawn(&dir, &refs)
}

/// The corpus `issues/opened` payload as issue `id`, titled `title`.
fn issue(template: &Value, id: u64, title: &str) -> Vec<u8> {
    let mut v = template.clone();
    v["issue"]["id"] = id.into();
    v["issue"]["title"] = title.into();
    serde_json::to_vec(&v).unwrap()
}

/// Sends one event to the replicas in turn from `first` until one answers 202 (as a load balancer
/// retries); the answer's status (`accepted` or `duplicate`). A `duplicate` after an attempt that got no
/// answer means that attempt committed the event (the replica died before answering): it is reported
/// `accepted`.
async fn deliver(client: &reqwest::Client, bases: &[String], first: usize, body: &[u8], delivery: &str) -> String {
    let mut unanswered = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut turn = first;
    loop {
        let base = &bases[turn % bases.len()];
        let sent = try_send_github(client, base, "issues", body, delivery, SECRET).await;
        match sent {
            Ok((202, answer)) => {
                let status = answer["status"].as_str().unwrap_or_default();
                return if status == "duplicate" && unanswered { "accepted" } else { status }.to_owned();
            }
            Err(_) => unanswered = true,
            Ok(_) => {}
        }
        assert!(Instant::now() < deadline, "no replica accepted {delivery} within 60 s");
        turn += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn titles(client: &reqwest::Client, base: &str) -> Option<BTreeMap<String, String>> {
    let r = client.get(format!("{base}/catalog/blueprints/githubIssue/entities")).send().await.ok()?;
    let list: Vec<Value> = r.json().await.ok()?;
    Some(
        list.iter()
            .filter_map(|e| Some((e["identifier"].as_str()?.to_owned(), e["title"].as_str()?.to_owned())))
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_lose_nothing_when_one_is_killed_and_keep_each_entity_in_order() {
    let pg = PgCluster::start();
    let url = pg.database("github");
    let template: Value = serde_json::from_slice(&ocean_tests::payload("github/issues/opened.payload.json")).unwrap();
    ocean::install_crypto_provider();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let mut replicas: Vec<Option<Binary>> = (0..3).map(|i| Some(start(&format!("replica-{i}"), &url))).collect();
    let bases: Vec<String> = replicas.iter().map(|r| r.as_ref().unwrap().base.clone()).collect();
    for b in &bases {
        wait_ready(&client, b).await;
    }
    // What the catalog must show afterwards: identifier -> title of the last accepted version.
    let expected = Arc::new(Mutex::new(BTreeMap::new()));
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut senders = Vec::new();
    // 12 entities with 15 versions each, every version sent after the previous one was accepted, each
    // to the next replica.
    for n in 0..12u64 {
        let (client, bases, expected, accepted, template) =
            (client.clone(), bases.clone(), expected.clone(), accepted.clone(), template.clone());
        senders.push(tokio::spawn(async move {
            let id = 5_000 + n;
            for v in 0..15u64 {
                let title = format!("version {v}");
                let status =
                    deliver(&client, &bases, (n + v) as usize, &issue(&template, id, &title), &format!("seq-{id}-{v}"))
                        .await;
                assert_eq!(status, "accepted");
                accepted.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                expected.lock().unwrap().insert(format!("Hello-World{id}"), title);
            }
        }));
    }
    // And 6 senders of distinct entities, one event each.
    for t in 0..6u64 {
        let (client, bases, expected, accepted, template) =
            (client.clone(), bases.clone(), expected.clone(), accepted.clone(), template.clone());
        senders.push(tokio::spawn(async move {
            for i in 0..40u64 {
                let id = 10_000 + t * 100 + i;
                let status =
                    deliver(&client, &bases, (t + i) as usize, &issue(&template, id, "single"), &format!("one-{id}"))
                        .await;
                if status == "accepted" {
                    expected.lock().unwrap().insert(format!("Hello-World{id}"), "single".to_owned());
                }
                accepted.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            }
        }));
    }
    // Kill replica 1 in the middle of the load, then start it again on the same port.
    let deadline = Instant::now() + Duration::from_secs(60);
    while accepted.load(std::sync::atomic::Ordering::Acquire) < 120 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let killed = replicas[1].take().unwrap();
    let envs = envs(&url);
    let refs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    replicas[1] = Some(killed.restart(&refs));
    for s in senders {
        s.await.unwrap();
    }
    let expected = expected.lock().unwrap().clone();
    assert_eq!(expected.len(), 12 + 240);
    // Every replica shows the same catalog, with every entity on its last accepted version.
    for base in &bases {
        let last = eventually("every accepted event in the catalog", || async {
            let now = titles(&client, base).await?;
            expected.iter().all(|(id, t)| now.get(id) == Some(t)).then_some(now)
        })
        .await;
        assert_eq!(last.len(), expected.len(), "no entity beyond the ones sent");
    }
    drop(replicas);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_stopped_under_load_acknowledges_nothing_and_processing_resumes() {
    let pg = PgCluster::start();
    let url = pg.database("outage");
    let template: Value = serde_json::from_slice(&ocean_tests::payload("github/issues/opened.payload.json")).unwrap();
    ocean::install_crypto_provider();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let replica = start("outage", &url);
    wait_ready(&client, &replica.base).await;
    // (sent at, answered at, id, status) of every attempt.
    let log = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut senders = Vec::new();
    for t in 0..4u64 {
        let (client, base, log, stop, template) =
            (client.clone(), replica.base.clone(), log.clone(), stop.clone(), template.clone());
        senders.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                let id = 20_000 + t * 10_000 + i;
                let sent = Instant::now();
                let (status, answer) = send_github(
                    &client,
                    &base,
                    "issues",
                    &issue(&template, id, "outage"),
                    &format!("out-{id}"),
                    SECRET,
                )
                .await;
                let accepted = status == 202 && answer["status"] == "accepted";
                log.lock().unwrap().push((sent, Instant::now(), id, status, accepted));
                i += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    pg.stop();
    let down = Instant::now();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let ready = client.get(format!("{}/health/ready", replica.base)).send().await.unwrap();
    assert_eq!(ready.status(), 503, "readiness fails while PostgreSQL is unreachable");
    let metrics = client.get(format!("{}/metrics", replica.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.lines().any(|l| l == "ocean_queue_database_up 0"), "{metrics}");
    let persisted_down = persisted(&metrics);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let metrics = client.get(format!("{}/metrics", replica.base)).send().await.unwrap().text().await.unwrap();
    assert_eq!(persisted(&metrics), persisted_down, "no batch is committed while PostgreSQL is down");
    let up = Instant::now();
    pg.start_server();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Release);
    for s in senders {
        s.await.unwrap();
    }
    let log = log.lock().unwrap().clone();
    let during: Vec<_> = log.iter().filter(|(sent, answered, ..)| *sent >= down && *answered <= up).collect();
    assert!(during.len() >= 10, "too few requests while PostgreSQL was down: {}", during.len());
    let acked: Vec<_> = during.iter().filter(|e| e.3 == 202).collect();
    assert!(acked.is_empty(), "{} events answered 202 while PostgreSQL was down", acked.len());
    assert!(during.iter().all(|e| e.3 == 503), "while down, intake answers 503");
    let after: Vec<_> = log.iter().filter(|e| e.0 >= up + Duration::from_secs(1) && e.4).collect();
    assert!(!after.is_empty(), "intake accepts events again once PostgreSQL is back");
    let expected: Vec<String> = log.iter().filter(|e| e.4).map(|e| format!("Hello-World{}", e.2)).collect();
    eventually("every accepted event in the catalog", || async {
        let now = titles(&client, &replica.base).await?;
        expected.iter().all(|id| now.contains_key(id)).then_some(())
    })
    .await;
    let ready = client.get(format!("{}/health/ready", replica.base)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = client.get(format!("{}/metrics", replica.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.lines().any(|l| l == "ocean_queue_database_up 1"), "{metrics}");
    assert!(persisted(&metrics) > persisted_down, "the commits after the outage are timed: {metrics}");
}

/// Batches of pushes committed, as `ocean_queue_persist_seconds` counts them.
fn persisted(metrics: &str) -> u64 {
    support::histogram(metrics, "ocean_queue_persist_seconds").1
}

/// Runs the binary until it exits; its status and standard error.
fn run_to_exit(envs: &[(&str, &str)]) -> (bool, String) {
    let dir = ocean_tests::temp_state_dir("pg-start");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_example-github"))
        .current_dir(&dir)
        .env("OCEAN__STATE_DIR", dir.join("state"))
        .env("OCEAN__HTTP__PORT", "0")
        .env("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", SECRET)
        .env("OCEAN__QUEUE__BACKEND", "postgres")
        .env("RUST_LOG", "error")
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(dir);
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn an_unreachable_or_forbidden_database_stops_the_start_naming_the_setting_without_its_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://ocean:hunter2@127.0.0.1:{port}/ocean");
    let (ok, err) = run_to_exit(&[("OCEAN__POSTGRES__URL", &url)]);
    assert!(!ok, "started without its database");
    assert!(err.contains("OCEAN__POSTGRES__URL") && err.contains("cannot connect"), "{err}");
    assert!(err.contains("ocean:***@127.0.0.1") && !err.contains("hunter2"), "the password is masked: {err}");

    let (ok, err) = run_to_exit(&[]);
    assert!(!ok);
    assert!(err.contains("OCEAN__POSTGRES__URL"), "a missing URL is named: {err}");

    // A user without the right to create the schema (PostgreSQL 15 gives none on `public`).
    let pg = PgCluster::start();
    pg.database("owned");
    pg.sql("postgres", "CREATE ROLE visitor LOGIN PASSWORD 'visitor-secret'");
    let url = format!("postgres://visitor:visitor-secret@127.0.0.1:{}/owned", pg.port);
    let (ok, err) = run_to_exit(&[("OCEAN__POSTGRES__URL", &url)]);
    assert!(!ok, "started without the rights to its schema");
    assert!(err.contains("OCEAN__POSTGRES__URL") && err.contains("permission denied"), "{err}");
    assert!(!err.contains("visitor-secret"), "{err}");
}
