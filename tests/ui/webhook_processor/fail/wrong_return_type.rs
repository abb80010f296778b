use ocean::{ProcessorError, ResourceConfig, WebhookEvent, WebhookEventRawResults};

#[ocean::webhook_processor(path = "/webhook", kinds = ["issue"], auth = none)]
async fn issues(_e: &WebhookEvent, _r: &ResourceConfig) -> Vec<serde_json::Value> {
    Vec::new()
}

fn main() {}
