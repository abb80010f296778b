use ocean::{ProcessorError, ResourceConfig, WebhookEvent, WebhookEventRawResults};

#[derive(Default)]
struct P;

#[ocean::webhook_processor(path = "/webhook", kinds = ["issue"], auth = none)]
impl P {
    async fn should_process_event(&self, _e: &WebhookEvent) -> bool {
        true
    }
}

fn main() {}
