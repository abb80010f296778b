//! `ocean dlq list|show|replay|delete`: the dead-letter store of a running integration, over its admin API.

use serde_json::Value;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The integration's base URL (path prefix included).
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    url: String,
    /// The admin token.
    #[arg(long, env = "OCEAN__ADMIN__TOKEN", hide_env_values = true)]
    token: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// List the dead letters (id, trace id, path, attempts, error).
    List,
    /// Print one dead letter as JSON.
    Show { id: u64 },
    /// Re-enqueue one dead letter at the tail of its group.
    Replay { id: u64 },
    /// Delete one dead letter.
    Delete { id: u64 },
}

pub(crate) fn run(a: Args) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let client = reqwest::Client::new();
        let base = format!("{}/admin/dlq", a.url.trim_end_matches('/'));
        let (method, url) = match &a.command {
            Command::List => (reqwest::Method::GET, base),
            Command::Show { id } => (reqwest::Method::GET, format!("{base}/{id}")),
            Command::Replay { id } => (reqwest::Method::POST, format!("{base}/{id}/replay")),
            Command::Delete { id } => (reqwest::Method::DELETE, format!("{base}/{id}")),
        };
        let resp = client.request(method, &url).bearer_auth(&a.token).send().await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("{status}: {}", body["message"].as_str().unwrap_or("request failed")));
        }
        match a.command {
            Command::List => {
                let items = body.as_array().cloned().unwrap_or_default();
                for d in &items {
                    let error: String = d["error"].as_str().unwrap_or_default().chars().take(100).collect();
                    println!(
                        "{}\t{}\t{}\tattempts={}\t{error}",
                        d["id"],
                        d["trace_id"].as_str().unwrap_or_default(),
                        d["path"].as_str().unwrap_or_default(),
                        d["attempts"]
                    );
                }
                eprintln!("{} dead letter(s)", items.len());
            }
            _ => println!("{}", serde_json::to_string_pretty(&body).unwrap_or_default()),
        }
        Ok(())
    })
}
