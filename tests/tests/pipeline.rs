//! The live-event pipeline over real HTTP: per-group ordering, retries, fatal errors, timeouts with
//! `cancel()`, a full queue, graceful shutdown, and rejections visible in the metrics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ocean::testing::TestIntegration;
use ocean::{
    Processor, ProcessorError, ResourceConfig, RetryPolicy, WebhookEvent, WebhookEventRawResults, WebhookProcessor,
};
use serde_json::{Value, json};

const MAPPING: &str = r#"
resources:
  - kind: item
    selector: { query: 'true' }
    port:
      entity:
        mappings: { identifier: .id | tostring, title: .title, blueprint: '"item"', properties: { seq: .seq } }
"#;

fn integration(p: Processor) -> ocean::Integration {
    ocean::Integration::new("test").processor(p.no_auth()).default_mapping(MAPPING)
}

/// One run: group, sequence number, start, end.
type Run = (u64, u64, Instant, Instant);

/// Records when each event of each group ran.
#[derive(Default, Clone)]
struct Recorder {
    runs: Arc<Mutex<Vec<Run>>>,
}

impl WebhookProcessor for Recorder {
    async fn get_matching_kinds(&self, _e: &WebhookEvent) -> Vec<String> {
        vec!["item".into()]
    }
    async fn handle_event(
        &self,
        e: &WebhookEvent,
        _r: &ResourceConfig,
    ) -> Result<WebhookEventRawResults, ProcessorError> {
        let start = Instant::now();
        let pause = rand::random::<u64>() % 4;
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let g = e.payload["group"].as_u64().unwrap_or_default();
        let s = e.payload["seq"].as_u64().unwrap_or_default();
        self.runs.lock().unwrap().push((g, s, start, Instant::now()));
        Ok(WebhookEventRawResults::upsert([json!({"id": g, "title": format!("group {g}"), "seq": s})]))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_events_over_fifty_groups_keep_each_groups_order() {
    let rec = Recorder::default();
    let r2 = rec.clone();
    let p = Processor::new("/items", move |_| Ok(r2.clone())).group_by(".group");
    let it = Arc::new(TestIntegration::start_with(integration(p), |s| s.event_workers_count = 16).await.unwrap());
    let mut senders = Vec::new();
    for g in 0..50u64 {
        let it = it.clone();
        senders.push(tokio::spawn(async move {
            for s in 0..20u64 {
                let body = json!({"group": g, "seq": s}).to_string();
                let r = it.post("/items", body.as_bytes(), &[]).await;
                assert_eq!(r.status(), 202);
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    assert!(it.wait_idle(Duration::from_secs(60)).await, "not all events processed");
    let runs = rec.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 1000);
    let mut by_group: HashMap<u64, Vec<(u64, Instant, Instant)>> = HashMap::new();
    for (g, s, a, b) in &runs {
        by_group.entry(*g).or_default().push((*s, *a, *b));
    }
    assert_eq!(by_group.len(), 50);
    for (g, mut v) in by_group {
        v.sort_by_key(|(_, a, _)| *a);
        let seqs: Vec<u64> = v.iter().map(|(s, _, _)| *s).collect();
        assert_eq!(seqs, (0..20).collect::<Vec<_>>(), "group {g} out of order");
        for w in v.windows(2) {
            assert!(w[0].2 <= w[1].1, "group {g}: two events ran at once");
        }
    }
    // Different groups overlapped in time.
    let mut overlaps = 0;
    for (i, a) in runs.iter().enumerate() {
        if runs[i + 1..].iter().any(|b| b.0 != a.0 && b.2 > a.2 && b.2 < a.3) {
            overlaps += 1;
        }
    }
    assert!(overlaps > 0, "groups never ran in parallel");
    for g in 0..50 {
        assert_eq!(it.entity("item", &g.to_string()).unwrap()["properties"]["seq"], 19);
    }
    Arc::into_inner(it).unwrap().shutdown().await;
}

/// Fails with a retryable error `fail_times` times, then succeeds (or fails fatally when `fatal`).
#[derive(Clone, Default)]
struct Flaky {
    attempts: Arc<Mutex<Vec<Instant>>>,
    fail_times: u32,
    fatal: bool,
}

impl WebhookProcessor for Flaky {
    async fn get_matching_kinds(&self, _e: &WebhookEvent) -> Vec<String> {
        vec!["item".into()]
    }
    async fn handle_event(
        &self,
        e: &WebhookEvent,
        _r: &ResourceConfig,
    ) -> Result<WebhookEventRawResults, ProcessorError> {
        let n = {
            let mut a = self.attempts.lock().unwrap();
            a.push(Instant::now());
            a.len() as u32
        };
        if self.fatal {
            return Err(ProcessorError::fatal("bad data"));
        }
        if n <= self.fail_times {
            return Err(ProcessorError::retryable("upstream busy"));
        }
        Ok(WebhookEventRawResults::upsert([e.payload.clone()]))
    }
    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            initial_retry_delay: Duration::from_millis(50),
            max_retry_delay: Duration::from_millis(80),
            exponential_base: 2.0,
        }
    }
}

#[tokio::test]
async fn a_retryable_error_is_retried_with_bounded_delays_then_applied_once() {
    let flaky = Flaky { fail_times: 2, ..Default::default() };
    let f2 = flaky.clone();
    let it = TestIntegration::start(integration(Processor::new("/items", move |_| Ok(f2.clone())))).await.unwrap();
    let r = it.post("/items", br#"{"id": 1, "title": "one"}"#, &[]).await;
    assert_eq!(r.status(), 202);
    assert!(it.wait_idle(Duration::from_secs(10)).await);
    let attempts = flaky.attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), 3);
    // Full jitter under ceilings of 50 ms then min(100, 80) ms; allow scheduling slack on a loaded machine.
    let d1 = attempts[1] - attempts[0];
    let d2 = attempts[2] - attempts[1];
    assert!(d1 <= Duration::from_millis(50 + 150), "first delay {d1:?}");
    assert!(d2 <= Duration::from_millis(80 + 150), "second delay {d2:?}");
    assert_eq!(it.entity("item", "1").unwrap()["title"], "one");
    it.shutdown().await;
}

#[tokio::test]
async fn a_fatal_error_is_not_retried_and_nothing_is_applied() {
    let flaky = Flaky { fatal: true, ..Default::default() };
    let f2 = flaky.clone();
    let it = TestIntegration::start(integration(Processor::new("/items", move |_| Ok(f2.clone())))).await.unwrap();
    let before = metric(&it, "ocean_events_failed_total").await;
    assert_eq!(it.post("/items", br#"{"id": 2, "title": "two"}"#, &[]).await.status(), 202);
    assert!(it.wait_idle(Duration::from_secs(10)).await);
    assert_eq!(flaky.attempts.lock().unwrap().len(), 1);
    assert!(it.entity("item", "2").is_none());
    assert!(metric(&it, "ocean_events_failed_total").await >= before + 1.0);
    it.shutdown().await;
}

/// Never finishes on its own; records `cancel()`.
#[derive(Clone, Default)]
struct Slow {
    cancelled: Arc<AtomicBool>,
    started: Arc<AtomicU32>,
}

impl WebhookProcessor for Slow {
    async fn get_matching_kinds(&self, _e: &WebhookEvent) -> Vec<String> {
        vec!["item".into()]
    }
    async fn handle_event(
        &self,
        _e: &WebhookEvent,
        _r: &ResourceConfig,
    ) -> Result<WebhookEventRawResults, ProcessorError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(WebhookEventRawResults::empty())
    }
    async fn cancel(&self, _e: &WebhookEvent) {
        self.cancelled.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_timeout_calls_cancel() {
    let slow = Slow::default();
    let s2 = slow.clone();
    let it = TestIntegration::start_with(integration(Processor::new("/items", move |_| Ok(s2.clone()))), |s| {
        s.max_event_processing_seconds = 0.2;
    })
    .await
    .unwrap();
    assert_eq!(it.post("/items", br#"{"id": 3}"#, &[]).await.status(), 202);
    assert!(it.wait_idle(Duration::from_secs(10)).await);
    assert!(slow.cancelled.load(Ordering::SeqCst));
    it.shutdown().await;
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after() {
    let slow = Slow::default();
    let s2 = slow.clone();
    let it = TestIntegration::start_with(integration(Processor::new("/items", move |_| Ok(s2.clone()))), |s| {
        s.queue.capacity = 2;
        s.event_workers_count = 1;
        s.max_wait_seconds_before_shutdown = 0.1;
    })
    .await
    .unwrap();
    assert_eq!(it.post("/items", br#"{"id": 1}"#, &[]).await.status(), 202);
    assert_eq!(it.post("/items", br#"{"id": 2}"#, &[]).await.status(), 202);
    let full = it.post("/items", br#"{"id": 3}"#, &[]).await;
    assert_eq!(full.status(), 503);
    assert_eq!(full.headers()["retry-after"], "1");
    let ready = it.client.get(format!("{}/health/ready", it.base_url)).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    // Shutdown cancels the stuck event, calls cancel() and reports what was left.
    let left = it.shutdown().await;
    assert_eq!(left, 2);
    assert!(slow.cancelled.load(Ordering::SeqCst));
}

/// Takes a while, then succeeds.
#[derive(Clone, Default)]
struct Steady;

impl WebhookProcessor for Steady {
    async fn get_matching_kinds(&self, _e: &WebhookEvent) -> Vec<String> {
        vec!["item".into()]
    }
    async fn handle_event(
        &self,
        e: &WebhookEvent,
        _r: &ResourceConfig,
    ) -> Result<WebhookEventRawResults, ProcessorError> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(WebhookEventRawResults::upsert([e.payload.clone()]))
    }
}

#[tokio::test]
async fn shutdown_lets_in_flight_events_finish_and_refuses_new_ones() {
    let dir = tempfile_dir();
    let state = dir.clone();
    let it = TestIntegration::start_with(integration(Processor::of::<Steady>("/items")), move |s| s.state_dir = state)
        .await
        .unwrap();
    for i in 0..5 {
        let body = json!({"id": i, "title": "t"}).to_string();
        assert_eq!(it.post("/items", body.as_bytes(), &[]).await.status(), 202);
    }
    let client = it.client.clone();
    let url = format!("{}/integration/items", it.base_url);
    let catalog_dir = dir.clone();
    let stopping = tokio::spawn(async move { it.shutdown().await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let late = client.post(&url).body(r#"{"id": 99}"#).send().await.unwrap();
    assert_eq!(late.status(), 503);
    assert_eq!(stopping.await.unwrap(), 0);
    let catalog = ocean::sink::LocalCatalog::open(&catalog_dir.join("catalog.redb")).unwrap();
    assert_eq!(catalog.list("item").unwrap().len(), 5);
    drop(catalog);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn shutdown_processes_what_a_request_admitted_before_it_acknowledges() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile_dir();
    let state = dir.clone();
    let it = TestIntegration::start_with(integration(Processor::of::<Steady>("/items")), move |s| s.state_dir = state)
        .await
        .unwrap();
    // A request admitted before shutdown begins: its headers and half its body are sent, the queue is empty.
    let body = json!({"id": 7, "title": "late half"}).to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let addr = it.base_url.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "POST /integration/items HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
        body.len()
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let catalog_dir = dir.clone();
    let stopping = tokio::spawn(async move { it.shutdown().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!stopping.is_finished(), "shutdown waits for the request it admitted");
    conn.write_all(tail.as_bytes()).await.unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 202"), "the request admitted before shutdown is acknowledged: {answer}");
    assert_eq!(stopping.await.unwrap(), 0, "nothing acknowledged is left unprocessed");
    let catalog = ocean::sink::LocalCatalog::open(&catalog_dir.join("catalog.redb")).unwrap();
    let items = catalog.list("item").unwrap();
    assert_eq!(items.len(), 1, "the acknowledged event was applied before the process could exit: {items:?}");
    assert_eq!(items[0]["title"], "late half");
    drop(catalog);
    let _ = std::fs::remove_dir_all(dir);
}

async fn metric(it: &TestIntegration, name: &str) -> f64 {
    let text = it.client.get(format!("{}/metrics", it.base_url)).send().await.unwrap().text().await.unwrap();
    text.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ocean-test-{}", uuid_like()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn uuid_like() -> String {
    format!("{:x}{:x}", rand::random::<u64>(), rand::random::<u64>())
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let it = TestIntegration::start_with(integration(Processor::of::<Steady>("/items")), |s| {
        s.http.max_body_bytes = 1024;
    })
    .await
    .unwrap();
    let big = format!(r#"{{"id": 1, "title": "{}"}}"#, "x".repeat(4096));
    let r = it.post("/items", big.as_bytes(), &[]).await;
    assert_eq!(r.status(), 413);
    assert_eq!(r.json::<Value>().await.unwrap()["reason"], "too_large");
    it.shutdown().await;
}

/// Holds every event until opened.
#[derive(Clone, Default)]
struct Gate {
    open: Arc<AtomicBool>,
}

impl WebhookProcessor for Gate {
    async fn get_matching_kinds(&self, _e: &WebhookEvent) -> Vec<String> {
        vec!["item".into()]
    }
    async fn handle_event(
        &self,
        e: &WebhookEvent,
        _r: &ResourceConfig,
    ) -> Result<WebhookEventRawResults, ProcessorError> {
        while !self.open.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(WebhookEventRawResults::upsert([json!({"id": e.payload["id"], "title": "held"})]))
    }
}

/// The memory queue holds at most `OCEAN__QUEUE__MEMORY_MIB` of bodies: beyond it, 503 with
/// `Retry-After` (and not ready), long before `capacity` events; processed events give their bytes back.
#[tokio::test]
async fn the_memory_queue_answers_503_once_its_bodies_fill_its_memory() {
    let gate = Gate::default();
    let g2 = gate.clone();
    let it = TestIntegration::start_with(integration(Processor::new("/items", move |_| Ok(g2.clone()))), |s| {
        s.queue.backend = ocean::config::QueueBackend::Memory;
        s.queue.memory_mib = 1;
        s.event_workers_count = 1;
    })
    .await
    .unwrap();
    let body = |id: u64| json!({"id": id, "pad": "x".repeat(400 * 1024)}).to_string().into_bytes();
    assert_eq!(it.post("/items", &body(1), &[]).await.status(), 202);
    assert_eq!(it.post("/items", &body(2), &[]).await.status(), 202);
    let full = it.post("/items", &body(3), &[]).await;
    assert_eq!(full.status(), 503, "1.2 MiB of bodies against 1 MiB");
    assert_eq!(full.headers()["retry-after"], "1");
    let ready = it.client.get(format!("{}/health/ready", it.base_url)).send().await.unwrap();
    assert_eq!(ready.status(), 200, "0.8 MiB held: a smaller event still fits");
    assert_eq!(it.post("/items", br#"{"id": 4}"#, &[]).await.status(), 202);
    gate.open.store(true, Ordering::SeqCst);
    assert!(it.wait_idle(Duration::from_secs(10)).await);
    for id in [5, 6] {
        assert_eq!(it.post("/items", &body(id), &[]).await.status(), 202, "the processed events gave their bytes back");
    }
    assert!(it.wait_idle(Duration::from_secs(10)).await);
    assert_eq!(it.entities("item").len(), 5);
    it.shutdown().await;
}
