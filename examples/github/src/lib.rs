//! A GitHub integration written with ocean: issues, pull requests and repositories, kept in step with
//! GitHub's live events, verified with the webhook secret and ordered per entity, and resynced from
//! GitHub's API at start-up, on a schedule and on request when a token and an organisation are configured.
//!
//! Run with `OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET=... cargo run -p example-github`.

mod api;
mod processors;
mod resync;

pub use api::GithubApi;

/// The integration: every processor and hook of this crate, its spec and its default mapping.
pub fn integration() -> ocean::Integration {
    ocean::integration!()
}
