use ocean::{ProcessorError, ResourceConfig, WebhookEvent, WebhookEventRawResults};

#[derive(Default)]
struct Issues;

#[ocean::webhook_processor(
    path = "/webhook/{source}",
    kinds = ["issue", "comment"],
    auth = github(secret = "webhook_secret"),
    group_by = ".issue.id",
    dedup = github,
    max_retries = 5,
    initial_retry_delay = 0.5,
    max_retry_delay = 10,
    exponential_base = 3.0,
)]
impl Issues {
    async fn authenticate(&self, _e: &WebhookEvent) -> Result<(), ocean::AuthError> {
        Ok(())
    }
    async fn handle_event(&self, _e: &WebhookEvent, _r: &ResourceConfig) -> Result<WebhookEventRawResults, ProcessorError> {
        Ok(WebhookEventRawResults::empty())
    }
}

fn always(_e: &WebhookEvent) -> bool {
    true
}

#[ocean::webhook_processor(path = "/webhook", kinds = ["project"], auth = none, filter = always)]
async fn projects(_e: &WebhookEvent, _r: &ResourceConfig) -> Result<WebhookEventRawResults, ProcessorError> {
    Ok(WebhookEventRawResults::empty())
}

#[ocean::on_start]
async fn hello(ctx: ocean::Context) -> Result<(), String> {
    let _ = ctx.base_url();
    Ok(())
}

#[ocean::route(post, "/legacy")]
async fn legacy(body: ocean::actix_web::web::Json<serde_json::Value>) -> ocean::actix_web::HttpResponse {
    let _ = ocean::register_raw("issue", vec![body.into_inner()]).await;
    ocean::actix_web::HttpResponse::Ok().finish()
}

fn main() {
    use ocean::WebhookProcessor as _;
    assert_eq!(Issues.retry_policy().max_retries, 5);
}
