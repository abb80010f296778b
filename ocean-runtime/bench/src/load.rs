//! The load generator of `ocean bench`: keep-alive HTTP/1.1 connections driven through hyper's client
//! connection (no pool, no per-request work beyond the headers), over a ring of signed GitHub events built
//! before the clock starts, so that the generator spends the shared cores on sending, not on building and
//! signing payloads. Event `n` carries body `n % RING` (issue id `n % RING`) and delivery id `bench-{n}`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{SendRequest, handshake};
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper_util::rt::TokioIo;
use ocean::actix_web::web::Bytes;

use crate::payloads::Payloads;

/// Distinct events in the ring.
const RING: u64 = 4096;

/// Signed events, built once.
pub(crate) struct Ring {
    events: Vec<(Bytes, HeaderValue)>,
}

impl Ring {
    pub(crate) fn new(p: &Payloads) -> Self {
        let events = (0..RING)
            .map(|n| {
                let (body, sig, _) = p.event(n);
                (Bytes::from(body), HeaderValue::from_str(&sig).unwrap_or(HeaderValue::from_static("")))
            })
            .collect();
        Self { events }
    }

    fn get(&self, n: u64) -> &(Bytes, HeaderValue) {
        &self.events[(n % RING) as usize]
    }
}

/// How long a load lasts.
#[derive(Clone, Copy)]
pub(crate) enum Until {
    /// For this long.
    Time(Duration),
    /// Until this many events were sent.
    Count(u64),
}

/// What a load achieved.
pub(crate) struct Load {
    pub(crate) sent: u64,
    pub(crate) ok: u64,
    pub(crate) secs: f64,
    pub(crate) latencies_ms: Vec<f64>,
}

type Conn = SendRequest<Full<Bytes>>;

async fn connect(host: &str, port: u16) -> Option<Conn> {
    let stream = tokio::net::TcpStream::connect((host, port)).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (sender, conn) = handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(conn);
    Some(sender)
}

/// Sends events from `first` to `url` on `connections` connections until `until`, at `rate` per second
/// if set (open loop: each event is due at its own time).
pub(crate) async fn load(
    url: &str,
    ring: &Arc<Ring>,
    first: u64,
    connections: usize,
    until: Until,
    rate: Option<f64>,
) -> Load {
    let uri: hyper::Uri = url.parse().unwrap_or_default();
    let host = uri.host().unwrap_or("127.0.0.1").to_owned();
    let port = uri.port_u16().unwrap_or(80);
    let path = uri.path().to_owned();
    let authority = HeaderValue::from_str(&format!("{host}:{port}")).unwrap_or(HeaderValue::from_static(""));
    let next = Arc::new(AtomicU64::new(first));
    let ok = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (next, ok, stop, ring) = (next.clone(), ok.clone(), stop.clone(), ring.clone());
        let (host, path, authority) = (host.clone(), path.clone(), authority.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut conn: Option<Conn> = None;
            while !stop.load(Ordering::Relaxed) {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if let Until::Count(c) = until
                    && n >= first + c
                {
                    break;
                }
                if let Some(r) = rate {
                    let due = start + Duration::from_secs_f64((n - first) as f64 / r);
                    tokio::time::sleep_until(due.into()).await;
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                let t = Instant::now();
                if conn.is_none() {
                    conn = connect(&host, port).await;
                }
                let Some(sender) = conn.as_mut() else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let (body, sig) = ring.get(n);
                let req = hyper::Request::post(path.as_str())
                    .header(HOST, authority.clone())
                    .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                    .header("x-github-event", HeaderValue::from_static("issues"))
                    .header("x-github-delivery", format!("bench-{n}"))
                    .header("x-hub-signature-256", sig.clone())
                    .body(Full::new(body.clone()));
                let Ok(req) = req else { continue };
                let sent = match sender.ready().await {
                    Ok(()) => sender.send_request(req).await,
                    Err(e) => Err(e),
                };
                match sent {
                    Ok(resp) => {
                        let success = resp.status().is_success();
                        if resp.into_body().collect().await.is_err() {
                            conn = None;
                        }
                        if success {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(_) => conn = None,
                }
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        }));
    }
    if let Until::Time(d) = until {
        tokio::time::sleep(d).await;
        stop.store(true, Ordering::Relaxed);
    }
    let mut latencies_ms = Vec::new();
    for t in tasks {
        latencies_ms.extend(t.await.unwrap_or_default());
    }
    let secs = start.elapsed().as_secs_f64();
    let sent = next.load(Ordering::Relaxed) - first;
    let sent = if let Until::Count(c) = until { sent.min(c) } else { sent };
    Load { sent, ok: ok.load(Ordering::Relaxed), secs, latencies_ms }
}
