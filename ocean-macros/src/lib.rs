//! Attribute macros of the ocean framework. Use them through the `ocean` crate, which re-exports them:
//! `#[ocean::webhook_processor]`, `#[ocean::on_start]`, `#[ocean::route]`.
//!
//! Each macro parses its arguments (`attr.rs`), checks them against the annotated item (`valid.rs`) and
//! expands to calls on the runtime's public builder API (`expand.rs`), registered with `inventory`.
//! Errors are spanned on the offending token; on error the item is still emitted, so that the rest of the
//! crate keeps compiling and IDEs keep working. Set `OCEAN_MACROS_DEBUG=1` to print the expansions.

mod attr;
mod expand;
mod valid;

use proc_macro::TokenStream;

/// Makes a live-event processor of an `impl` block or an `async fn`.
///
/// On an `impl` block of a type, the methods written implement `ocean::WebhookProcessor`; the others keep
/// their defaults, and `kinds` supplies `get_matching_kinds`. On an `async fn(event, resource)`, the
/// function is `handle_event`.
///
/// Arguments: `path = "/webhook"` (required), `kinds = ["issue", ...]`, `auth = github(secret = "key")` or
/// `auth = none`, `insecure`, `group_by = ".issue.id"`, `dedup = github` (a provider of
/// `ocean::delivery`, or `none`; default: the verifier's provider), `max_retries`, `initial_retry_delay`,
/// `max_retry_delay`, `exponential_base` (seconds), `init = path::to::fn` (impl blocks),
/// `filter = path::to::fn` (functions), `name = "..."`.
#[proc_macro_attribute]
pub fn webhook_processor(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::processor(args.into(), item.into()).into()
}

/// Runs an `async fn` once the server is listening, with the integration's `ocean::Context`.
#[proc_macro_attribute]
pub fn on_start(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::on_start(args.into(), item.into()).into()
}

/// Mounts a plain actix-web handler at `/integration{path}`: `#[ocean::route(post, "/legacy")]`.
#[proc_macro_attribute]
pub fn route(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::route(args.into(), item.into()).into()
}
