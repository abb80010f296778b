//! Acknowledging takes precedence over processing: the binary's processing threads (the workers'
//! runtime, mapping, catalog writes) run `OCEAN__PROCESSING_NICENESS` below the threads that answer
//! webhooks and make them durable (actix's, the queue writer's), as read from `/proc`.

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

/// Nice values by role, after the integration is ready and has processed one event.
async fn roles(niceness: Option<&str>) -> BTreeMap<&'static str, Vec<i32>> {
    let dir = std::env::temp_dir().join(format!("ocean-priority-{}-{}", std::process::id(), niceness.unwrap_or("d")));
    std::fs::create_dir_all(&dir).unwrap();
    let mut envs = vec![("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", "s3cret")];
    if let Some(n) = niceness {
        envs.push(("OCEAN__PROCESSING_NICENESS", n));
    }
    let bin = support::spawn(&dir, &envs);
    let client = reqwest::Client::new();
    support::wait_ready(&client, &bin.base).await;
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/corpus/payloads/github/issues/opened.payload.json"
    ))
    .unwrap();
    let (status, _) = support::send_github(&client, &bin.base, "issues", &body, "d-1", "s3cret").await;
    assert_eq!(status, 202);
    let url = format!("{}/catalog/blueprints/githubIssue/entities", bin.base);
    support::eventually("the issue in the catalog", || async {
        let list: serde_json::Value = client.get(&url).send().await.ok()?.json().await.ok()?;
        list.as_array().filter(|l| !l.is_empty()).map(|_| ())
    })
    .await;
    let mut by_role: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (name, nice) in threads(bin.pid()) {
        let role = match name.as_str() {
            n if n.starts_with("actix-server") => "acknowledge",
            n if n.starts_with("ocean-queue") => "acknowledge",
            n if n.starts_with("tokio-rt-worker")
                || n.starts_with("ocean-mapping")
                || n.starts_with("ocean-catalog") =>
            {
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
