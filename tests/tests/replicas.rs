//! Replicas on one PostgreSQL, in one process: two integrations with the `postgres` queue backend share
//! a private cluster started for the test. A processor slower than the lease is not run twice at once
//! (its replica renews the lease) and its entity's events stay in order; a delivery id sent to both
//! replicas at the same moment is accepted once; dead letters are listed and replayed from the replica
//! that did not dead-letter them; the shared catalog shows the same entities on both.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use ocean::testing::TestIntegration;
use ocean_tests::postgres::PgCluster;
use serde_json::{Value, json};

const TOKEN: &str = "replicas-admin";

/// Records how many handle_event calls of one entity overlap, and in which order its events ran.
#[derive(Clone, Default)]
struct Probe {
    running: Arc<AtomicUsize>,
    overlap: Arc<AtomicUsize>,
    order: Arc<std::sync::Mutex<Vec<u64>>>,
    fail: Arc<AtomicBool>,
}

#[derive(Clone)]
struct Slow {
    probe: Probe,
    delay: Duration,
}

impl ocean::WebhookProcessor for Slow {
    async fn get_matching_kinds(&self, _e: &ocean::WebhookEvent) -> Vec<String> {
        vec!["item".into()]
    }

    fn group_key(&self, e: &ocean::WebhookEvent) -> Option<String> {
        e.payload["id"].as_u64().map(|id| format!("item:{id}"))
    }

    async fn handle_event(
        &self,
        e: &ocean::WebhookEvent,
        _r: &ocean::ResourceConfig,
    ) -> Result<ocean::WebhookEventRawResults, ocean::ProcessorError> {
        if self.probe.fail.load(Ordering::Acquire) && e.payload["fragile"] == true {
            return Err(ocean::ProcessorError::fatal("fragile item refused"));
        }
        if self.probe.running.fetch_add(1, Ordering::AcqRel) > 0 {
            self.probe.overlap.fetch_add(1, Ordering::AcqRel);
        }
        tokio::time::sleep(self.delay).await;
        self.probe.order.lock().unwrap().push(e.payload["seq"].as_u64().unwrap_or(0));
        self.probe.running.fetch_sub(1, Ordering::AcqRel);
        Ok(ocean::WebhookEventRawResults::upsert([e.payload.clone()]))
    }
}

/// An integration on the PostgreSQL at `url`: the probed processor (with `x-delivery-id` as delivery id),
/// `resync` if given, the admin token, and `adjust` for the rest of its settings.
async fn start(
    url: &str,
    probe: &Probe,
    delay: Duration,
    resync: Option<ocean::OnResync>,
    adjust: impl FnOnce(&mut ocean::config::Settings) + Send + 'static,
) -> ocean::Result<TestIntegration> {
    let slow = Slow { probe: probe.clone(), delay };
    let p = ocean::Processor::new("/items", move |_| Ok(slow.clone()))
        .name("slow")
        .no_auth()
        .dedup(ocean::delivery::DeliveryId::Headers(vec!["x-delivery-id"]));
    let mut integration = ocean::Integration::new("replicas").processor(p).default_mapping(ocean_tests::ITEM_MAPPING);
    if let Some(r) = resync {
        integration = integration.on_resync(r);
    }
    let url = url.to_owned();
    TestIntegration::start_with(integration, move |s| {
        s.queue.backend = ocean::config::QueueBackend::Postgres;
        s.postgres.url = Some(url);
        s.admin.token = Some(TOKEN.into());
        s.resync_on_start = false;
        adjust(s);
    })
    .await
}

async fn replica(url: &str, probe: &Probe, delay: Duration, lease: u64) -> TestIntegration {
    start(url, probe, delay, None, move |s| s.queue.lease_seconds = lease)
        .await
        .expect("a replica on PostgreSQL starts")
}

async fn entity(it: &TestIntegration, id: &str) -> Option<Value> {
    let r = it.client.get(format!("{}/catalog/blueprints/item/entities/{id}", it.base_url)).send().await.ok()?;
    if r.status() != 200 {
        return None;
    }
    r.json().await.ok()
}

async fn eventually<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut f: impl FnMut() -> F) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within 60 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_processor_slower_than_the_lease_runs_once_and_in_order() {
    let pg = PgCluster::start();
    let url = pg.database("slow");
    let probe = Probe::default();
    // Lease 2 s, each event 3 s: without renewal the other replica would take the entity over mid-event.
    let a = replica(&url, &probe, Duration::from_secs(3), 2).await;
    let b = replica(&url, &probe, Duration::from_secs(3), 2).await;
    for seq in 1..=3u64 {
        let target = if seq % 2 == 1 { &a } else { &b };
        let body = json!({"id": 7, "seq": seq, "title": format!("version {seq}")});
        let r = target.post("/items", body.to_string().as_bytes(), &[]).await;
        assert_eq!(r.status(), 202);
    }
    let last =
        eventually("the last version", || async { entity(&b, "7").await.filter(|e| e["title"] == "version 3") }).await;
    assert_eq!(last["identifier"], "7");
    assert_eq!(probe.overlap.load(Ordering::Acquire), 0, "two replicas processed the entity at once");
    assert_eq!(*probe.order.lock().unwrap(), [1, 2, 3], "events of one entity ran out of order");
    assert_eq!(entity(&a, "7").await, Some(last), "both replicas show the shared catalog");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delivery_sent_to_two_replicas_at_once_is_accepted_once() {
    let pg = PgCluster::start();
    let url = pg.database("dedup");
    let probe = Probe::default();
    let a = replica(&url, &probe, Duration::ZERO, 30).await;
    let b = replica(&url, &probe, Duration::ZERO, 30).await;
    for n in 0..20 {
        let body = json!({"id": 100 + n, "title": "once"}).to_string();
        let header = [("x-delivery-id", format!("same-{n}"))];
        let (ra, rb) =
            tokio::join!(a.post("/items", body.as_bytes(), &header), b.post("/items", body.as_bytes(), &header));
        assert_eq!((ra.status().as_u16(), rb.status().as_u16()), (202, 202));
        let (ja, jb): (Value, Value) = (ra.json().await.unwrap(), rb.json().await.unwrap());
        let mut got = [ja["status"].as_str().unwrap().to_owned(), jb["status"].as_str().unwrap().to_owned()];
        got.sort();
        assert_eq!(got, ["accepted", "duplicate"], "delivery same-{n}");
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dead_letters_are_listed_and_replayed_from_another_replica() {
    let pg = PgCluster::start();
    let url = pg.database("dead");
    let probe = Probe::default();
    probe.fail.store(true, Ordering::Release);
    let a = replica(&url, &probe, Duration::ZERO, 30).await;
    let b = replica(&url, &probe, Duration::ZERO, 30).await;
    let body = json!({"id": 9, "seq": 1, "title": "fragile", "fragile": true});
    assert_eq!(a.post("/items", body.to_string().as_bytes(), &[]).await.status(), 202);
    let list = |it: &TestIntegration| {
        let (client, base) = (it.client.clone(), it.base_url.clone());
        async move {
            let r = client.get(format!("{base}/admin/dlq")).bearer_auth(TOKEN).send().await.ok()?;
            let v: Value = r.json().await.ok()?;
            v.as_array().filter(|a| !a.is_empty()).cloned()
        }
    };
    let dead = eventually("a dead letter", || list(&b)).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["payload"]["title"], "fragile");
    assert!(dead[0]["error"].as_str().unwrap().contains("fragile item refused"), "{}", dead[0]);
    probe.fail.store(false, Ordering::Release);
    let id = dead[0]["id"].as_u64().unwrap();
    let r = b.client.post(format!("{}/admin/dlq/{id}/replay", b.base_url)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let e = eventually("the replayed entity", || entity(&a, "9")).await;
    assert_eq!(e["title"], "fragile");
    assert!(list(&a).await.is_none(), "the replayed dead letter left the list");
    a.shutdown().await;
    b.shutdown().await;
}

/// A replica whose resync lists `count` items of kind `item`, one second apart, and starts at start-up.
async fn resyncing(url: &str, count: u64) -> TestIntegration {
    let lister = ocean::OnResync::new("item", move |_ctx, _resource, out: ocean::Batches| async move {
        for id in 0..count {
            tokio::time::sleep(Duration::from_millis(500)).await;
            out.send(vec![json!({"id": 500 + id, "title": "listed"})]).await?;
        }
        Ok::<(), ocean::ProcessorError>(())
    });
    start(url, &Probe::default(), Duration::ZERO, Some(lister), |s| s.resync_on_start = true)
        .await
        .expect("a replica on PostgreSQL starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_replica_at_a_time_runs_a_resync() {
    let pg = PgCluster::start();
    let url = pg.database("resync");
    let (a, b) = tokio::join!(resyncing(&url, 3), resyncing(&url, 3));
    let (ra, rb) =
        tokio::join!(a.wait_first_resync(Duration::from_secs(60)), b.wait_first_resync(Duration::from_secs(60)));
    let mut kinds: Vec<(String, String)> = [ra.unwrap(), rb.unwrap()]
        .iter()
        .map(|r| {
            let k = &r["kinds"][0];
            (k["status"].as_str().unwrap().to_owned(), k["note"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    kinds.sort();
    assert_eq!(kinds[0], ("completed".to_owned(), String::new()), "{kinds:?}");
    assert_eq!(kinds[1], ("skipped".to_owned(), "another replica is running a resync".to_owned()), "{kinds:?}");
    // The lock is released with the run: a run asked for now goes ahead.
    let again = b.resync(None).await;
    assert_eq!(again["status"], "started", "{again}");
    let last = b.wait_resync(again["id"].as_str().unwrap(), Duration::from_secs(60)).await.unwrap();
    assert_eq!(last["kinds"][0]["status"], "completed", "{last}");
    assert_eq!(entity(&a, "502").await.unwrap()["title"], "listed");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sslmode_require_encrypts_and_verifies_the_server() {
    let pg = PgCluster::start_tls();
    let url = format!("{}?sslmode=require", pg.database("tls"));
    let ca = pg.dir().join("ca.crt");
    let probe = Probe::default();
    let with_ca =
        |ca: Option<std::path::PathBuf>| start(&url, &probe, Duration::ZERO, None, move |s| s.postgres.ca_file = ca);
    // Without the CA, the server's certificate cannot be verified: no connection, a clear error.
    let refused = with_ca(None).await.err().expect("a server that cannot be verified is refused").to_string();
    assert!(refused.contains("OCEAN__POSTGRES__URL") && refused.contains("cannot connect"), "{refused}");
    let it = with_ca(Some(ca)).await.expect("verified against OCEAN__POSTGRES__CA_FILE");
    let body = json!({"id": 11, "seq": 1, "title": "over tls"});
    assert_eq!(it.post("/items", body.to_string().as_bytes(), &[]).await.status(), 202);
    assert_eq!(eventually("the entity", || entity(&it, "11")).await["title"], "over tls");
    let encrypted = pg.sql(
        "tls",
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
         WHERE a.application_name = 'ocean'",
    );
    let (ssl, all) = encrypted.split_once('|').unwrap();
    assert!(
        all.parse::<u32>().unwrap() > 0 && ssl == all,
        "every connection of the integration is encrypted: {encrypted}"
    );
    it.shutdown().await;
}
