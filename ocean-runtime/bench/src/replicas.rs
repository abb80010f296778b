//! Section 6 of `ocean bench`: two replicas of the GitHub example sharing a private PostgreSQL (fsync and
//! synchronous commit on, as installed), the load generator's connections split between them. Intake is
//! events answered 202 per second; end to end is until both replicas together processed every one.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ocean_tests::postgres::{self, PgCluster};
use serde_json::{Value, json};

use crate::example::{free_port, metric, start_example_env};
use crate::load::{Ring, Until, load};

pub(crate) async fn two_replicas(
    bin: &Path,
    ring: &Arc<Ring>,
    client: &reqwest::Client,
    first: u64,
    connections: usize,
    d: Duration,
) -> Result<Value, String> {
    if !postgres::available() {
        eprintln!("postgres: skipped, PostgreSQL is not installed (apt-get install -y postgresql)");
        return Ok(json!({"skipped": "PostgreSQL is not installed"}));
    }
    let pg = PgCluster::start();
    let url = pg.database("bench");
    let env = [("OCEAN__POSTGRES__URL", url.as_str())];
    let mut replicas = Vec::new();
    for i in 0..2 {
        let dir = std::env::temp_dir().join(format!("ocean-bench-postgres-{i}-{}", free_port()));
        replicas.push(start_example_env(bin, "postgres", client, dir, &env).await?);
    }
    let half = (connections / 2).max(1);
    let started = Instant::now();
    let urls: Vec<String> = replicas.iter().map(|r| format!("{}/integration/webhook", r.base)).collect();
    let (a, b) = tokio::join!(
        load(&urls[0], ring, first, half, Until::Time(d), None),
        load(&urls[1], ring, first + 100_000_000, half, Until::Time(d), None),
    );
    let ok = a.ok + b.ok;
    let intake = ok as f64 / a.secs.max(b.secs);
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let mut done = 0.0;
        for r in &replicas {
            done += metric(client, &r.base, "ocean_events_processed_total").await;
        }
        if done >= ok as f64 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let e2e = ok as f64 / started.elapsed().as_secs_f64();
    eprintln!("postgres, 2 replicas: intake {intake:.0} req/s, end to end {e2e:.0} events/s");
    drop(replicas);
    Ok(json!({"replicas": 2, "events": ok, "intake_rps": intake.round(), "e2e_eps": e2e.round()}))
}
