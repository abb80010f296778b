//! `ocean resync [--kind K]`: starts a resync of a running integration over its admin API (or follows the
//! one in progress), shows its progress kind by kind, and prints what it did.

use std::time::Duration;

use serde_json::Value;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The integration's base URL (path prefix included).
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    url: String,
    /// The admin token.
    #[arg(long, env = "OCEAN__ADMIN__TOKEN", hide_env_values = true)]
    token: String,
    /// Resync this kind only (default: every kind of the mapping).
    #[arg(long)]
    kind: Option<String>,
    /// Start the run and return at once, printing its id.
    #[arg(long)]
    no_wait: bool,
}

/// One line per kind: `issue  running  items 120  upserted 118  deleted 0  failed 2`.
fn line(k: &Value) -> String {
    let mut s = format!(
        "{:<20} {:<10} items {:<7} upserted {:<7} deleted {:<5} failed {}",
        k["kind"].as_str().unwrap_or_default(),
        k["status"].as_str().unwrap_or_default(),
        k["items"],
        k["upserted"],
        k["deleted"],
        k["failed"]
    );
    if k["kept_for_live_events"].as_u64().unwrap_or(0) > 0 {
        s.push_str(&format!("  kept for live events {}", k["kept_for_live_events"]));
    }
    if let Some(note) = k["note"].as_str() {
        s.push_str(&format!("  ({note})"));
    }
    s
}

async fn call(client: &reqwest::Client, a: &Args, method: reqwest::Method) -> Result<Value, String> {
    let url = format!("{}/admin/resync", a.url.trim_end_matches('/'));
    let mut req = client.request(method.clone(), &url).bearer_auth(&a.token);
    if let Some(k) = a.kind.as_deref().filter(|_| method == reqwest::Method::POST) {
        req = req.query(&[("kind", k)]);
    }
    let resp = req.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!("{status}: {}", body["message"].as_str().unwrap_or("request failed")));
    }
    Ok(body)
}

pub(crate) fn run(a: Args) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let client = reqwest::Client::new();
        let started = call(&client, &a, reqwest::Method::POST).await?;
        let id = started["id"].as_str().unwrap_or_default().to_owned();
        if started["status"] == "running" {
            eprintln!("a resync is already in progress: {id}; following it");
        } else {
            eprintln!("resync {id} started");
        }
        if a.no_wait {
            println!("{id}");
            return Ok(());
        }
        let bars = indicatif::MultiProgress::new();
        let style = indicatif::ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
        let mut lines: Vec<indicatif::ProgressBar> = Vec::new();
        let report = loop {
            let status = call(&client, &a, reqwest::Method::GET).await?;
            if status["last"]["id"] == id.as_str() {
                break status["last"].clone();
            }
            let kinds = status["current"]["kinds"].as_array().cloned().unwrap_or_default();
            while lines.len() < kinds.len() {
                let bar = bars.add(indicatif::ProgressBar::new_spinner().with_style(style.clone()));
                bar.enable_steady_tick(Duration::from_millis(120));
                lines.push(bar);
            }
            for (bar, k) in lines.iter().zip(&kinds) {
                bar.set_message(line(k));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        for bar in &lines {
            bar.finish_and_clear();
        }
        for k in report["kinds"].as_array().into_iter().flatten() {
            println!("{}", line(k));
        }
        for note in report["notes"].as_array().into_iter().flatten() {
            println!("note: {}", note.as_str().unwrap_or_default());
        }
        match report["status"].as_str() {
            Some("completed") => {
                eprintln!("resync {id} completed");
                Ok(())
            }
            other => Err(format!("resync {id} {}", other.unwrap_or("ended"))),
        }
    })
}
