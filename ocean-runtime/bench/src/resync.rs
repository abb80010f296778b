//! Live events during a resync (section 5 of the bench): the example receives live events at a steady
//! rate, first alone, then while it resyncs issues from a GitHub API on loopback (repeated until the load ends), both through one
//! rate budget. Reported: the live events' end-to-end p99 without and with the resync, and the objects the
//! resync listed per second meanwhile.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ocean::actix_web::{HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use crate::example::{Example, free_port, metric, start_example_env};
use crate::load::{Ring, Until, load};

/// The organisation's listing: `repos` repositories of `issues` issues each, in pages of 100.
struct Listing {
    base: String,
    repos: usize,
    issues: usize,
    issue: Value,
}

async fn github(req: HttpRequest, l: web::Data<Arc<Listing>>) -> HttpResponse {
    let path = req.path().to_owned();
    let page: usize =
        req.query_string().split('&').find_map(|p| p.strip_prefix("page=")).and_then(|p| p.parse().ok()).unwrap_or(1);
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (items, total): (Vec<Value>, usize) = match parts.as_slice() {
        ["orgs", _, "repos"] => {
            ((0..l.repos).map(|r| json!({"name": format!("repo-{r}"), "id": r})).collect(), l.repos)
        }
        ["repos", _, repo, "issues"] => {
            let index: u64 = repo.trim_start_matches("repo-").parse().unwrap_or(0);
            let start = (page - 1) * 100;
            let end = (start + 100).min(l.issues);
            let list = (start..end)
                .map(|n| {
                    let mut i = l.issue.clone();
                    i["id"] = json!(index * 1_000_000 + n as u64);
                    i["number"] = json!(n);
                    i
                })
                .collect();
            (list, l.issues)
        }
        // A live event's refetch.
        ["repos", _, _, "issues", _] => return HttpResponse::Ok().json(&l.issue),
        _ => return HttpResponse::NotFound().finish(),
    };
    let mut resp = HttpResponse::Ok();
    if page * 100 < total {
        resp.insert_header(("link", format!("<{}{path}?per_page=100&page={}>; rel=\"next\"", l.base, page + 1)));
    }
    resp.json(items)
}

async fn e2e_p99(client: &reqwest::Client, ex: &Example) -> f64 {
    crate::bench::e2e_quantile(client, &ex.base, 0.99).await
}

async fn drain(client: &reqwest::Client, ex: &Example, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while metric(client, &ex.base, "ocean_events_processed_total").await < count as f64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn live_during_resync(
    bin: &Path,
    ring: &Arc<Ring>,
    client: &reqwest::Client,
    first: u64,
    connections: usize,
    rate: f64,
    d: Duration,
    smoke: bool,
) -> Result<Value, String> {
    let issue: Value = {
        let p =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/payloads/github/issues/opened.payload.json");
        let v: Value =
            serde_json::from_slice(&std::fs::read(&p).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        v["issue"].clone()
    };
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let (repos, issues) = if smoke { (2, 150) } else { (20, 1000) };
    let listing = Arc::new(Listing { base: base.clone(), repos, issues, issue });
    let data = listing.clone();
    let server = HttpServer::new(move || {
        ocean::actix_web::App::new().app_data(web::Data::new(data.clone())).default_service(web::to(github))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", port))
    .map_err(|e| e.to_string())?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    // The budget covers the live events' refetches twice over; the resync gets what they leave.
    let budget = format!("{}", (rate * 2.0).ceil().max(20.0));
    let env = [
        ("OCEAN__INTEGRATION__CONFIG__GITHUB_TOKEN", "bench"),
        ("OCEAN__INTEGRATION__CONFIG__GITHUB_API_URL", base.as_str()),
        ("OCEAN__INTEGRATION__CONFIG__GITHUB_ORGANIZATION", "bench"),
        ("OCEAN__ADMIN__TOKEN", "bench"),
        ("OCEAN__RESYNC_ON_START", "false"),
        ("OCEAN__RATE_LIMIT__REQUESTS_PER_SECOND", budget.as_str()),
    ];
    let mut first = first;
    let mut out = json!({"rate": rate.round(), "budget_per_sec": budget, "listing": repos * issues});
    for with_resync in [false, true] {
        let dir = std::env::temp_dir().join(format!("ocean-bench-resync-{}", free_port()));
        let ex = start_example_env(bin, "durable", client, dir, &env).await?;
        let url = format!("{}/integration/webhook", ex.base);
        let resyncing = with_resync.then(|| {
            let (client, base) = (client.clone(), ex.base.clone());
            tokio::spawn(async move {
                // Started again whenever it ends, so that the resync runs through the whole load.
                loop {
                    let _ = client.post(format!("{base}/admin/resync?kind=issue")).bearer_auth("bench").send().await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        });
        let started = Instant::now();
        let l = load(&url, ring, first, connections, Until::Time(d), Some(rate)).await;
        let listed = metric(client, &ex.base, "ocean_resync_items_fetched_total").await;
        let secs = started.elapsed().as_secs_f64();
        if let Some(t) = resyncing {
            t.abort();
        }
        first += l.sent + 1;
        drain(client, &ex, l.ok).await;
        let p99 = e2e_p99(client, &ex).await;
        let key = if with_resync { "with_resync" } else { "without_resync" };
        out[key] = json!({"events": l.ok, "e2e_p99_ms": p99});
        if with_resync {
            out["resync_items_per_sec"] = json!((listed / secs).round());
        }
        eprintln!("live events at {rate:.0}/s {key}: e2e p99 {p99:.1} ms");
    }
    handle.stop(true).await;
    Ok(out)
}
