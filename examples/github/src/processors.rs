//! The processors: one per GitHub event family, dispatched on `X-GitHub-Event` and `action`.

use ocean::{Context, Payload, ProcessorError, ResourceConfig, WebhookEvent, WebhookEventRawResults};
use serde_json::Value;

use crate::api::{GithubApi, api_path};

fn event_is(event: &WebhookEvent, name: &str) -> bool {
    event.header("x-github-event") == Some(name)
}

fn action(event: &WebhookEvent) -> &str {
    event.payload["action"].as_str().unwrap_or_default()
}

/// The object `field` of the payload, when the event has one: a part of the body that stays unparsed
/// until the mapping reads it, which then parses only the members its programs read. Processors decide
/// from the `X-GitHub-Event` header alone, so that intake never parses a body; a payload without the
/// object is ignored here, on a worker.
fn object(event: &WebhookEvent, field: &str) -> Option<Payload> {
    event.payload.object(field)
}

/// Adds `__repository` (the repository name), which the mapping relates entities to. The name is read
/// from the body, without parsing the repository.
fn with_repository(mut item: Payload, payload: &Payload) -> Payload {
    if let Some(name @ Value::String(_)) = payload.value_at(&["repository", "name"]) {
        item.insert("__repository", name);
    }
    item
}

/// The current state of `item`: refetched from the API when a token is configured (and tagged by `tag`,
/// as the payload's copy was), or the payload's copy itself. Gone from GitHub, it is deleted.
async fn current(
    api: &Option<GithubApi>,
    item: Payload,
    tag: impl FnOnce(Payload) -> Payload,
) -> Result<WebhookEventRawResults, ProcessorError> {
    match (api, api_path(&item)) {
        (Some(api), Some(path)) => match api.get(&path).await? {
            Some(fresh) => Ok(WebhookEventRawResults::upsert([tag(fresh.into())])),
            None => Ok(WebhookEventRawResults::delete([item])),
        },
        _ => Ok(WebhookEventRawResults::upsert([item])),
    }
}

/// Issues: opened, edited, closed, deleted, ...
pub(crate) struct Issues {
    api: Option<GithubApi>,
}

impl Issues {
    fn new(ctx: &Context) -> ocean::Result<Self> {
        Ok(Self { api: GithubApi::from_context(ctx) })
    }
}

#[ocean::webhook_processor(
    path = "/webhook",
    kinds = ["issue"],
    auth = github(secret = "webhook_secret"),
    group_by = ".issue.id",
    init = Issues::new
)]
impl Issues {
    async fn should_process_event(&self, event: &WebhookEvent) -> bool {
        event_is(event, "issues")
    }

    async fn handle_event(
        &self,
        event: &WebhookEvent,
        _resource: &ResourceConfig,
    ) -> Result<WebhookEventRawResults, ProcessorError> {
        let Some(issue) = object(event, "issue") else { return Ok(WebhookEventRawResults::empty()) };
        let issue = with_repository(issue, &event.payload);
        if action(event) == "deleted" {
            return Ok(WebhookEventRawResults::delete([issue]));
        }
        current(&self.api, issue, |fresh| with_repository(fresh, &event.payload)).await
    }
}

/// Pull requests: closed ones that the selector's `states` no longer include are deleted.
pub(crate) struct PullRequests {
    api: Option<GithubApi>,
}

impl PullRequests {
    fn new(ctx: &Context) -> ocean::Result<Self> {
        Ok(Self { api: GithubApi::from_context(ctx) })
    }
}

#[ocean::webhook_processor(
    path = "/webhook",
    kinds = ["pull-request"],
    auth = github(secret = "webhook_secret"),
    group_by = ".pull_request.id",
    init = PullRequests::new
)]
impl PullRequests {
    async fn should_process_event(&self, event: &WebhookEvent) -> bool {
        event_is(event, "pull_request")
    }

    async fn handle_event(
        &self,
        event: &WebhookEvent,
        resource: &ResourceConfig,
    ) -> Result<WebhookEventRawResults, ProcessorError> {
        let Some(pr) = object(event, "pull_request") else { return Ok(WebhookEventRawResults::empty()) };
        let pr = with_repository(pr, &event.payload);
        let states: Vec<&str> = match resource.selector.get("states") {
            Some(Value::Array(s)) => s.iter().filter_map(Value::as_str).collect(),
            _ => vec!["open"],
        };
        if action(event) == "closed" && !states.contains(&"closed") {
            return Ok(WebhookEventRawResults::delete([pr]));
        }
        current(&self.api, pr, |fresh| with_repository(fresh, &event.payload)).await
    }
}

/// Repositories: from `push` and `repository` events.
pub(crate) struct Repositories {
    api: Option<GithubApi>,
}

impl Repositories {
    fn new(ctx: &Context) -> ocean::Result<Self> {
        Ok(Self { api: GithubApi::from_context(ctx) })
    }
}

#[ocean::webhook_processor(
    path = "/webhook",
    kinds = ["repository"],
    auth = github(secret = "webhook_secret"),
    group_by = ".repository.id",
    init = Repositories::new
)]
impl Repositories {
    async fn should_process_event(&self, event: &WebhookEvent) -> bool {
        event_is(event, "push") || event_is(event, "repository")
    }

    async fn handle_event(
        &self,
        event: &WebhookEvent,
        _resource: &ResourceConfig,
    ) -> Result<WebhookEventRawResults, ProcessorError> {
        let Some(repo) = object(event, "repository") else { return Ok(WebhookEventRawResults::empty()) };
        if event_is(event, "repository") && action(event) == "deleted" {
            return Ok(WebhookEventRawResults::delete([repo]));
        }
        current(&self.api, repo, |fresh| fresh).await
    }
}

/// Registers the organisation webhook at `{base_url}/integration/webhook` when a token, an organisation
/// and a base URL are configured.
#[ocean::on_start]
async fn register_webhook(ctx: Context) -> Result<(), String> {
    let (Some(api), Some(org), Some(url)) =
        (GithubApi::from_context(&ctx), ctx.get_str("github_organization"), ctx.webhook_url("/webhook"))
    else {
        return Ok(());
    };
    let secret = ctx.get_str("webhook_secret").unwrap_or_default();
    api.upsert_org_hook(org, &url, secret)
        .await
        .map(|_| ())
        .map_err(|e| format!("registering the webhook at {url}: {e}"))
}
