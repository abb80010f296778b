//! `ocean bench --report <file.json> [--quick]`: the figures the project is judged by, measured in one run
//! on this machine, as ratios to a bare actix-web handler (the ceiling).
//!
//! 1. Ceiling: an actix-web handler that reads the body and answers 200, same payloads and connections;
//!    and the floor of a durable intake (`crate::floor`): a handler that verifies the signature and
//!    checks the JSON, without and then with an append to a log synced once per batch. These and the
//!    durable queue's intake and end to end are measured three times (once with `--smoke`); the report
//!    gives their medians, with min and max, and the ratios of the medians.
//! 2. The GitHub example (release build) on loopback, durable then in-memory queue: signed GitHub payloads
//!    answered 202 per second (intake), and events per second until every one is in the local catalog.
//! 3. At half of the end-to-end saturation rate: p50 and p99 of intake (client side) and of end to end
//!    (received to applied, from the integration's histogram); and the ceiling's p50 and p99 at the same
//!    rate just before, the floor that the load generator and the machine put under intake's; and the
//!    p50 and p99 of the time the queue took to make each batch durable (its log write and
//!    `fdatasync`), which intake's answers wait for.
//! 5. Live events at a quarter of the end-to-end saturation rate, alone and while the example resyncs
//!    issues from a GitHub API on loopback: their end-to-end p99 in both runs (`crate::resync`).
//! 6. Two replicas on a private PostgreSQL (`crate::replicas`): intake and end to end, as ratios to the
//!    ceiling and to the embedded durable queue of the same run.
//! 4. Resident memory idle, peak during the saturating bursts and during a burst of 30,000 events (with
//!    the queue depth reached), and peak with 100,000 events queued (20,000 with `--quick`) behind a
//!    Port that answers 503 to everything.
//!
//! Before the durable bursts and after them, the time the disk takes to sync a write (`crate::disk`),
//! which bounds the durable intake.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ocean::actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use crate::example::{build_example, free_port, metric, start_example, start_example_env};
use crate::fake_port::{FakePort, Mode};
use crate::load::{Ring, Until, load};
use crate::payloads::Payloads;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Where to write the JSON report (a Markdown table is written beside it).
    #[arg(long, default_value = "bench-report.json")]
    report: PathBuf,
    /// Five seconds per measure instead of fifteen (a run of a few minutes).
    #[arg(long)]
    quick: bool,
    /// A tiny load that only checks the harness runs (CI).
    #[arg(long)]
    smoke: bool,
    /// Keep-alive connections of the load generator.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// The example binary (default: built with `cargo build --release -p example-github`).
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Only the ceiling and the two replicas on PostgreSQL (to profile that section; no ratio to the
    /// embedded queue).
    #[arg(long)]
    postgres_only: bool,
    /// Only the live events during a resync, at this many events per second (to profile that section;
    /// no ceiling).
    #[arg(long, conflicts_with = "postgres_only")]
    resync_only: Option<f64>,
}

/// The `q` quantile of `v`, which is sorted in place.
pub(crate) fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// The median of `v` (the middle run of three).
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn rounded(v: &[f64]) -> Value {
    json!(v.iter().map(|x| x.round()).collect::<Vec<_>>())
}

/// One saturating burst against a fresh example: intake, end to end, latency, memory.
struct Burst {
    intake_rps: f64,
    e2e_eps: f64,
    saturated_p99_ms: f64,
    idle: f64,
    peak: f64,
    depth: f64,
    ok: u64,
    sent: u64,
}

/// Starts the example on `backend`, loads it `until` a time or a count, and waits until every
/// acknowledged event is processed: intake is answers per second during the load, end to end is events
/// per second from its start until the last one is in the catalog.
async fn burst(
    bin: &Path,
    backend: &str,
    client: &reqwest::Client,
    ring: &Arc<Ring>,
    first: u64,
    connections: usize,
    until: Until,
) -> Result<Burst, String> {
    let ex = start_example(bin, backend, client).await?;
    let pid = ex.child.id();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = rss_mib(pid, "VmRSS:");
    let started = Instant::now();
    let mut l = load(&format!("{}/integration/webhook", ex.base), ring, first, connections, until, None).await;
    let intake_rps = l.ok as f64 / l.secs;
    let depth = metric(client, &ex.base, "ocean_queue_depth").await;
    let deadline = Instant::now() + Duration::from_secs(600);
    while metric(client, &ex.base, "ocean_events_processed_total").await < l.ok as f64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let e2e_eps = l.ok as f64 / started.elapsed().as_secs_f64();
    let peak = rss_mib(pid, "VmHWM:");
    let saturated_p99_ms = quantile(&mut l.latencies_ms, 0.99);
    Ok(Burst { intake_rps, e2e_eps, saturated_p99_ms, idle, peak, depth, ok: l.ok, sent: l.sent })
}

fn rss_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// p-quantile of the end-to-end histogram (bucket upper bound), in ms.
pub(crate) async fn e2e_quantile(client: &reqwest::Client, base: &str, q: f64) -> f64 {
    histogram_quantile(client, base, "ocean_event_end_to_end_seconds", q).await
}

/// p-quantile of the integration's histogram `name` (bucket upper bound), in ms.
pub(crate) async fn histogram_quantile(client: &reqwest::Client, base: &str, name: &str, q: f64) -> f64 {
    let text = client.get(format!("{base}/metrics")).send().await.ok().map(|r| r.text());
    let text = match text {
        Some(t) => t.await.unwrap_or_default(),
        None => return 0.0,
    };
    let mut buckets: Vec<(f64, f64)> = text
        .lines()
        .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with("_bucket{")))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
            Some((le, l.rsplit(' ').next()?.parse().ok()?))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last().map_or(0.0, |b| b.1);
    buckets.iter().find(|(_, c)| *c >= total * q).map_or(0.0, |(le, _)| le * 1000.0)
}

/// The ceiling: an actix-web handler on loopback that reads the body and answers 200, served by this
/// process's runtime (call it from within one); its URL and the handle that stops it.
pub(crate) fn bare_handler() -> Result<(String, ocean::actix_web::dev::ServerHandle), String> {
    let ceiling = HttpServer::new(|| {
        App::new().default_service(web::to(|_body: web::Bytes| async { HttpResponse::Ok().finish() }))
    })
    .bind(("127.0.0.1", 0))
    .map_err(|e| e.to_string())?;
    let addr = ceiling.addrs()[0];
    let server = ceiling.disable_signals().run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok((format!("http://{addr}/"), handle))
}

pub(crate) fn run(a: Args) -> Result<(), String> {
    let bin = match &a.binary {
        Some(b) => b.clone(),
        None => build_example()?,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(bench(a, bin))
}

async fn bench(a: Args, bin: PathBuf) -> Result<(), String> {
    let d = Duration::from_secs(if a.smoke {
        1
    } else if a.quick {
        5
    } else {
        15
    });
    let p = Payloads::load()?;
    let ring = Arc::new(Ring::new(&p));
    let client = reqwest::Client::new();
    let mut report = json!({
        "machine": {
            "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "os": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
            "cpu": std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or_default().trim().to_owned())),
        },
        "payload_bytes": p.event(1).0.len(),
        "connections": a.connections,
        "duration_secs": d.as_secs(),
    });

    if let Some(rate) = a.resync_only {
        let during =
            crate::resync::live_during_resync(&bin, &ring, &client, 1, a.connections, rate.max(1.0), d, a.smoke)
                .await?;
        println!("{}", json!({"live_during_resync": during}));
        return Ok(());
    }
    // 1. The ceiling; the saturating measures are taken `runs` times, their median reported with min and max.
    // Each run measures the ceiling, then the floor receiver without its log and with it (`crate::floor`).
    let runs = if a.smoke { 1 } else { 3 };
    let (mut ceilings, mut checked, mut floors) = (Vec::new(), Vec::new(), Vec::new());
    let tmp = std::env::temp_dir();
    for _ in 0..runs {
        for (server, out) in [(0, &mut ceilings), (1, &mut checked), (2, &mut floors)] {
            let (url, handle) = match server {
                0 => bare_handler()?,
                1 => crate::floor::floor_handler(None)?,
                _ => crate::floor::floor_handler(Some(&tmp))?,
            };
            let c = load(&url, &ring, 0, a.connections, Until::Time(d), None).await;
            handle.stop(true).await;
            out.push(c.ok as f64 / c.secs);
        }
    }
    let ceiling_rps = median(&ceilings);
    report["ceiling_rps"] = json!(ceiling_rps.round());
    report["ceiling_rps_runs"] = rounded(&ceilings);
    report["floor_checked_rps"] = json!(median(&checked).round());
    report["floor_checked_rps_runs"] = rounded(&checked);
    report["floor_rps"] = json!(median(&floors).round());
    report["floor_rps_runs"] = rounded(&floors);
    eprintln!("ceiling: {ceiling_rps:.0} req/s (runs: {ceilings:.0?})");
    eprintln!("floor, verify and check: {:.0} req/s (runs: {checked:.0?})", median(&checked));
    eprintln!("floor, verify, check and append with fdatasync: {:.0} req/s (runs: {floors:.0?})", median(&floors));

    // 2. Intake and end to end, durable then memory.
    let mut first = 1_000_000u64;
    let backends: &[&str] = if a.postgres_only { &[] } else { &["durable", "memory"] };
    let sync_dir = std::env::temp_dir();
    let probe_secs = Duration::from_millis(if a.smoke { 200 } else { 1000 });
    let probe = |when: &str| -> Result<Value, String> {
        let p = crate::disk::sync_probe(&sync_dir, probe_secs)?;
        eprintln!(
            "disk {when}: write of {} KiB then fdatasync, p50 {} ms, p99 {} ms",
            crate::disk::CHUNK / 1024,
            p["p50_ms"],
            p["p99_ms"]
        );
        Ok(p)
    };
    if !backends.is_empty() {
        report["disk_sync"] = json!({"before": probe("before the bursts")?});
    }
    for &backend in backends {
        let mut all = Vec::new();
        for _ in 0..if backend == "durable" { runs } else { 1 } {
            let b = burst(&bin, backend, &client, &ring, first, a.connections, Until::Time(d)).await?;
            first += b.sent + 1;
            eprintln!(
                "{backend}: intake {:.0} req/s, end to end {:.0} events/s, rss idle {:.1} MiB, peak {:.1} MiB",
                b.intake_rps, b.e2e_eps, b.idle, b.peak
            );
            all.push(b);
        }
        let intakes: Vec<f64> = all.iter().map(|b| b.intake_rps).collect();
        let e2es: Vec<f64> = all.iter().map(|b| b.e2e_eps).collect();
        let (intake_rps, e2e_eps) = (median(&intakes), median(&e2es));
        if backend == "durable" {
            // The burst whose intake is the median gives the latency under saturation; memory is the worst.
            let mid = all.iter().find(|b| b.intake_rps == intake_rps).unwrap_or(&all[0]);
            let worst = all.iter().max_by(|x, y| x.peak.total_cmp(&y.peak)).unwrap_or(&all[0]);
            report["intake_rps"] = json!(intake_rps.round());
            report["intake_rps_runs"] = rounded(&intakes);
            report["e2e_eps"] = json!(e2e_eps.round());
            report["e2e_eps_runs"] = rounded(&e2es);
            report["intake_saturated_p99_ms"] = json!(mid.saturated_p99_ms);
            report["rss_idle_mib"] = json!(all.iter().map(|b| b.idle).fold(0.0, f64::max));
            report["rss_burst_peak_mib"] = json!(worst.peak);
            report["queued_at_burst_peak"] = json!(worst.depth);
            report["events_in_burst"] = json!(worst.ok);
            // 3. Latency at half of saturation.
            let rate = (e2e_eps / 2.0).max(1.0);
            let (url, handle) = bare_handler()?;
            let mut c = load(&url, &ring, 0, a.connections, Until::Time(d), Some(rate)).await;
            handle.stop(true).await;
            let (p50, p99) = (quantile(&mut c.latencies_ms, 0.5), quantile(&mut c.latencies_ms, 0.99));
            report["ceiling_p50_ms"] = json!(p50);
            report["ceiling_p99_ms"] = json!(p99);
            eprintln!("ceiling at {rate:.0} req/s: p50 {p50:.2} ms, p99 {p99:.2} ms");
            let ex2 = start_example(&bin, backend, &client).await?;
            let mut h = load(
                &format!("{}/integration/webhook", ex2.base),
                &ring,
                first,
                a.connections,
                Until::Time(d),
                Some(rate),
            )
            .await;
            first += h.sent + 1;
            let deadline = Instant::now() + Duration::from_secs(60);
            while metric(&client, &ex2.base, "ocean_events_processed_total").await < h.ok as f64
                && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            report["half_saturation_rate"] = json!(rate.round());
            report["intake_p50_ms"] = json!(quantile(&mut h.latencies_ms, 0.5));
            report["intake_p99_ms"] = json!(quantile(&mut h.latencies_ms, 0.99));
            report["e2e_p50_ms"] = json!(e2e_quantile(&client, &ex2.base, 0.5).await);
            report["e2e_p99_ms"] = json!(e2e_quantile(&client, &ex2.base, 0.99).await);
            // What intake waited for: each batch's log write and fdatasync, in the same run.
            let persist = |q| histogram_quantile(&client, &ex2.base, "ocean_queue_persist_seconds", q);
            report["persist_p50_ms"] = json!(persist(0.5).await);
            report["persist_p99_ms"] = json!(persist(0.99).await);
        } else {
            report["intake_rps_memory"] = json!(intake_rps.round());
            report["e2e_eps_memory"] = json!(e2e_eps.round());
        }
    }
    if !backends.is_empty() {
        report["disk_sync"]["after"] = probe("after the bursts")?;
    }
    if a.postgres_only {
        let pg = crate::replicas::two_replicas(&bin, &ring, &client, first, a.connections, d).await?;
        println!("{}", json!({"ceiling_rps": ceiling_rps.round(), "postgres": pg}));
        return Ok(());
    }
    // 5. Live events during a resync.
    let rate = (report["e2e_eps"].as_f64().unwrap_or(4.0) / 4.0).max(1.0);
    let during =
        crate::resync::live_during_resync(&bin, &ring, &client, first, a.connections, rate, d, a.smoke).await?;
    first += 1_000_000;
    report["live_during_resync"] = during;
    // 6. Two replicas on PostgreSQL.
    report["postgres"] = crate::replicas::two_replicas(&bin, &ring, &client, first, a.connections, d).await?;
    first += 1_000_000_000;
    // 4. Resident memory at the peak of a burst of a given size, then with many events queued: Port stops
    // answering, so nothing leaves the queue.
    let events = if a.smoke { 500 } else { 30_000 };
    let b = burst(&bin, "durable", &client, &ring, first, a.connections, Until::Count(events)).await?;
    first += b.sent + 1;
    eprintln!("{} events in a burst: rss peak {:.1} MiB, queue depth reached {}", b.ok, b.peak, b.depth);
    report["rss_counted_burst_peak_mib"] = json!(b.peak);
    report["events_in_counted_burst"] = json!(b.ok);
    report["queued_at_counted_burst_peak"] = json!(b.depth);
    let count = if a.smoke {
        500
    } else if a.quick {
        20_000
    } else {
        100_000
    };
    let (rss, queued) = queued_memory(&bin, &ring, &client, first, a.connections, count).await?;
    eprintln!("{queued} events queued: rss {rss:.1} MiB");
    report["rss_queued_mib"] = json!(rss);
    report["queued_for_rss"] = json!(queued);
    let ratio = |k: &str| report[k].as_f64().unwrap_or(0.0) / ceiling_rps.max(1.0);
    let floor_rps = report["floor_rps"].as_f64().unwrap_or(0.0).max(1.0);
    report["ratios"] = json!({
        "intake_durable_to_ceiling": (ratio("intake_rps") * 1000.0).round() / 1000.0,
        "intake_memory_to_ceiling": (ratio("intake_rps_memory") * 1000.0).round() / 1000.0,
        "e2e_to_ceiling": (ratio("e2e_eps") * 1000.0).round() / 1000.0,
        "floor_checked_to_ceiling": (ratio("floor_checked_rps") * 1000.0).round() / 1000.0,
        "floor_to_ceiling": (ratio("floor_rps") * 1000.0).round() / 1000.0,
        "intake_durable_to_floor": (report["intake_rps"].as_f64().unwrap_or(0.0) / floor_rps * 1000.0).round() / 1000.0,
        "e2e_to_floor": (report["e2e_eps"].as_f64().unwrap_or(0.0) / floor_rps * 1000.0).round() / 1000.0,
    });
    let pg = report["postgres"].clone();
    let pg = |k: &str| pg[k].as_f64().unwrap_or(0.0);
    let durable_intake = report["intake_rps"].as_f64().unwrap_or(0.0);
    let durable_e2e = report["e2e_eps"].as_f64().unwrap_or(0.0);
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    let ratios = json!({
        "postgres_intake_to_ceiling": round(pg("intake_rps") / ceiling_rps.max(1.0)),
        "postgres_intake_to_durable": round(pg("intake_rps") / durable_intake.max(1.0)),
        "postgres_e2e_to_ceiling": round(pg("e2e_eps") / ceiling_rps.max(1.0)),
        "postgres_e2e_to_durable": round(pg("e2e_eps") / durable_e2e.max(1.0)),
    });
    for (k, v) in ratios.as_object().into_iter().flatten() {
        report["ratios"][k] = v.clone();
    }
    let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    std::fs::write(&a.report, &text).map_err(|e| format!("{}: {e}", a.report.display()))?;
    std::fs::write(a.report.with_extension("md"), markdown(&report)).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

/// Peak resident memory of the example (durable queue, Port sink) once `count` events are queued behind a
/// Port that answers 503 to everything; returns (MiB, queue depth).
async fn queued_memory(
    bin: &Path,
    ring: &Arc<Ring>,
    client: &reqwest::Client,
    first: u64,
    connections: usize,
    count: u64,
) -> Result<(f64, f64), String> {
    let port = FakePort::start(Mode::Healthy, Duration::from_secs(1)).await?;
    let dir = std::env::temp_dir().join(format!("ocean-bench-queued-{}", free_port()));
    let _ = std::fs::remove_dir_all(&dir);
    let env = [
        ("OCEAN__PORT__CLIENT_ID", "bench"),
        ("OCEAN__PORT__CLIENT_SECRET", "bench"),
        ("OCEAN__PORT__BASE_URL", port.base.as_str()),
    ];
    let ex = start_example_env(bin, "durable", client, dir, &env).await?;
    port.set_mode(Mode::Down);
    let url = format!("{}/integration/webhook", ex.base);
    let l = load(&url, ring, first, connections, Until::Count(count), None).await;
    let depth = metric(client, &ex.base, "ocean_queue_depth").await;
    let rss = rss_mib(ex.child.id(), "VmHWM:");
    if l.ok < count {
        return Err(format!("only {} of {count} events were acknowledged while filling the queue", l.ok));
    }
    drop(ex);
    port.stop().await;
    Ok((rss, depth))
}

fn markdown(r: &Value) -> String {
    let f = |k: &str| r[k].as_f64().map_or("-".to_owned(), |v| format!("{v:.1}"));
    // Bucket bounds below a millisecond (0.25, 0.75) keep their digits.
    let fine = |k: &str| r[k].as_f64().map_or("-".to_owned(), |v| format!("{v}"));
    // The median, with the min and max of its runs when there were several.
    let m = |k: &str| {
        let runs: Vec<f64> =
            r[format!("{k}_runs")].as_array().into_iter().flatten().filter_map(Value::as_f64).collect();
        match (runs.iter().copied().reduce(f64::min), runs.iter().copied().reduce(f64::max)) {
            (Some(lo), Some(hi)) if runs.len() > 1 => {
                format!("{} (min {lo:.0}, max {hi:.0}, {} runs)", f(k), runs.len())
            }
            _ => f(k),
        }
    };
    let ratio = |k: &str| r["ratios"][k].as_f64().map_or("-".to_owned(), |v| format!("{v:.2}"));
    format!(
        "| Measure | Value | Ratio to the ceiling | Goal |\n|---|---|---|---|\n\
| Ceiling (bare actix-web, req/s; median) | {} | 1.00 | |\n\
| Floor: verify the signature and check the JSON, then 202 (req/s; median) | {} | {} | |\n\
| Floor: verify, check, append to a log with one fdatasync per batch, then 202 (req/s; median) | {} | {} | |\n\
| Intake, durable queue (req/s; median; ratio to the durable floor: {}) | {} | {} | ≥ 0.5 |\n\
| Intake, in-memory queue (req/s) | {} | {} | |\n\
| End to end, durable (events/s; median; ratio to the durable floor: {}) | {} | {} | ≥ 0.25 |\n\
| Intake p50 / p99 at half saturation (ms) | {} / {} | | p99 ≤ 5 |\n\
| The ceiling's p50 / p99 at the same rate (ms) | {} / {} | | |\n\
| The queue's batches made durable at the same rate: p50 / p99 (ms, bucket bound) | {} / {} | | |\n\
| End-to-end p50 / p99 at half saturation (ms, bucket bound) | {} / {} | | p99 ≤ 25 |\n\
| Disk: write of 128 KiB then fdatasync, p50 / p99 before and after the bursts (ms) | {} / {}, {} / {} | | |\n\
| RSS idle (MiB) | {} | | ≤ 25 |\n\
| Peak RSS during the saturating bursts ({} events; MiB), queue depth reached {} | {} | | |\n\
| Peak RSS during a burst of {} events (MiB), queue depth reached {} | {} | | ≤ 100 at 30,000 |\n\
| Peak RSS with {} events queued (MiB) | {} | | ≤ 200 at 100,000 |\n\
| Live events at {}/s: end-to-end p99 alone / during a resync (ms, bucket bound), resync objects listed per second | {} / {} ({}/s) | | |\n\
| Intake, 2 replicas on PostgreSQL (req/s; ratio to the durable queue: {}) | {} | {} | ≥ 0.5 of durable |\n\
| End to end, 2 replicas on PostgreSQL (events/s; ratio to the durable queue: {}) | {} | {} | |\n",
        m("ceiling_rps"),
        m("floor_checked_rps"),
        ratio("floor_checked_to_ceiling"),
        m("floor_rps"),
        ratio("floor_to_ceiling"),
        ratio("intake_durable_to_floor"),
        m("intake_rps"),
        ratio("intake_durable_to_ceiling"),
        f("intake_rps_memory"),
        ratio("intake_memory_to_ceiling"),
        ratio("e2e_to_floor"),
        m("e2e_eps"),
        ratio("e2e_to_ceiling"),
        f("intake_p50_ms"),
        f("intake_p99_ms"),
        f("ceiling_p50_ms"),
        f("ceiling_p99_ms"),
        fine("persist_p50_ms"),
        fine("persist_p99_ms"),
        f("e2e_p50_ms"),
        f("e2e_p99_ms"),
        r["disk_sync"]["before"]["p50_ms"],
        r["disk_sync"]["before"]["p99_ms"],
        r["disk_sync"]["after"]["p50_ms"],
        r["disk_sync"]["after"]["p99_ms"],
        f("rss_idle_mib"),
        r["events_in_burst"],
        f("queued_at_burst_peak"),
        f("rss_burst_peak_mib"),
        r["events_in_counted_burst"],
        f("queued_at_counted_burst_peak"),
        f("rss_counted_burst_peak_mib"),
        f("queued_for_rss"),
        f("rss_queued_mib"),
        r["live_during_resync"]["rate"],
        r["live_during_resync"]["without_resync"]["e2e_p99_ms"],
        r["live_during_resync"]["with_resync"]["e2e_p99_ms"],
        r["live_during_resync"]["resync_items_per_sec"],
        ratio("postgres_intake_to_durable"),
        r["postgres"]["intake_rps"],
        ratio("postgres_intake_to_ceiling"),
        ratio("postgres_e2e_to_durable"),
        r["postgres"]["e2e_eps"],
        ratio("postgres_e2e_to_ceiling"),
    )
}
