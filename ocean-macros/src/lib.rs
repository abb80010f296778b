//! Attribute macros of the ocean framework. Use them through the `ocean` crate, which re-exports them:
//! `#[ocean::webhook_processor]`, `#[ocean::on_start]`, `#[ocean::on_resync]`, `#[ocean::route]`.
//!
//! Each macro parses its arguments (`attr.rs`), checks them against the annotated item (`valid.rs`) and
//! expands to calls on the runtime's public builder API (`expand.rs`), registered with `inventory`.
//! Errors are spanned on the offending token; on error the item is still emitted, so that the rest of the
//! crate keeps compiling and IDEs keep working. Set `OCEAN_MACROS_DEBUG=1` to print the expansions.

mod attr;
mod expand;
mod symbols;
mod valid;

use proc_macro::TokenStream;

/// Makes a live-event processor of an `impl` block or an `async fn`.
///
/// On an `impl` block of a type, the methods written implement `ocean::WebhookProcessor`; the others keep
/// their defaults, and `kinds` supplies `get_matching_kinds`. On an `async fn(event, resource)`, the
/// function is `handle_event`.
///
/// Arguments: `path = "/webhook"` (required), `kinds = ["issue", ...]`, `auth = github(secret = "key")` or
/// `auth = none`, `insecure`, `group_by = ".issue.id"`, `group = "issue"` (an ordering space shared by
/// the processors that name it; default: the processor's own), `dedup = github` (a provider of
/// `ocean::delivery`, or `none`; default: the verifier's provider), `max_retries`, `initial_retry_delay`,
/// `max_retry_delay`, `exponential_base` (seconds), `init = path::to::fn` (impl blocks),
/// `filter = path::to::fn` (functions), `name = "..."`, and `crate = "my_sdk::ocean"` for a crate that
/// re-exports the runtime.
///
/// Verifiers (functions of `ocean::auth`) and the options each takes besides `secret` and
/// `secret_value`: `github` (`legacy_sha1`), `gitlab`, `standard_webhooks`, `stripe` and `slack`
/// (`tolerance_secs`), `hub_signature`, `jira` and `bitbucket` (`algorithm`), `pagerduty`, `hmac`
/// (`header`, `algorithm`, `encoding`, `prefix`), `token` (`header`), `basic`. Anything else is a
/// compile error that lists the valid names.
///
/// ```
/// use ocean::{ProcessorError, ResourceConfig, WebhookEvent, WebhookEventRawResults};
///
/// #[derive(Default)]
/// struct Issues;
///
/// #[ocean::webhook_processor(path = "/webhook", kinds = ["issue"], group_by = ".issue.id",
///                            auth = github(secret = "webhook_secret"))]
/// impl Issues {
///     async fn should_process_event(&self, event: &WebhookEvent) -> bool {
///         event.header("x-github-event") == Some("issues")
///     }
///     async fn handle_event(&self, event: &WebhookEvent, _resource: &ResourceConfig)
///         -> Result<WebhookEventRawResults, ProcessorError> {
///         Ok(WebhookEventRawResults::upsert(event.payload.object("issue")))
///     }
/// }
///
/// // The same as a function: it is `handle_event`.
/// #[ocean::webhook_processor(path = "/gitlab", kinds = ["merge-request"], auth = gitlab(secret = "gitlab_token"))]
/// async fn merge_requests(event: &WebhookEvent, _resource: &ResourceConfig)
///     -> Result<WebhookEventRawResults, ProcessorError> {
///     Ok(WebhookEventRawResults::upsert(event.payload.object("object_attributes")))
/// }
///
/// let integration = ocean::Integration::new("example").discovered();
/// ```
#[proc_macro_attribute]
pub fn webhook_processor(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::processor(args.into(), item.into()).into()
}

/// Runs an `async fn` once the server is listening, with the integration's `ocean::Context`. It may
/// return `()` or `Result<(), E>` with a displayable `E`; an error is logged and the integration keeps
/// running.
///
/// ```
/// #[ocean::on_start]
/// async fn register_webhook(ctx: ocean::Context) -> Result<(), String> {
///     let _url = ctx.webhook_url("/webhook");
///     Ok(())
/// }
/// ```
#[proc_macro_attribute]
pub fn on_start(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::on_start(args.into(), item.into()).into()
}

/// Makes a resync function of an `async fn`: it lists the third party's objects of one kind and pushes
/// them, batch by batch, into `ocean::Batches`, as an async generator yields them. The runtime maps each
/// batch with the kind's mappings, applies it in bulk, and once the function returns `Ok` (or `()`),
/// deletes the entities of the kind it did not list. An error fails the kind, which then deletes nothing.
///
/// Arguments: `kind = "repository"` (required), `name = "..."` (in logs; default: the function's name).
/// The function takes `(ctx: ocean::Context, resource: &ocean::ResourceConfig, batches: ocean::Batches)`,
/// or `(ctx, batches)`, and returns `()` or `Result<(), E>` with a displayable `E`.
///
/// ```
/// use ocean::{Batches, Context, ProcessorError, ResourceConfig};
///
/// #[ocean::on_resync(kind = "repository")]
/// async fn repositories(ctx: Context, _resource: &ResourceConfig, batches: Batches) -> Result<(), ProcessorError> {
///     for page in 1..=3 {
///         ctx.rate_limiter().acquire().await;
///         let repos = vec![serde_json::json!({"name": format!("repo-{page}")})]; // one page of the API
///         batches.send(repos).await?;
///     }
///     Ok(())
/// }
/// ```
#[proc_macro_attribute]
pub fn on_resync(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::on_resync(args.into(), item.into()).into()
}

/// Mounts a plain actix-web handler at `/integration{path}`: `#[ocean::route(post, "/legacy")]`. The
/// handler runs inside the request (no queue, no retries); `ocean::register_raw` maps and applies what it
/// passes.
///
/// `auth = <verifier>(...)` (the verifiers of `#[ocean::webhook_processor]`) verifies each request over
/// its raw body before the handler runs: a request it does not accept is answered 401, and a secret
/// that is not configured stops start-up unless the route is also marked `insecure`. Without `auth`, the
/// handler must authenticate requests itself, and start-up warns about it.
///
/// ```
/// use ocean::actix_web::{HttpResponse, web};
///
/// #[ocean::route(post, "/legacy", auth = hmac(header = "x-gitea-signature", secret = "webhook_secret"))]
/// async fn legacy(body: web::Json<serde_json::Value>) -> HttpResponse {
///     match ocean::register_raw("repository", vec![body.into_inner()]).await {
///         Ok(_) => HttpResponse::Ok().finish(),
///         Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
///     }
/// }
/// ```
#[proc_macro_attribute]
pub fn route(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::route(args.into(), item.into()).into()
}
