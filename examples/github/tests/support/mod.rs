//! The example binary started as an operator starts it: a working directory (where `config.yaml` is
//! read), `OCEAN__*` variables, a free loopback port.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The running binary; killed and its directory removed on drop.
pub(crate) struct Binary {
    child: Child,
    dir: PathBuf,
    /// `http://127.0.0.1:<port>`.
    pub(crate) base: String,
    /// The listening port.
    pub(crate) port: u16,
    log: Option<PathBuf>,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Binary {
    /// Kills the binary (SIGKILL) and starts it again on the same directory with `envs`.
    pub(crate) fn restart(mut self, envs: &[(&str, &str)]) -> Binary {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut cmd = command(&self.dir, self.port, envs);
        self.child = cmd.stderr(Stdio::inherit()).spawn().unwrap();
        self
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the binary logged so far (when started with [`spawn_logged`]).
    pub(crate) fn log(&self) -> String {
        self.log.as_ref().map(|p| std::fs::read_to_string(p).expect("the log file")).unwrap_or_default()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn command(dir: &Path, port: u16, envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_example-github"));
    cmd.current_dir(dir)
        .env("OCEAN__HTTP__PORT", port.to_string())
        .env("OCEAN__STATE_DIR", dir.join("state"))
        .env("RUST_LOG", "error")
        .envs(envs.iter().copied())
        .stdout(Stdio::null());
    cmd
}

/// Starts the binary in `dir` with `envs`, its standard error inherited.
pub(crate) fn spawn(dir: &Path, envs: &[(&str, &str)]) -> Binary {
    let port = free_port();
    let child = command(dir, port, envs).stderr(Stdio::inherit()).spawn().unwrap();
    Binary { child, dir: dir.to_owned(), base: format!("http://127.0.0.1:{port}"), port, log: None }
}

/// Starts the binary in `dir` with `envs` under the shell's `ulimit -n files`, its log (standard output)
/// and standard error kept in a file that [`Binary::log`] reads.
pub(crate) fn spawn_logged(dir: &Path, envs: &[(&str, &str)], files: Option<u32>) -> Binary {
    let port = free_port();
    let log = dir.join("stderr.log");
    let mut cmd = command(dir, port, envs);
    if let Some(n) = files {
        let program = cmd.get_program().to_owned();
        let mut shell = Command::new("sh");
        shell.arg("-c").arg(format!("ulimit -n {n} && exec \"$0\"")).arg(program);
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                shell.env(k, v);
            }
        }
        shell.current_dir(dir);
        cmd = shell;
    }
    let file = std::fs::File::create(&log).unwrap();
    let child = cmd.stdout(file.try_clone().unwrap()).stderr(file).spawn().unwrap();
    Binary { child, dir: dir.to_owned(), base: format!("http://127.0.0.1:{port}"), port, log: Some(log) }
}

/// Waits until `/health/ready` answers 200.
pub(crate) async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if client.get(format!("{base}/health/ready")).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the example did not become ready");
}

/// POSTs a GitHub event signed with `secret` to `/integration/webhook`; the status and the JSON answer.
pub(crate) async fn send_github(
    client: &reqwest::Client,
    base: &str,
    event: &str,
    body: &[u8],
    delivery: &str,
    secret: &str,
) -> (u16, serde_json::Value) {
    try_send_github(client, base, event, body, delivery, secret).await.expect("request to the example")
}

/// [`send_github`], with the transport's error when the request got no answer (a replica down).
pub(crate) async fn try_send_github(
    client: &reqwest::Client,
    base: &str,
    event: &str,
    body: &[u8],
    delivery: &str,
    secret: &str,
) -> Result<(u16, serde_json::Value), reqwest::Error> {
    let sig = ocean::auth::sign(ocean::auth::Algorithm::Sha256, secret.as_bytes(), &[body]);
    let sig: String = sig.iter().map(|b| format!("{b:02x}")).collect();
    let r = client
        .post(format!("{base}/integration/webhook"))
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", format!("sha256={sig}"))
        .body(body.to_vec())
        .send()
        .await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await.unwrap_or(serde_json::Value::Null)))
}

/// Polls `f` every 50 ms until it gives a value, for at most 60 s.
pub(crate) async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within 60 s");
}

/// A histogram of `/metrics` text: its buckets (`le` bound and count), its count and its sum; no buckets and
/// zeros when it has no samples.
pub(crate) fn histogram(text: &str, name: &str) -> (Vec<(String, u64)>, u64, f64) {
    let value = |l: &str| l.rsplit(' ').next().unwrap().to_owned();
    let buckets = text
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{name}_bucket{{le=\"")))
        .map(|l| (l.split('"').next().unwrap().to_owned(), value(l).parse().unwrap()))
        .collect();
    let line = |suffix: &str| text.lines().find(|l| l.starts_with(&format!("{name}_{suffix} "))).map(value);
    let count = line("count").map_or(0, |c| c.parse().unwrap());
    let sum = line("sum").map_or(0.0, |s| s.parse().unwrap());
    (buckets, count, sum)
}
