//! `ocean-bench load --url <url>`: the bench's load generator alone, against a server started by hand
//! (under `perf record`, say), so that a profile shows the same load the figures are measured with.

use std::sync::Arc;
use std::time::Duration;

use crate::load::{Ring, Until, load};
use crate::payloads::Payloads;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Where to send the signed GitHub events (the example's webhook path).
    #[arg(long)]
    url: String,
    /// How long to send.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// The number of the first event (delivery ids must differ from an earlier run's on the same state).
    #[arg(long, default_value_t = 0)]
    first: u64,
}

pub(crate) fn run(a: Args) -> Result<(), String> {
    let p = Payloads::load()?;
    let ring = Arc::new(Ring::new(&p));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let l = rt.block_on(load(&a.url, &ring, a.first, a.connections, Until::Time(Duration::from_secs(a.seconds)), None));
    println!("sent {}, answered 2xx {}, {:.0} req/s", l.sent, l.ok, l.ok as f64 / l.secs);
    Ok(())
}
