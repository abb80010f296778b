//! `ocean-bench load --url <url>`: the bench's load generator alone, against a server started by hand
//! (under `perf record`, say), so that a profile shows the same load the figures are measured with; or,
//! with `--bare`, against the bench's bare handler in this process (the ceiling of the same measure), or
//! with `--floor`, against its floor receiver (the least a durable intake must do, `crate::floor`).

use std::sync::Arc;
use std::time::Duration;

use crate::load::{Ring, Until, load};
use crate::payloads::Payloads;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Where to send the signed GitHub events (the example's webhook path).
    #[arg(long, required_unless_present_any = ["bare", "floor", "floor_no_log"])]
    url: Option<String>,
    /// Send to the bench's ceiling instead, a bare actix-web handler served by this process.
    #[arg(long, conflicts_with = "url")]
    bare: bool,
    /// Send to the bench's floor receiver instead (verify, check the JSON, append with fdatasync, 202),
    /// served by this process, its log in the temporary directory.
    #[arg(long, conflicts_with_all = ["url", "bare"])]
    floor: bool,
    /// Send to the floor receiver without its log: it verifies, checks the JSON and answers 202.
    #[arg(long, conflicts_with_all = ["url", "bare", "floor"])]
    floor_no_log: bool,
    /// How long to send.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Send this many events instead, however long it takes.
    #[arg(long, conflicts_with = "seconds")]
    events: Option<u64>,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// The number of the first event (delivery ids must differ from an earlier run's on the same state).
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Events per second over all connections (by default, as fast as the server answers); the intake
    /// latency's p50 and p99 are printed.
    #[arg(long)]
    rate: Option<f64>,
}

pub(crate) fn run(a: Args) -> Result<(), String> {
    let p = Payloads::load()?;
    let ring = Arc::new(Ring::new(&p));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let until = a.events.map_or(Until::Time(Duration::from_secs(a.seconds)), Until::Count);
    let mut l = rt.block_on(async {
        let (url, bare) = match a.url {
            Some(url) => (url, None),
            None if a.floor || a.floor_no_log => {
                let dir = std::env::temp_dir();
                let (url, handle) = crate::floor::floor_handler(a.floor.then_some(dir.as_path()))?;
                (url, Some(handle))
            }
            None => {
                let (url, handle) = crate::bench::bare_handler()?;
                (url, Some(handle))
            }
        };
        let l = load(&url, &ring, a.first, a.connections, until, a.rate).await;
        if let Some(h) = bare {
            h.stop(true).await;
        }
        Ok::<_, String>(l)
    })?;
    print!("sent {}, answered 2xx {}, {:.0} req/s", l.sent, l.ok, l.ok as f64 / l.secs);
    if a.rate.is_some() {
        let p50 = crate::bench::quantile(&mut l.latencies_ms, 0.5);
        let p99 = crate::bench::quantile(&mut l.latencies_ms, 0.99);
        print!(", intake p50 {p50:.2} ms, p99 {p99:.2} ms");
    }
    println!();
    Ok(())
}
