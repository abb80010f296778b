//! The floor of a durable intake on this machine: an actix-web handler that does only what acknowledging
//! a verified event durably cannot skip, and nothing a product needs besides. It verifies the GitHub
//! signature with ocean's verifier, checks that the body is JSON in UTF-8, and answers 202 once the body
//! is written to a log shared by every request in flight and synced (`fdatasync`) with them: one writer
//! thread takes whatever requests are waiting, writes them in one call and syncs once. No delivery ids,
//! no group keys, no records or checksums, no metrics, no logs, no processing: the ratio of the example's
//! intake to this one is how much of the machine the product's own work takes, and this one's ratio to
//! the ceiling is the most any durable intake can reach here.
//!
//! Without a log directory it verifies and checks only, and answers 202 at once: what is left of the
//! machine once the two checks that no intake may skip are done, before anything is made durable.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::SystemTime;

use ocean::Headers;
use ocean::actix_web::dev::ServerHandle;
use ocean::actix_web::web::{self, Bytes};
use ocean::actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use ocean::auth::Verifier;
use serde::de::IgnoredAny;
use tokio::sync::oneshot;

use crate::payloads::SECRET;

/// The log written over, preallocated and synced first (a sync then flushes data alone, as the queue's
/// recycled segments do).
const LOG_BYTES: u64 = 256 * 1024 * 1024;

/// A body to make durable, and who waits for it.
type Pending = (Bytes, oneshot::Sender<bool>);

struct Floor {
    verifier: Verifier,
    /// The log's writer; none when the floor only verifies and checks.
    log: Option<mpsc::Sender<Pending>>,
}

/// Starts the floor receiver on loopback, its log in `log_dir` (removed when the writer stops) or
/// without a log, served by this process's runtime (call it from within one); its URL and the handle
/// that stops it.
pub(crate) fn floor_handler(log_dir: Option<&Path>) -> Result<(String, ServerHandle), String> {
    let verifier = ocean::auth::github()
        .build_verifier(Some(&serde_json::json!(SECRET)))?
        .ok_or("the floor's verifier has no secret")?;
    let log = match log_dir {
        Some(dir) => {
            let path = dir.join(format!("ocean-bench-floor-{}-{}", std::process::id(), crate::example::free_port()));
            let file = crate::disk::preallocated(&path, LOG_BYTES)?;
            let (tx, rx) = mpsc::channel::<Pending>();
            std::thread::Builder::new()
                .name("floor-log".into())
                .spawn(move || write_log(file, path, rx))
                .map_err(|e| e.to_string())?;
            Some(tx)
        }
        None => None,
    };
    let floor = web::Data::new(Floor { verifier, log });
    let server = HttpServer::new(move || App::new().app_data(floor.clone()).default_service(web::to(receive)))
        .bind(("127.0.0.1", 0))
        .map_err(|e| e.to_string())?;
    let addr = server.addrs()[0];
    let server = server.disable_signals().run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok((format!("http://{addr}/"), handle))
}

async fn receive(req: HttpRequest, body: Bytes, floor: web::Data<Floor>) -> HttpResponse {
    let headers = Headers::from_pairs(req.headers().iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))));
    if floor.verifier.verify(&body, &headers, SystemTime::now()).is_err() {
        return HttpResponse::Unauthorized().finish();
    }
    let json = simdutf8::basic::from_utf8(&body).ok().and_then(|s| serde_json::from_str::<IgnoredAny>(s).ok());
    if json.is_none() {
        return HttpResponse::BadRequest().finish();
    }
    let Some(log) = &floor.log else { return HttpResponse::Accepted().finish() };
    let (tx, rx) = oneshot::channel();
    if log.send((body, tx)).is_err() {
        return HttpResponse::ServiceUnavailable().finish();
    }
    match rx.await {
        Ok(true) => HttpResponse::Accepted().finish(),
        _ => HttpResponse::ServiceUnavailable().finish(),
    }
}

/// The writer: waits for a body, takes every other one already waiting, writes them in one call at the
/// log's end (wrapping to its start), syncs, and answers them all.
fn write_log(file: File, path: PathBuf, rx: mpsc::Receiver<Pending>) {
    let (mut at, mut buf, mut waiting) = (0u64, Vec::new(), Vec::new());
    while let Ok(first) = rx.recv() {
        waiting.push(first);
        waiting.extend(rx.try_iter());
        buf.clear();
        for (body, _) in &waiting {
            buf.extend_from_slice(body);
        }
        if at + buf.len() as u64 > LOG_BYTES {
            at = 0;
        }
        let ok = file.write_all_at(&buf, at).and_then(|()| file.sync_data()).is_ok();
        at += buf.len() as u64;
        for (_, reply) in waiting.drain(..) {
            let _ = reply.send(ok);
        }
    }
    let _ = std::fs::remove_file(path);
}
