//! A running integration: its address, and the means to stop it cleanly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::error::Result;
use crate::http::Server;
use crate::runtime::Runtime;
use crate::sink::LocalCatalog;

/// A running integration: its address, and the means to stop it.
pub struct RunningIntegration {
    rt: Arc<Runtime>,
    catalog: Option<LocalCatalog>,
    server: Server,
    workers: JoinSet<()>,
    wait: Duration,
}

impl RunningIntegration {
    pub(crate) fn new(
        rt: Arc<Runtime>,
        catalog: Option<LocalCatalog>,
        server: Server,
        workers: JoinSet<()>,
        wait: Duration,
    ) -> Self {
        Self { rt, catalog, server, workers, wait }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The local catalog, when it is the sink.
    pub fn catalog(&self) -> Option<&LocalCatalog> {
        self.catalog.as_ref()
    }

    /// Events held by the queue, in flight included.
    pub fn queued(&self) -> usize {
        self.rt.queue.len()
    }

    /// The dead letters, oldest first, as the admin API lists them (`GET /admin/dlq`).
    pub async fn dead_letters(&self) -> Vec<serde_json::Value> {
        self.rt.queue.dead_letters().await.iter().filter_map(|d| serde_json::to_value(d).ok()).collect()
    }

    /// Waits for SIGINT or SIGTERM, then shuts down.
    pub async fn wait_for_signal(self) -> Result<()> {
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                _ = tokio::signal::ctrl_c() => info!("SIGINT received"),
                _ = term.recv() => info!("SIGTERM received"),
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await?;
        self.shutdown().await;
        Ok(())
    }

    /// Graceful stop: new events get 503, in-flight events get `OCEAN__MAX_WAIT_SECONDS_BEFORE_SHUTDOWN`
    /// to finish, the rest is cancelled and reported. Returns the number of events left unprocessed.
    pub async fn shutdown(mut self) -> usize {
        let rt = self.rt.clone();
        rt.lifecycle.drain();
        rt.queue.drain().await;
        let drained = tokio::time::timeout(self.wait, async {
            // Requests admitted before the drain are answered first: what they acknowledge is processed
            // before the queue closes.
            while rt.lifecycle.admitted() > 0 || !rt.queue.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .is_ok();
        rt.queue.close();
        if !drained {
            rt.lifecycle.hard_stop.cancel();
        }
        while self.workers.join_next().await.is_some() {}
        if let Some(c) = &self.catalog {
            // The last commits are made durable, and the events they hold leave the queue.
            c.settle().await;
        }
        // Background tasks (the mapping refresh) end with the integration.
        rt.lifecycle.hard_stop.cancel();
        let left = rt.queue.len();
        if left > 0 {
            warn!(unprocessed = left, "shutdown: events left unprocessed");
        } else {
            info!("shutdown: every accepted event was processed");
        }
        self.server.handle.stop(true).await;
        let _ = (&mut self.server.task).await;
        left
    }
}
