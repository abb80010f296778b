//! `ocean send`: POST payloads with the provider's headers and a valid signature, with a progress bar and
//! a summary.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use base64::Engine;
use ocean::auth::{Algorithm, sign};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Provider {
    /// `X-GitHub-Event` (from the folder name), `X-GitHub-Delivery`, `X-Hub-Signature-256`.
    Github,
    /// `X-Gitlab-Event`, `X-Gitlab-Token`.
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

struct Request {
    body: Vec<u8>,
    headers: Vec<(String, String)>,
}

fn prepare(a: &Args, file: &Path) -> Result<Request, String> {
    let raw = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let value: serde_json::Value = serde_json::from_slice(&raw).map_err(|e| format!("{}: {e}", file.display()))?;
    let body = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    let folder = file.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
    let event = a.event.clone().or(folder).unwrap_or_default();
    let id = uuid::Uuid::new_v4().to_string();
    let headers = match a.provider {
        Provider::Github => {
            let sig = hex::encode(sign(Algorithm::Sha256, a.secret.as_bytes(), &[&body]));
            vec![
                ("x-github-event".into(), event),
                ("x-github-delivery".into(), id),
                ("x-hub-signature-256".into(), format!("sha256={sig}")),
            ]
        }
        Provider::Gitlab => vec![("x-gitlab-event".into(), event), ("x-gitlab-token".into(), a.secret.clone())],
        Provider::Standard => {
            let key = base64::engine::general_purpose::STANDARD
                .decode(a.secret.trim_start_matches("whsec_"))
                .map_err(|_| "a Standard Webhooks secret is base64 after `whsec_`".to_owned())?;
            let ts = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
                .to_string();
            let mac = sign(Algorithm::Sha256, &key, &[id.as_bytes(), b".", ts.as_bytes(), b".", &body]);
            let sig = base64::engine::general_purpose::STANDARD.encode(mac);
            vec![
                ("webhook-id".into(), id),
                ("webhook-timestamp".into(), ts),
                ("webhook-signature".into(), format!("v1,{sig}")),
            ]
        }
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
                                Some("ignored") => &tally.ignored,
                                Some("duplicate") => &tally.duplicates,
                                _ => &tally.accepted,
                            };
                            slot.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {
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
    if get(&tally.rejected) + get(&tally.errors) > 0 {
        Err("some requests were rejected or failed".into())
    } else {
        Ok(())
    }
}
