//! # ocean
//!
//! Port integrations in Rust. Annotate a processor; the runtime serves its path, verifies each event
//! before acknowledging it, queues it with per-entity ordering, runs it with retries, timeouts and
//! cancellation, maps the results with the jq mappings of the Port app config, and applies them to a
//! catalog (an embedded local catalog by default).
//!
//! ```no_run
//! use ocean::{ProcessorError, ResourceConfig, WebhookEvent, WebhookEventRawResults};
//!
//! #[derive(Default)]
//! struct Issues;
//!
//! #[ocean::webhook_processor(path = "/webhook", kinds = ["issue"], auth = github(secret = "webhook_secret"))]
//! impl Issues {
//!     async fn should_process_event(&self, event: &WebhookEvent) -> bool {
//!         event.header("x-github-event") == Some("issues")
//!     }
//!     async fn handle_event(&self, event: &WebhookEvent, _resource: &ResourceConfig)
//!         -> Result<WebhookEventRawResults, ProcessorError> {
//!         Ok(WebhookEventRawResults::upsert(event.payload.object("issue")))
//!     }
//! }
//!
//! fn main() -> ocean::Result<()> {
//!     ocean::Integration::new("github").discovered().default_mapping("resources: []").run()
//! }
//! ```
//!
//! # Layout
//!
//! The data path, one module each:
//!
//! - `intake`: verifies the request, asks the processors whether they take it, finds its group key and
//!   delivery id, and answers 202 once the queue holds it;
//! - `queue`: a group scheduler (one event in flight per group, groups in parallel) over a storage (the
//!   embedded redb store, or memory), with deduplication and dead letters;
//! - `worker`: runs the accepting processors per resource with retries, timeouts and cancellation;
//! - [`mapping`]: the Port app config's jq mappings, compiled once, with Port's semantics;
//! - [`sink`]: the local catalog or Port's API.
//!
//! Beside it, `resync` ([`OnResync`]): the third party listed kind by kind, mapped with the same mappings,
//! applied in bulk, and the entities no longer listed deleted; live events win their races with it.
//!
//! Around it: [`auth`] (verifiers), [`config`] (settings), `registry` ([`Processor`], [`OnStart`],
//! [`Route`]), [`Integration`] (the builder), `compose` (the composition root), `http` (routes and the
//! state each handler uses), [`RunningIntegration`] (shutdown), and `testing` (feature `testing`). The
//! library sets no global allocator and keeps no process-wide state: two integrations in one process share
//! nothing.

#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]

mod admin;
pub mod auth;
mod barrier;
mod compose;
pub mod config;
mod context;
pub mod delivery;
mod dlq;
mod error;
mod event;
mod http;
mod intake;
mod integration;
mod legacy;
mod logging;
pub mod mapping;
mod metrics;
mod payload;
mod pool;
mod postgres;
mod priority;
mod processor;
mod queue;
mod rate;
mod raw;
mod registry;
mod resync;
mod retry;
mod running;
mod runtime;
mod scan;
pub mod sink;
#[cfg(feature = "testing")]
pub mod testing;
mod wiring;
mod worker;
mod writer;

pub use actix_web;
pub use context::Context;
pub use error::{AuthError, Error, ProcessorError, Result};
pub use event::{Headers, WebhookEvent, WebhookEventRawResults};
pub use integration::Integration;
pub use logging::init_tracing;
pub use mapping::{Entity, ResourceConfig};
pub use ocean_macros::{on_resync, on_start, route, webhook_processor};
pub use payload::{Payload, PayloadIndex};
pub use processor::{BoxFuture, RetryPolicy, WebhookProcessor};
pub use rate::RateBudget;
pub use raw::{context, register_raw, unregister_raw};
pub use registry::{OnStart, Processor, Route};
pub use resync::{Batches, OnResync, ResyncStopped};
pub use running::RunningIntegration;

/// An integration of this crate's package, with what the macros registered, the spec in
/// `.port/spec.yaml` and the default mapping in `.port/resources/port-app-config.yml`.
///
/// ```ignore
/// fn main() -> ocean::Result<()> {
///     ocean::integration!().run()
/// }
/// ```
#[macro_export]
macro_rules! integration {
    () => {
        $crate::Integration::new(env!("CARGO_PKG_NAME"))
            .discovered()
            .spec(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/.port/spec.yaml")))
            .default_mapping(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/.port/resources/port-app-config.yml")))
    };
}

/// Installs the TLS crypto provider (ring) for HTTP clients, once. `Integration::start` calls it; call it
/// before building a `reqwest::Client` outside a running integration.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Support for the code the macros generate. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::auth;
    pub use crate::context::Context;
    pub use crate::delivery;
    pub use crate::error::ProcessorError;
    pub use crate::event::{WebhookEvent, WebhookEventRawResults};
    pub use crate::mapping::ResourceConfig;
    pub use crate::processor::BoxFuture;
    pub use crate::processor::{DynProcessor, RetryPolicy, WebhookProcessor};
    pub use crate::registry::{OnStart, Processor, Registered, Route};
    pub use crate::resync::{Batches, OnResync};

    /// What a resync function's wrapper returns.
    pub type ResyncResult = crate::Result<()>;
    pub use actix_web::{http::Method, web};
    pub use inventory;

    /// Turns a start hook's return value into a result.
    pub trait IntoStartResult {
        /// The conversion.
        fn into_start_result(self) -> crate::Result<()>;
    }
    impl IntoStartResult for () {
        fn into_start_result(self) -> crate::Result<()> {
            Ok(())
        }
    }
    impl<E: std::fmt::Display> IntoStartResult for Result<(), E> {
        fn into_start_result(self) -> crate::Result<()> {
            self.map_err(crate::Error::other)
        }
    }
}
