use ocean::{ProcessorError, ResourceConfig, WebhookEvent, WebhookEventRawResults};

#[ocean::webhook_processor(path = "/webhook", kinds = ["issue"], auth = none)]
fn issues(_e: &WebhookEvent, _r: &ResourceConfig) -> Result<WebhookEventRawResults, ProcessorError> {
    Ok(WebhookEventRawResults::empty())
}

fn main() {}
