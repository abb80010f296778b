//! Wake-ups: one connection per replica listens on `ocean_events`, which intake notifies at each commit,
//! and reconnects when it is lost. Claimers also poll, so a lost notification delays work, never loses it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;

use super::Database;

/// The channel intake notifies (named in `queue::shared::append`).
pub(crate) const CHANNEL: &str = "ocean_events";

/// Wakes `wake` at each notification until `stop`, and once after each (re)connection.
pub(crate) async fn listen(db: Arc<Database>, wake: Arc<Notify>, stop: CancellationToken) {
    loop {
        if let Ok((client, mut messages)) = db.connect_one().await {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let driver = tokio::spawn(async move {
                while let Some(Ok(m)) = messages.next().await {
                    if matches!(m, AsyncMessage::Notification(_)) && tx.send(()).is_err() {
                        return;
                    }
                }
            });
            if client.batch_execute(&format!("LISTEN {CHANNEL}")).await.is_ok() {
                // Whatever was notified while not listening is claimed now.
                wake.notify_one();
                loop {
                    tokio::select! {
                        m = rx.recv() => match m {
                            Some(()) => wake.notify_one(),
                            None => break,
                        },
                        _ = stop.cancelled() => {
                            driver.abort();
                            return;
                        }
                    }
                }
            }
            driver.abort();
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.cancelled() => return,
        }
    }
}
