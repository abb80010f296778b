//! `ocean send`: POST payloads with the provider's headers and a valid signature, with a progress bar and
//! a summary.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Provider {
    /// `X-GitHub-Event` (from the folder name), `X-GitHub-Delivery`, `X-Hub-Signature-256`.
    Github,
    /// `X-Gitlab-Event` (from `object_kind`), `Idempotency-Key`, `X-Gitlab-Token` (or the signing-token
    /// headers for a `whsec_` secret).
    Gitlab,
    /// Standard Webhooks headers (`whsec_` secret).
    Standard,
}

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Files or folders of JSON payloads (folders are walked; for GitHub the event is the parent folder's name).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Integration URL, path included.
    #[arg(long, default_value = "http://127.0.0.1:8000/integration/webhook")]
    url: String,
    /// The webhook secret to sign with.
    #[arg(long, env = "OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET")]
    secret: String,
    /// The provider whose headers are sent.
    #[arg(long, value_enum, default_value = "github")]
    provider: Provider,
    /// The event name, when it cannot be read from the folder name.
    #[arg(long)]
    event: Option<String>,
    /// Times each payload is sent.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for e in entries {
            collect(&e, out)?;
        }
    } else if path.extension().is_some_and(|e| e == "json") {
        out.push(path.to_owned());
    }
    Ok(())
}

/// The `X-Gitlab-Event` GitLab sends for a payload's `object_kind`: `merge_request` → `Merge Request Hook`.
fn gitlab_event(object_kind: &str) -> String {
    let words = match object_kind {
        "build" => "job".to_owned(),
        other => other.to_owned(),
    };
    let title: Vec<String> = words
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect();
    format!("{} Hook", title.join(" "))
}

struct Request {
    body: Vec<u8>,
    headers: Vec<(String, String)>,
}

fn prepare(a: &Args, file: &Path) -> Result<Request, String> {
    let raw = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let value: serde_json::Value = serde_json::from_slice(&raw).map_err(|e| format!("{}: {e}", file.display()))?;
    let body = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    let folder = file.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
    let id = uuid::Uuid::new_v4().to_string();
    let now = std::time::SystemTime::now();
    let headers = match a.provider {
        Provider::Github => {
            let event = a.event.clone().or(folder).ok_or_else(|| {
                format!(
                    "{}: the GitHub event is the folder's name or --event (issues, pull_request, ...)",
                    file.display()
                )
            })?;
            let mut h = ocean::auth::github().sign_request(&a.secret, &body, now)?;
            h.extend([("x-github-event".into(), event), ("x-github-delivery".into(), id)]);
            h
        }
        Provider::Gitlab => {
            let event = match (&a.event, value["object_kind"].as_str()) {
                (Some(e), _) => e.clone(),
                (None, Some(kind)) => gitlab_event(kind),
                (None, None) => {
                    return Err(format!("{}: no `object_kind` to name the GitLab event; pass --event", file.display()));
                }
            };
            let mut h = ocean::auth::gitlab().sign_request(&a.secret, &body, now)?;
            h.extend([("x-gitlab-event".into(), event), ("idempotency-key".into(), id)]);
            h
        }
        Provider::Standard => ocean::auth::standard_webhooks().sign_request(&a.secret, &body, now)?,
    };
    Ok(Request { body, headers })
}

#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    accepted: AtomicU64,
    ignored: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    errors: AtomicU64,
    /// Why the first ignored or rejected request was, as the integration answered.
    ignored_reason: std::sync::Mutex<Option<String>>,
    rejected_reason: std::sync::Mutex<Option<String>>,
}

impl Tally {
    fn note(slot: &std::sync::Mutex<Option<String>>, why: Option<&str>) {
        if let (Ok(mut s), Some(w)) = (slot.lock(), why) {
            s.get_or_insert_with(|| w.to_owned());
        }
    }
}

pub(crate) fn run(a: Args) -> Result<(), String> {
    let mut files = Vec::new();
    for p in &a.paths {
        collect(p, &mut files).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    if files.is_empty() {
        return Err("no .json payload found".into());
    }
    let mut requests = Vec::new();
    for _ in 0..a.repeat.max(1) {
        for f in &files {
            requests.push(prepare(&a, f)?);
        }
    }
    let total = requests.len() as u64;
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let tally = Arc::new(Tally::default());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let started = Instant::now();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let queue = Arc::new(std::sync::Mutex::new(requests.into_iter()));
        let mut tasks = Vec::new();
        for _ in 0..a.concurrency.max(1) {
            let (client, queue, tally, bar, url) =
                (client.clone(), queue.clone(), tally.clone(), bar.clone(), a.url.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let next = queue.lock().map(|mut q| q.next()).ok().flatten();
                    let Some(req) = next else { break };
                    let mut r = client.post(&url).header("content-type", "application/json").body(req.body);
                    for (k, v) in &req.headers {
                        r = r.header(k, v);
                    }
                    tally.sent.fetch_add(1, Ordering::Relaxed);
                    match r.send().await {
                        Ok(resp) if resp.status().as_u16() == 202 => {
                            let status = resp.json::<serde_json::Value>().await.ok();
                            let slot = match status.as_ref().and_then(|s| s["status"].as_str()) {
                                Some("ignored") => {
                                    let why = status.as_ref().and_then(|s| s["reason"].as_str());
                                    Tally::note(&tally.ignored_reason, why);
                                    &tally.ignored
                                }
                                Some("duplicate") => &tally.duplicates,
                                _ => &tally.accepted,
                            };
                            slot.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(resp) => {
                            let code = resp.status().as_u16();
                            let body = resp.json::<serde_json::Value>().await.ok();
                            let message = body.as_ref().and_then(|b| b["message"].as_str()).unwrap_or_default();
                            Tally::note(&tally.rejected_reason, Some(&format!("{code} {message}")));
                            tally.rejected.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            tally.errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    bar.inc(1);
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    eprintln!(
        "sent {}  accepted {}  ignored {}  duplicates {}  rejected {}  errors {}  rate {:.0}/s",
        get(&tally.sent),
        get(&tally.accepted),
        get(&tally.ignored),
        get(&tally.duplicates),
        get(&tally.rejected),
        get(&tally.errors),
        get(&tally.sent) as f64 / secs.max(1e-9),
    );
    for (what, slot) in [("ignored", &tally.ignored_reason), ("rejected", &tally.rejected_reason)] {
        if let Some(why) = slot.lock().ok().and_then(|s| s.clone()) {
            eprintln!("{what}: {why}");
        }
    }
    if get(&tally.rejected) + get(&tally.errors) > 0 {
        Err("some requests were rejected or failed".into())
    } else {
        Ok(())
    }
}
