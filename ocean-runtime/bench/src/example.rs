//! The GitHub example as a child process on loopback: built in release mode, started on a state
//! directory, read through its metrics.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::payloads::SECRET;

pub(crate) async fn metric(client: &reqwest::Client, base: &str, name: &str) -> f64 {
    let text = match client.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => return 0.0,
    };
    text.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

pub(crate) struct Example {
    pub(crate) child: Child,
    pub(crate) base: String,
    pub(crate) dir: PathBuf,
    /// Keep the state directory when dropped (restarts on the same state).
    pub(crate) keep: bool,
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_or(18000, |a| a.port())
}

pub(crate) async fn start_example(bin: &Path, backend: &str, client: &reqwest::Client) -> Result<Example, String> {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("ocean-bench-{backend}-{port}"));
    let _ = std::fs::remove_dir_all(&dir);
    start_example_in(bin, backend, client, dir).await
}

/// Starts the example on the given state directory (kept when the process is restarted).
pub(crate) async fn start_example_in(
    bin: &Path,
    backend: &str,
    client: &reqwest::Client,
    dir: PathBuf,
) -> Result<Example, String> {
    start_example_env(bin, backend, client, dir, &[]).await
}

/// Starts the example with extra environment variables (for example Port's credentials and address).
pub(crate) async fn start_example_env(
    bin: &Path,
    backend: &str,
    client: &reqwest::Client,
    dir: PathBuf,
    env: &[(&str, &str)],
) -> Result<Example, String> {
    let port = free_port();
    let child = Command::new(bin)
        .envs(env.iter().copied())
        .env("OCEAN__HTTP__PORT", port.to_string())
        .env("OCEAN__STATE_DIR", &dir)
        .env("OCEAN__QUEUE__BACKEND", backend)
        .env("OCEAN__QUEUE__CAPACITY", "1000000")
        .env("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", SECRET)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let ex = Example { child, base: format!("http://127.0.0.1:{port}"), dir, keep: false };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{}/health/ready", ex.base)).send().await
            && r.status().is_success()
        {
            return Ok(ex);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("the example did not become ready".into())
}

pub(crate) fn build_example() -> Result<PathBuf, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-p", "example-github"])
        .current_dir(&root)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("cargo build --release -p example-github failed".into());
    }
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target"));
    Ok(target.join("release/example-github"))
}
