use ocean::{ProcessorError, ResourceConfig, WebhookEvent, WebhookEventRawResults};

#[derive(Default)]
struct P;

#[ocean::webhook_processor(path = "/gitlab", kinds = ["issue"], auth = gitlab(secret = "gitlab_token", header = "X-Token"))]
impl P {
    async fn handle_event(&self, _e: &WebhookEvent, _r: &ResourceConfig) -> Result<WebhookEventRawResults, ProcessorError> {
        Ok(WebhookEventRawResults::empty())
    }
}

fn main() {}
