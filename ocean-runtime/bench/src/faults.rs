//! `ocean faults`: the fault harness. Runs the GitHub example (release build) on loopback and prints, per
//! scenario, the load held, the faults injected, the inputs tried, the events acknowledged, applied and
//! lost. An event is lost when it was answered 202 `accepted` and its entity is not in the catalog.
//!
//! - `sigkill`: rounds of load on one state directory, each ended by SIGKILL, then a restart;
//! - `sigterm`: SIGTERM under load, the catalog read once the process has exited;
//! - `port`: the example in Port mode against a Port on loopback that answers 30 % of calls 429 or 503
//!   with `Retry-After` and holds 5 % past the client's timeout; an event is applied when its entity is in
//!   that Port;
//! - `replicas`: three replicas on a private PostgreSQL, the load spread over them; in each round one of
//!   them (in turn) is killed with SIGKILL and started again; the shared catalog is read from a replica;
//! - `storm`: malformed, oversized, forged and replayed requests mixed with valid ones.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::example::{Example, build_example, metric, start_example_env, start_example_in};
use crate::fake_port::{FakePort, Mode};
use crate::payloads::Payloads;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Rounds of load ended by SIGKILL.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Seconds of load per round.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Events sent to the example in Port mode, against a faulty Port.
    #[arg(long, default_value_t = 1000)]
    port_events: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// The example binary (default: built with `cargo build --release -p example-github`).
    #[arg(long)]
    binary: Option<PathBuf>,
}

struct Row {
    scenario: &'static str,
    load: String,
    faults: String,
    tried: u64,
    acknowledged: usize,
    applied: usize,
}

pub(crate) fn run(a: Args) -> Result<(), String> {
    let bin = match &a.binary {
        Some(b) => b.clone(),
        None => build_example()?,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let rows = rt.block_on(async {
        let p = Arc::new(Payloads::load()?);
        let client = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().map_err(|e| e.to_string())?;
        Ok::<_, String>(vec![
            sigkill(&a, &bin, &p, &client).await?,
            sigterm(&a, &bin, &p, &client).await?,
            port_faults(&a, &bin, &p, &client).await?,
            replicas(&a, &bin, &p, &client).await?,
            storm(&bin, &p, &client).await?,
        ])
    })?;
    println!("| scenario | load held | faults injected | inputs tried | acknowledged | applied | lost |");
    println!("|---|---|---|---|---|---|---|");
    let mut lost_total = 0;
    for r in &rows {
        let lost = r.acknowledged.saturating_sub(r.applied);
        lost_total += lost;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.scenario, r.load, r.faults, r.tried, r.acknowledged, r.applied, lost
        );
    }
    if lost_total > 0 { Err(format!("{lost_total} acknowledged events lost")) } else { Ok(()) }
}

fn state_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ocean-faults-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Sends signed events numbered from `first` until `stop` has passed or `limit` events were sent;
/// returns (tried, acknowledged ids).
async fn send_until(
    client: &reqwest::Client,
    base: &str,
    p: &Arc<Payloads>,
    (first, limit): (u64, u64),
    connections: usize,
    stop: Duration,
) -> (u64, BTreeSet<u64>) {
    let next = Arc::new(std::sync::atomic::AtomicU64::new(first));
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let deadline = Instant::now() + stop;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, base, p, next, acked) = (client.clone(), base.to_owned(), p.clone(), next.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= first.saturating_add(limit) {
                    break;
                }
                if post(&client, &base, &p, n, None).await.as_deref() == Some("accepted") {
                    acked.lock().map(|mut a| a.insert(n)).ok();
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let tried = (next.load(std::sync::atomic::Ordering::Relaxed) - first).min(limit);
    let acked = acked.lock().map(|a| a.clone()).unwrap_or_default();
    (tried, acked)
}

/// Posts event `n` (optionally with another signature); the `status` of a 202, or `http-<code>`.
async fn post(client: &reqwest::Client, base: &str, p: &Payloads, n: u64, sig: Option<&str>) -> Option<String> {
    let (body, good, delivery) = p.event(n);
    let r = client
        .post(format!("{base}/integration/webhook"))
        .header("content-type", "application/json")
        .header("x-github-event", "issues")
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", sig.unwrap_or(&good))
        .body(body)
        .send()
        .await
        .ok()?;
    if r.status().as_u16() != 202 {
        return Some(format!("http-{}", r.status().as_u16()));
    }
    r.json::<serde_json::Value>().await.ok()?["status"].as_str().map(str::to_owned)
}

async fn applied(client: &reqwest::Client, base: &str, ids: &BTreeSet<u64>, wait: Duration) -> usize {
    let deadline = Instant::now() + wait;
    loop {
        let list: Vec<serde_json::Value> =
            match client.get(format!("{base}/catalog/blueprints/githubIssue/entities")).send().await {
                Ok(r) => r.json().await.unwrap_or_default(),
                Err(_) => Vec::new(),
            };
        let present: BTreeSet<String> =
            list.iter().filter_map(|e| e["identifier"].as_str().map(str::to_owned)).collect();
        let n = ids.iter().filter(|id| present.contains(&format!("Hello-World{id}"))).count();
        if n == ids.len() || Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn sigkill(a: &Args, bin: &std::path::Path, p: &Arc<Payloads>, client: &reqwest::Client) -> Result<Row, String> {
    let dir = state_dir("sigkill");
    let mut acked = BTreeSet::new();
    let mut tried = 0;
    for round in 0..a.rounds {
        let mut ex: Example = start_example_in(bin, "durable", client, dir.clone()).await?;
        ex.keep = true;
        let killer = {
            let pid = ex.child.id();
            let after = Duration::from_secs_f64(a.seconds * 0.8);
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            })
        };
        let (t, ok) = send_until(
            client,
            &ex.base,
            p,
            (1_000_000 * (u64::from(round) + 1), u64::MAX),
            a.connections,
            Duration::from_secs_f64(a.seconds),
        )
        .await;
        let _ = killer.await;
        tried += t;
        acked.extend(ok);
    }
    let mut ex = start_example_in(bin, "durable", client, dir.clone()).await?;
    ex.keep = false;
    let n = applied(client, &ex.base, &acked, Duration::from_secs(120)).await;
    Ok(Row {
        scenario: "sigkill",
        load: format!("{} connections × {:.1} s × {} rounds", a.connections, a.seconds, a.rounds),
        faults: format!("{} SIGKILL, restart on the same state", a.rounds),
        tried,
        acknowledged: acked.len(),
        applied: n,
    })
}

async fn replicas(a: &Args, bin: &std::path::Path, p: &Arc<Payloads>, client: &reqwest::Client) -> Result<Row, String> {
    use ocean_tests::postgres::{self, PgCluster};
    if !postgres::available() {
        return Err("the replicas scenario needs PostgreSQL: apt-get install -y postgresql".into());
    }
    let pg = PgCluster::start();
    let url = pg.database("faults");
    let env = [("OCEAN__POSTGRES__URL", url.as_str()), ("OCEAN__QUEUE__LEASE_SECONDS", "3")];
    let start = |i: usize| {
        let dir = state_dir(&format!("replica-{i}"));
        start_example_env(bin, "postgres", client, dir, &env)
    };
    let mut replicas = vec![start(0).await?, start(1).await?, start(2).await?];
    let mut acked = BTreeSet::new();
    let mut tried = 0;
    let per = (a.connections / 3).max(1);
    for round in 0..a.rounds {
        let victim = round as usize % replicas.len();
        let pid = replicas[victim].child.id();
        let after = Duration::from_secs_f64(a.seconds * 0.5);
        let killer = tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        });
        let base = 20_000_000 * (u64::from(round) + 1);
        let seconds = Duration::from_secs_f64(a.seconds);
        let mut sends = Vec::new();
        for (i, r) in replicas.iter().enumerate() {
            let (client, url, p) = (client.clone(), r.base.clone(), p.clone());
            let range = (base + i as u64 * 1_000_000, u64::MAX);
            sends.push(tokio::spawn(async move { send_until(&client, &url, &p, range, per, seconds).await }));
        }
        for s in sends {
            let (t, ok) = s.await.map_err(|e| e.to_string())?;
            tried += t;
            acked.extend(ok);
        }
        let _ = killer.await;
        replicas[victim] = start(victim + 10 * (round as usize + 1)).await?;
    }
    let n = applied(client, &replicas[0].base, &acked, Duration::from_secs(120)).await;
    drop(replicas);
    Ok(Row {
        scenario: "replicas",
        load: format!("3 replicas × {per} connections × {:.1} s × {} rounds", a.seconds, a.rounds),
        faults: format!("{} SIGKILL of one replica in turn, restarted; leases of 3 s taken over", a.rounds),
        tried,
        acknowledged: acked.len(),
        applied: n,
    })
}

async fn sigterm(a: &Args, bin: &std::path::Path, p: &Arc<Payloads>, client: &reqwest::Client) -> Result<Row, String> {
    let dir = state_dir("sigterm");
    let mut ex = start_example_in(bin, "durable", client, dir.clone()).await?;
    ex.keep = true;
    let pid = ex.child.id();
    let term = tokio::spawn({
        let after = Duration::from_secs_f64(a.seconds * 0.8);
        async move {
            tokio::time::sleep(after).await;
            let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
    });
    let (tried, acked) =
        send_until(client, &ex.base, p, (5_000_000, u64::MAX), a.connections, Duration::from_secs_f64(a.seconds)).await;
    let _ = term.await;
    let exited = ex.child.wait().map_err(|e| e.to_string())?;
    let catalog = ocean::sink::LocalCatalog::open(&dir.join("catalog.redb")).map_err(|e| e.to_string())?;
    let present: BTreeSet<String> = catalog
        .list("githubIssue")
        .map_err(|e| e.to_string())?
        .iter()
        .filter_map(|e| e["identifier"].as_str().map(str::to_owned))
        .collect();
    let n = acked.iter().filter(|id| present.contains(&format!("Hello-World{id}"))).count();
    drop(catalog);
    ex.keep = false;
    Ok(Row {
        scenario: "sigterm",
        load: format!("{} connections × {:.1} s", a.connections, a.seconds),
        faults: format!("SIGTERM under load (exit: {})", exited.code().map_or("signal".into(), |c| c.to_string())),
        tried,
        acknowledged: acked.len(),
        applied: n,
    })
}

async fn port_faults(
    a: &Args,
    bin: &std::path::Path,
    p: &Arc<Payloads>,
    client: &reqwest::Client,
) -> Result<Row, String> {
    let timeout = Duration::from_secs(1);
    let port = FakePort::start(Mode::Faulty, timeout * 3).await?;
    let env = [
        ("OCEAN__PORT__CLIENT_ID", "fault-harness"),
        ("OCEAN__PORT__CLIENT_SECRET", "fault-harness"),
        ("OCEAN__PORT__BASE_URL", port.base.as_str()),
        ("OCEAN__PORT__REQUEST_TIMEOUT", "1"),
    ];
    let ex = start_example_env(bin, "durable", client, state_dir("port"), &env).await?;
    let (tried, acked) =
        send_until(client, &ex.base, p, (7_000_000, a.port_events), a.connections, Duration::from_secs(600)).await;
    let deadline = Instant::now() + Duration::from_secs(600);
    let applied = loop {
        let n = acked.iter().filter(|id| port.has("githubIssue", &format!("Hello-World{id}"))).count();
        if n == acked.len() || Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    drop(ex);
    let i = port.injected();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let faults = format!(
        "{} of {} Port calls: {} × 429, {} × 503 with Retry-After, {} held past the {} s timeout",
        load(&i.throttled) + load(&i.unavailable) + load(&i.held),
        load(&i.calls),
        load(&i.throttled),
        load(&i.unavailable),
        load(&i.held),
        timeout.as_secs(),
    );
    port.stop().await;
    Ok(Row {
        scenario: "port",
        load: format!("{} events, {} connections", a.port_events, a.connections),
        faults,
        tried,
        acknowledged: acked.len(),
        applied,
    })
}

async fn storm(bin: &std::path::Path, p: &Arc<Payloads>, client: &reqwest::Client) -> Result<Row, String> {
    let ex = start_example_in(bin, "durable", client, state_dir("storm")).await?;
    let mut acked = BTreeSet::new();
    let mut tried = 0;
    let mut unexpected = 0;
    let mut cut = 0;
    let oversized = vec![b' '; 11 * 1024 * 1024];
    for i in 0..400u64 {
        let n = 9_000_000 + i;
        tried += 1;
        match i % 5 {
            0 | 1 => {
                if post(client, &ex.base, p, n, None).await.as_deref() == Some("accepted") {
                    acked.insert(n);
                }
            }
            2 => {
                let forged = post(client, &ex.base, p, n, Some("sha256=00")).await;
                unexpected += usize::from(forged.as_deref() != Some("http-401"));
            }
            3 => {
                let r = client
                    .post(format!("{}/integration/webhook", ex.base))
                    .header("x-github-event", "issues")
                    .body(if i % 2 == 0 { b"{not json".to_vec() } else { oversized.clone() })
                    .send()
                    .await;
                // An oversized upload may be cut by the server's early 413 and close: the client then
                // sees its connection reset instead of the answer. Refused either way.
                let oversized_cut = i % 2 == 1 && r.is_err();
                cut += usize::from(oversized_cut);
                let code = r.map(|r| r.status().as_u16()).unwrap_or(0);
                unexpected += usize::from(!oversized_cut && !matches!(code, 400 | 401 | 413));
            }
            _ => {
                // Replay of the last valid delivery: a duplicate, not processed again.
                let replay = post(client, &ex.base, p, n - 4, None).await;
                unexpected += usize::from(replay.as_deref() != Some("duplicate"));
            }
        }
    }
    let n = applied(client, &ex.base, &acked, Duration::from_secs(60)).await;
    let dup = metric(client, &ex.base, "ocean_events_duplicates_total").await;
    Ok(Row {
        scenario: "storm",
        load: "400 requests, 1 connection".into(),
        faults: format!(
            "80 forged, 80 malformed or 11 MiB ({cut} uploads cut short by the server), 80 replays ({dup} duplicates seen); {unexpected} unexpected answers"
        ),
        tried,
        acknowledged: acked.len(),
        applied: n,
    })
}
