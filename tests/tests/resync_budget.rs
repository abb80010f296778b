//! The rate budget is shared by live events and resync, live events first: while a resync keeps several
//! calls waiting for the budget, a live event's call is granted the next free slot, ahead of every
//! resync call that was waiting. The integration is built with the builder API (`OnResync::new`), the
//! budget set as `OCEAN__RATE_LIMIT__*` set it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use ocean::testing::TestIntegration;
use ocean::{
    Batches, Context, OnResync, Processor, ProcessorError, ResourceConfig, WebhookEvent, WebhookEventRawResults,
    WebhookProcessor,
};
use serde_json::json;

/// What happened, in order: `r` a resync call granted, `w` a live call waiting, `l` a live call granted.
type Log = Arc<Mutex<Vec<char>>>;

struct Live {
    ctx: Context,
    log: Log,
}

impl WebhookProcessor for Live {
    async fn get_matching_kinds(&self, _e: &WebhookEvent) -> Vec<String> {
        vec!["item".into()]
    }

    async fn handle_event(
        &self,
        e: &WebhookEvent,
        _r: &ResourceConfig,
    ) -> Result<WebhookEventRawResults, ProcessorError> {
        self.log.lock().unwrap().push('w');
        self.ctx.rate_limiter().acquire().await;
        self.log.lock().unwrap().push('l');
        Ok(WebhookEventRawResults::upsert([e.payload.clone()]))
    }
}

/// Eight listers at once, each making 8 calls through the budget.
fn resync(log: Log) -> OnResync {
    OnResync::new("item", move |ctx: Context, _r: ResourceConfig, out: Batches| {
        let log = log.clone();
        async move {
            let lister = |n: u32| {
                let (ctx, log, out) = (ctx.clone(), log.clone(), out.clone());
                async move {
                    for i in 0..8 {
                        ctx.rate_limiter().acquire().await;
                        log.lock().unwrap().push('r');
                        out.send(vec![json!({"id": n * 100 + i, "title": "listed"})]).await?;
                    }
                    Ok::<(), ProcessorError>(())
                }
            };
            join_all((0..8).map(lister)).await.into_iter().collect::<Result<Vec<()>, _>>().map(|_| ())
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_calls_go_ahead_of_waiting_resync_calls() {
    let log: Log = Arc::default();
    let live_log = log.clone();
    let live = Processor::new("/live", move |ctx| Ok(Live { ctx: ctx.clone(), log: live_log.clone() })).no_auth();
    let integration = ocean::Integration::new("budget").processor(live).on_resync(resync(log.clone()));
    let it = TestIntegration::builder(integration)
        .mapping(ocean_tests::ITEM_MAPPING)
        .admin_token("admin")
        .resync_on_start(false)
        .rate_limit(25.0, 1)
        .start()
        .await
        .unwrap();
    let started = it.resync(None).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while log.lock().unwrap().iter().filter(|c| **c == 'r').count() < 8 {
        assert!(Instant::now() < deadline, "the resync made no calls");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let r = it.post("/live", br#"{"id": 1, "title": "live"}"#, &[]).await;
    assert_eq!(r.status(), 202);
    let report = it.wait_resync(started["id"].as_str().unwrap(), Duration::from_secs(30)).await.unwrap();
    assert_eq!(report["status"], "completed", "{report}");
    assert!(it.wait_idle(Duration::from_secs(10)).await);
    let log = log.lock().unwrap().clone();
    let (w, l) = (log.iter().position(|c| *c == 'w').unwrap(), log.iter().position(|c| *c == 'l').unwrap());
    // Eight resync calls were waiting when the live one arrived; at most the one being granted at that
    // instant goes before it.
    let between = log[w..l].iter().filter(|c| **c == 'r').count();
    assert!(between <= 1, "{between} resync calls went ahead of the live one: {}", log.iter().collect::<String>());
    assert_eq!(log.iter().filter(|c| **c == 'r').count(), 64);
    it.shutdown().await;
}
