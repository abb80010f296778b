use ocean::{ProcessorError, ResourceConfig, WebhookEvent, WebhookEventRawResults};

#[ocean::webhook_processor(path = "/webhook", kinds = ["issue"], auth = none)]
async fn issues(_e: &WebhookEvent) -> Result<WebhookEventRawResults, ProcessorError> {
    Ok(WebhookEventRawResults::empty())
}

fn main() {}
