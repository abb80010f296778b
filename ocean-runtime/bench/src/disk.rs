//! The disk's answer to what the durable queue asks of it: a write of a batch, then `fdatasync`. Intake
//! answers an event once its batch is synced, so with `connections` requests in flight the durable
//! intake cannot pass `connections` divided by the time of a sync. On virtual machines that time is not
//! a constant (it can move between a fraction of a millisecond and a scheduler tick within minutes), so
//! the report gives it next to the figures it bounds.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The size of one write: about ten events of the load, a batch at moderate load.
pub(crate) const CHUNK: usize = 128 * 1024;
/// The file written over (preallocated and synced first, so that a sync flushes data alone, as the
/// queue's recycled segments do).
const FILE: u64 = 32 * 1024 * 1024;

/// Writes `CHUNK`s one after the other for `d`, each followed by `fdatasync`, in a file of `dir`; gives
/// the number of syncs, syncs per second, and their p50 and p99 in ms.
pub(crate) fn sync_probe(dir: &Path, d: Duration) -> Result<Value, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("ocean-bench-sync-{}", std::process::id()));
    let result = probe(&path, d);
    let _ = std::fs::remove_file(&path);
    result
}

/// A file of `bytes` zeros at `path`, synced: written over, a sync of it flushes data alone, as the
/// queue's recycled segments do.
pub(crate) fn preallocated(path: &Path, bytes: u64) -> Result<std::fs::File, String> {
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let f = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path).map_err(err)?;
    let zeros = vec![0u8; 1024 * 1024];
    for i in 0..bytes.div_ceil(zeros.len() as u64) {
        f.write_all_at(&zeros, i * zeros.len() as u64).map_err(err)?;
    }
    f.sync_all().map_err(err)?;
    Ok(f)
}

fn probe(path: &Path, d: Duration) -> Result<Value, String> {
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let f = preallocated(path, FILE)?;
    let chunk = vec![b'x'; CHUNK];
    let (started, mut at, mut ms) = (Instant::now(), 0u64, Vec::new());
    while started.elapsed() < d {
        let t = Instant::now();
        f.write_all_at(&chunk, at).map_err(err)?;
        f.sync_data().map_err(err)?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        at = (at + CHUNK as u64) % (FILE - CHUNK as u64);
    }
    let secs = started.elapsed().as_secs_f64();
    ms.sort_by(f64::total_cmp);
    let q = |p: f64| ms.get(((ms.len() as f64 * p) as usize).min(ms.len().saturating_sub(1))).copied().unwrap_or(0.0);
    let round = |x: f64| (x * 100.0).round() / 100.0;
    Ok(json!({
        "write_bytes": CHUNK,
        "syncs": ms.len(),
        "syncs_per_sec": (ms.len() as f64 / secs).round(),
        "p50_ms": round(q(0.5)),
        "p99_ms": round(q(0.99)),
    }))
}
