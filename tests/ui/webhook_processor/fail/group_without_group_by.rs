use ocean::{ProcessorError, ResourceConfig, WebhookEvent, WebhookEventRawResults};

#[derive(Default)]
struct P;

#[ocean::webhook_processor(path = "/webhook", kinds = ["issue"], auth = github(secret = "webhook_secret"), group = "issue")]
impl P {
    async fn handle_event(&self, _e: &WebhookEvent, _r: &ResourceConfig) -> Result<WebhookEventRawResults, ProcessorError> {
        Ok(WebhookEventRawResults::empty())
    }
}

fn main() {}
