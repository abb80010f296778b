//! An integration written without macros: each processor implements `ocean::WebhookProcessor` by hand and
//! is registered with `ocean::Processor`; this is exactly what `#[ocean::webhook_processor]` expands to.
//! It serves GitHub's issues, pull requests and pushes with the GitHub example's mapping, the payload being
//! the source.
//!
//! Its resync of repositories is an `ocean::OnResync` built from a closure: what `#[ocean::on_resync]`
//! expands to.
//!
//! Run with `OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET=... cargo run -p example-macroless`.

use example_github::GithubApi;
use ocean::{
    Batches, Context, OnResync, Payload, Processor, ProcessorError, ResourceConfig, WebhookEvent,
    WebhookEventRawResults, WebhookProcessor,
};
use serde_json::Value;

/// One processor per GitHub event family: the event name, the payload field, the kind.
#[derive(Clone, Copy)]
pub struct GithubResource {
    events: &'static [&'static str],
    field: &'static str,
    kind: &'static str,
}

/// Adds `__repository`, read from the body without parsing the repository.
fn with_repository(mut item: Payload, payload: &Payload) -> Payload {
    if let Some(name @ Value::String(_)) = payload.value_at(&["repository", "name"]) {
        item.insert("__repository", name);
    }
    item
}

impl WebhookProcessor for GithubResource {
    async fn should_process_event(&self, event: &WebhookEvent) -> bool {
        event.header("x-github-event").is_some_and(|e| self.events.contains(&e))
            && event.payload[self.field].is_object()
    }

    async fn get_matching_kinds(&self, _event: &WebhookEvent) -> Vec<String> {
        vec![self.kind.to_owned()]
    }

    async fn handle_event(
        &self,
        event: &WebhookEvent,
        resource: &ResourceConfig,
    ) -> Result<WebhookEventRawResults, ProcessorError> {
        let Some(item) = event.payload.object(self.field) else { return Ok(WebhookEventRawResults::empty()) };
        let item = with_repository(item, &event.payload);
        let action = event.payload["action"].as_str().unwrap_or_default();
        let closed_unwanted = self.kind == "pull-request"
            && action == "closed"
            && !resource
                .selector
                .get("states")
                .and_then(Value::as_array)
                .is_some_and(|s| s.iter().any(|v| v == "closed"));
        if action == "deleted" || closed_unwanted {
            Ok(WebhookEventRawResults::delete([item]))
        } else {
            Ok(WebhookEventRawResults::upsert([item]))
        }
    }
}

fn processor(events: &'static [&'static str], field: &'static str, kind: &'static str, name: &str) -> Processor {
    let p = GithubResource { events, field, kind };
    Processor::new("/webhook", move |_| Ok(p))
        .name(name)
        .auth(ocean::auth::github().secret("webhook_secret"))
        .group_by(&format!(".{field}.id"))
}

/// Lists the organisation's repositories page by page, when `githubToken` and `githubOrganization` are set.
fn repositories() -> OnResync {
    OnResync::new("repository", |ctx: Context, _resource: ResourceConfig, out: Batches| async move {
        let (Some(api), Some(org)) = (GithubApi::from_context(&ctx), ctx.get_str("github_organization")) else {
            out.skip("resync needs githubToken and githubOrganization");
            return Ok(());
        };
        let mut next = Some(api.first_page(&format!("/orgs/{org}/repos?per_page=100")));
        while let Some(url) = next {
            let (repos, after) = api.page(&url).await?;
            out.send(repos).await?;
            next = after;
        }
        Ok::<(), ProcessorError>(())
    })
    .name("repositories")
}

/// The integration, assembled with the builder API.
pub fn integration() -> ocean::Integration {
    ocean::Integration::new("github-macroless")
        .spec(include_str!("../../github/.port/spec.yaml"))
        .default_mapping(include_str!("../../github/.port/resources/port-app-config.yml"))
        .processor(processor(&["issues"], "issue", "issue", "issues"))
        .processor(processor(&["pull_request"], "pull_request", "pull-request", "pull-requests"))
        .processor(processor(&["push", "repository"], "repository", "repository", "repositories"))
        .on_resync(repositories())
}
