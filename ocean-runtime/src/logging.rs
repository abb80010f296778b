//! The log subscriber of `Integration::run`: `RUST_LOG` as usual, with the HTTP stack's noise about
//! misbehaving clients kept out of the error log.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::{Level, Metadata};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How often a failing `accept` (for example "too many open files") is logged.
const ACCEPT_ERROR_INTERVAL: Duration = Duration::from_secs(60);

/// Decides which events of the HTTP stack reach the log.
///
/// - actix-http logs a client's malformed or oversized request, or a reset connection, as ERROR: the client
///   got its 4xx and the metrics count it, so those lines are kept out unless `RUST_LOG` asks for debug
///   output of `actix_http`;
/// - actix-server logs a failing `accept` every half second while it retries: once per minute here.
struct Noise {
    last_accept_error: Mutex<Option<Instant>>,
    /// `RUST_LOG` asks for actix-http's own debug output: let everything through.
    debug_http: bool,
}

impl Noise {
    fn allows(&self, meta: &Metadata<'_>) -> bool {
        if *meta.level() != Level::ERROR {
            return true;
        }
        let target = meta.target();
        if target.starts_with("actix_http") {
            return false;
        }
        if target.starts_with("actix_server::accept") {
            let mut last = self.last_accept_error.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if last.is_some_and(|t| now.duration_since(t) < ACCEPT_ERROR_INTERVAL) {
                return false;
            }
            *last = Some(now);
        }
        true
    }
}

impl<S> Filter<S> for Noise {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        self.debug_http || self.allows(meta)
    }

    /// Asked again for every event: the answer for accept errors changes with time.
    fn callsite_enabled(&self, _: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
}

/// Installs a `tracing` subscriber reading `RUST_LOG` (default `info`), once.
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let debug_http =
        std::env::var("RUST_LOG").is_ok_and(|v| v.contains("actix_http=debug") || v.contains("actix_http=trace"));
    let noise = Noise { last_accept_error: Mutex::new(None), debug_http };
    let layer = tracing_subscriber::fmt::layer().with_target(false).with_filter(noise);
    let _ = tracing_subscriber::registry().with(filter).with(layer).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn accept_errors_pass_once_per_interval_and_client_errors_not_at_all() {
        let out = Buffer::default();
        let writer = out.clone();
        let noise = Noise { last_accept_error: Mutex::new(None), debug_http: false };
        let layer = tracing_subscriber::fmt::layer().with_writer(move || writer.clone()).with_filter(noise);
        let subscriber = tracing_subscriber::registry().with(EnvFilter::new("info")).with(layer);
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..3 {
                tracing::error!(target: "actix_server::accept", "Error accepting connection: Too many open files");
                tracing::error!(target: "actix_http::h1::dispatcher", "stream error: request parse error");
            }
            tracing::error!(target: "ocean::worker", "a real error");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.matches("accepting connection").count(), 1, "{text}");
        assert!(!text.contains("stream error"), "{text}");
        assert!(text.contains("a real error"), "{text}");
    }
}
