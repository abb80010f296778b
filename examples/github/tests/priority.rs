//! Acknowledging takes precedence over processing: the binary's processing threads (the workers'
//! runtime, mapping, catalog writes) run `OCEAN__PROCESSING_NICENESS` below the threads that answer
//! webhooks and make them durable (actix's, the queue writer's), as read from `/proc`; the workers'
//! runtime has `OCEAN__PROCESSING_THREADS` threads; and `/metrics` times what an acknowledgement waits
//! for, each batch of events made durable.

#![cfg(target_os = "linux")]

mod support;

use std::collections::BTreeMap;

/// Each thread's name and nice value.
fn threads(pid: u32) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten() {
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap();
        // `pid (comm) state ...`: the name may hold spaces; nice is the 17th field after it.
        let (name, rest) = stat.split_once(" (").unwrap().1.rsplit_once(") ").unwrap();
        let nice = rest.split(' ').nth(16).unwrap().parse().unwrap();
        out.push((name.to_owned(), nice));
    }
    out
}

fn own_nice() -> i32 {
    threads(std::process::id()).first().unwrap().1
}

/// Each thread's name and nice value, after the integration, started with `extra` settings, is ready
/// and has processed one event.
async fn after_one_event(extra: &[(&str, &str)]) -> Vec<(String, i32)> {
    let dir = ocean_tests::temp_state_dir("priority");
    let mut envs = vec![("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", "s3cret")];
    envs.extend_from_slice(extra);
    let bin = support::spawn(&dir, &envs);
    let client = reqwest::Client::new();
    support::wait_ready(&client, &bin.base).await;
    send_issues(&client, &bin.base, 1).await;
    threads(bin.pid())
}

/// Nice values by role, after the integration is ready and has processed one event.
async fn roles(niceness: Option<&str>) -> BTreeMap<&'static str, Vec<i32>> {
    let extra: Vec<(&str, &str)> = niceness.map(|n| ("OCEAN__PROCESSING_NICENESS", n)).into_iter().collect();
    let mut by_role: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (name, nice) in after_one_event(&extra).await {
        let role = match name.as_str() {
            n if n.starts_with("actix-server") => "acknowledge",
            n if n.starts_with("ocean-queue") => "acknowledge",
            n if n.starts_with("ocean-worker") || n.starts_with("ocean-mapping") || n.starts_with("ocean-catalog") => {
                "process"
            }
            _ => continue,
        };
        by_role.entry(role).or_default().push(nice);
    }
    by_role
}

#[tokio::test(flavor = "multi_thread")]
async fn processing_threads_run_below_the_threads_that_acknowledge() {
    ocean::install_crypto_provider();
    let base = own_nice();
    for (setting, added) in [(Some("10"), 10), (Some("4"), 4), (None, 0)] {
        let roles = roles(setting).await;
        let want = (base + added).min(19);
        let ack = &roles["acknowledge"];
        let process = &roles["process"];
        assert!(
            ack.len() >= 2 && ack.iter().all(|&n| n == base),
            "{setting:?}: acknowledging threads {ack:?}, want {base}"
        );
        assert!(
            process.len() >= 3 && process.iter().all(|&n| n == want),
            "{setting:?}: processing threads {process:?}, want {want}"
        );
    }
}

/// The workers' runtime has `OCEAN__PROCESSING_THREADS` threads, one per core by default, and intake keeps
/// one thread per core whatever it is.
#[tokio::test(flavor = "multi_thread")]
async fn the_processing_threads_are_as_many_as_configured() {
    ocean::install_crypto_provider();
    let cores = std::thread::available_parallelism().unwrap().get();
    for (setting, want) in [(Some("3"), 3), (Some("1"), 1), (None, cores)] {
        let extra: Vec<(&str, &str)> = setting.map(|n| ("OCEAN__PROCESSING_THREADS", n)).into_iter().collect();
        let names: Vec<String> = after_one_event(&extra).await.into_iter().map(|t| t.0).collect();
        let count = |prefix: &str| names.iter().filter(|n| n.starts_with(prefix)).count();
        assert_eq!(count("ocean-worker"), want, "{setting:?}: threads {names:?}");
        assert_eq!(count("actix-server wo"), cores, "{setting:?}: threads {names:?}");
    }
}

/// Sends `n` signed corpus issues at once, with distinct ids and delivery ids, and waits until the catalog
/// holds them.
async fn send_issues(client: &reqwest::Client, base: &str, n: u64) {
    let template: serde_json::Value =
        serde_json::from_slice(&ocean_tests::payload("github/issues/opened.payload.json")).unwrap();
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..n {
        let mut v = template.clone();
        v["issue"]["id"] = (9000 + i).into();
        let body = serde_json::to_vec(&v).unwrap();
        let (client, base) = (client.clone(), base.to_owned());
        sends.spawn(async move {
            support::send_github(&client, &base, "issues", &body, &format!("persist-{i}"), "s3cret").await.0
        });
    }
    let statuses = sends.join_all().await;
    assert!(statuses.iter().all(|&s| s == 202), "{statuses:?}");
    let url = format!("{base}/catalog/blueprints/githubIssue/entities");
    support::eventually("every issue in the catalog", || async {
        let list: serde_json::Value = client.get(&url).send().await.ok()?.json().await.ok()?;
        list.as_array().filter(|l| l.len() as u64 == n).map(|_| ())
    })
    .await;
}

async fn metrics(client: &reqwest::Client, base: &str) -> String {
    client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap()
}

/// With the durable queue, each batch that made events durable is timed, in buckets fine enough for a
/// local disk's `fdatasync`; the memory queue makes nothing durable and records nothing.
#[tokio::test(flavor = "multi_thread")]
async fn the_time_each_batch_takes_to_be_durable_is_measured() {
    ocean::install_crypto_provider();
    let client = reqwest::Client::new();
    let n = 40;
    for backend in ["durable", "memory"] {
        let dir = ocean_tests::temp_state_dir("persist");
        let envs = [("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", "s3cret"), ("OCEAN__QUEUE__BACKEND", backend)];
        let bin = support::spawn(&dir, &envs);
        support::wait_ready(&client, &bin.base).await;
        send_issues(&client, &bin.base, n).await;
        let text = metrics(&client, &bin.base).await;
        let (buckets, count, sum) = support::histogram(&text, "ocean_queue_persist_seconds");
        if backend == "memory" {
            assert_eq!(count, 0, "{backend}: {text}");
            continue;
        }
        // Batches are shared by the events pushed while one is written: at least one, at most one each.
        assert!((1..=n).contains(&count), "{backend}: {count} batches for {n} events");
        assert!(sum > 0.0, "{backend}: {text}");
        let bounds: Vec<&str> = buckets.iter().map(|(le, _)| le.as_str()).collect();
        assert!(bounds.contains(&"0.00025") && bounds.contains(&"0.0005"), "{bounds:?}");
        assert_eq!(buckets.last().map(|b| b.1), Some(count), "+Inf holds every batch: {buckets:?}");
    }
}

/// Every event's end-to-end latency is counted, in buckets fine enough around the bench's objective
/// (25 ms) that a p99 read as a bucket's bound is within a few milliseconds of the truth.
#[tokio::test(flavor = "multi_thread")]
async fn the_end_to_end_latency_has_buckets_around_its_objective() {
    ocean::install_crypto_provider();
    let client = reqwest::Client::new();
    let dir = ocean_tests::temp_state_dir("e2e-buckets");
    let bin = support::spawn(&dir, &[("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", "s3cret")]);
    support::wait_ready(&client, &bin.base).await;
    let n = 10;
    send_issues(&client, &bin.base, n).await;
    // Recorded once the event is applied, a moment after its entity shows in the catalog.
    let (text, buckets) = support::eventually("every event counted end to end", || async {
        let text = client.get(format!("{}/metrics", bin.base)).send().await.ok()?.text().await.ok()?;
        let (buckets, count, _) = support::histogram(&text, "ocean_event_end_to_end_seconds");
        (count == n).then_some((text, buckets))
    })
    .await;
    assert_eq!(buckets.last().map(|b| b.1), Some(n), "{text}");
    let bounds: Vec<&str> = buckets.iter().map(|(le, _)| le.as_str()).collect();
    for le in ["0.01", "0.015", "0.02", "0.025", "0.035", "0.05"] {
        assert!(bounds.contains(&le), "no bucket {le}: {bounds:?}");
    }
}
