use ocean::{ProcessorError, ResourceConfig, WebhookEvent, WebhookEventRawResults};

#[ocean::webhook_processor(path = "/stripe", kinds = ["charge"], auth = stripe(secret = "stripe_secret", tolerance_secs = "five"))]
async fn charges(_e: &WebhookEvent, _r: &ResourceConfig) -> Result<WebhookEventRawResults, ProcessorError> {
    Ok(WebhookEventRawResults::empty())
}

#[ocean::webhook_processor(path = "/items", kinds = ["item"], auth = none, dedup = githb)]
async fn items(_e: &WebhookEvent, _r: &ResourceConfig) -> Result<WebhookEventRawResults, ProcessorError> {
    Ok(WebhookEventRawResults::empty())
}

fn main() {}
