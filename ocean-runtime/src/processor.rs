//! The processor contract: how a live event becomes raw results.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::error::{AuthError, ProcessorError};
use crate::event::{WebhookEvent, WebhookEventRawResults};
use crate::mapping::ResourceConfig;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Retry settings of a processor. The defaults are the reference framework's: 3 retries, a first delay of 1 s,
/// at most 30 s, base 2. Delays use full jitter: a random wait in `[0, min(max, initial * base^n)]`,
/// raised to the processor's retry-after hint when one is given.
///
/// ```
/// use std::time::Duration;
/// let p = ocean::RetryPolicy::default();
/// assert_eq!(p.max_retries, 3);
/// assert_eq!(p.ceiling(0), Duration::from_secs(1));
/// assert_eq!(p.ceiling(10), Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Ceiling of the first retry delay.
    pub initial_retry_delay: Duration,
    /// Ceiling of every retry delay.
    pub max_retry_delay: Duration,
    /// Growth factor of the ceiling per retry.
    pub exponential_base: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_retry_delay: Duration::from_secs(1),
            max_retry_delay: Duration::from_secs(30),
            exponential_base: 2.0,
        }
    }
}

impl RetryPolicy {
    /// The schedule the runtime's retry loop runs: full jitter, the hint as a floor.
    pub(crate) fn backoff(&self) -> crate::retry::Backoff {
        crate::retry::Backoff {
            initial: self.initial_retry_delay,
            base: self.exponential_base,
            cap: self.max_retry_delay,
            jitter: crate::retry::Jitter::Full,
            attempts: Some(self.max_retries.saturating_add(1)),
        }
    }

    /// The delay ceiling before retry number `retry` (0-based): `min(max, initial * base^retry)`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        self.backoff().ceiling(retry)
    }

    /// The delay before retry number `retry`: full jitter under the ceiling, at least the hint.
    pub fn delay(&self, retry: u32, hint: Option<Duration>) -> Duration {
        self.backoff().delay(retry, hint)
    }
}

/// A live-event processor: decides whether it handles an event, which kinds it affects, authenticates and
/// validates it, and turns it into raw results for one resource of the mapping.
///
/// Write it with `#[ocean::webhook_processor]` on an `impl` block (the methods you write implement this
/// trait, the others keep their defaults), or implement it by hand and register it with
/// [`Processor`](crate::Processor).
///
/// ```
/// use ocean::{ProcessorError, ResourceConfig, WebhookEvent, WebhookEventRawResults, WebhookProcessor};
///
/// #[derive(Default)]
/// struct Issues;
///
/// impl WebhookProcessor for Issues {
///     async fn should_process_event(&self, event: &WebhookEvent) -> bool {
///         event.header("x-github-event") == Some("issues")
///     }
///     async fn get_matching_kinds(&self, _event: &WebhookEvent) -> Vec<String> {
///         vec!["issue".into()]
///     }
///     async fn authenticate(&self, _event: &WebhookEvent) -> Result<(), ocean::AuthError> {
///         Ok(())
///     }
///     async fn handle_event(
///         &self,
///         event: &WebhookEvent,
///         _resource: &ResourceConfig,
///     ) -> Result<WebhookEventRawResults, ProcessorError> {
///         Ok(WebhookEventRawResults::upsert([event.payload["issue"].clone()]))
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a webhook processor",
    note = "put `#[ocean::webhook_processor(path = \"...\", kinds = [...])]` on an `impl` block of `{Self}`, or implement `ocean::WebhookProcessor`"
)]
pub trait WebhookProcessor: Send + Sync + 'static {
    /// Whether this processor handles the event. Default: every event on its path.
    fn should_process_event(&self, event: &WebhookEvent) -> impl Future<Output = bool> + Send {
        let _ = event;
        async { true }
    }

    /// The resource kinds of the mapping that the event affects.
    fn get_matching_kinds(&self, event: &WebhookEvent) -> impl Future<Output = Vec<String>> + Send;

    /// Verifies that the request is genuine, over the raw body and headers. Runs before the event is
    /// acknowledged; a failure answers 401. The default rejects: authentication is never implicit.
    fn authenticate(&self, event: &WebhookEvent) -> impl Future<Output = Result<(), AuthError>> + Send {
        let _ = event;
        async { Err(AuthError::NotConfigured) }
    }

    /// Checks the payload's shape. Runs before the event is acknowledged; `false` answers 400.
    fn validate_payload(&self, event: &WebhookEvent) -> impl Future<Output = bool> + Send {
        let _ = event;
        async { true }
    }

    /// Turns the event into raw results for one resource of the mapping.
    fn handle_event(
        &self,
        event: &WebhookEvent,
        resource: &ResourceConfig,
    ) -> impl Future<Output = Result<WebhookEventRawResults, ProcessorError>> + Send;

    /// Called once before the first attempt.
    fn before_processing(&self, event: &WebhookEvent) -> impl Future<Output = ()> + Send {
        let _ = event;
        async {}
    }

    /// Called after a successful `handle_event`.
    fn after_processing(&self, event: &WebhookEvent) -> impl Future<Output = ()> + Send {
        let _ = event;
        async {}
    }

    /// Called when processing is abandoned (timeout or shutdown).
    fn cancel(&self, event: &WebhookEvent) -> impl Future<Output = ()> + Send {
        let _ = event;
        async {}
    }

    /// Called after each failed attempt. The runtime logs the failure itself.
    fn on_error(&self, event: &WebhookEvent, error: &ProcessorError) -> impl Future<Output = ()> + Send {
        let _ = (event, error);
        async {}
    }

    /// Whether a failure may be retried. Default: retryable errors only.
    fn should_retry(&self, error: &ProcessorError) -> bool {
        error.is_retryable()
    }

    /// The ordering group of the event; `None` lets it run in parallel with every other event.
    fn group_key(&self, event: &WebhookEvent) -> Option<String> {
        let _ = event;
        None
    }

    /// Retry settings.
    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::default()
    }
}

/// The object-safe face of [`WebhookProcessor`], used by the runtime.
#[doc(hidden)]
pub trait DynProcessor: Send + Sync + 'static {
    fn should_process_event<'a>(&'a self, event: &'a WebhookEvent) -> BoxFuture<'a, bool>;
    fn get_matching_kinds<'a>(&'a self, event: &'a WebhookEvent) -> BoxFuture<'a, Vec<String>>;
    fn authenticate<'a>(&'a self, event: &'a WebhookEvent) -> BoxFuture<'a, Result<(), AuthError>>;
    fn validate_payload<'a>(&'a self, event: &'a WebhookEvent) -> BoxFuture<'a, bool>;
    fn handle_event<'a>(
        &'a self,
        event: &'a WebhookEvent,
        resource: &'a ResourceConfig,
    ) -> BoxFuture<'a, Result<WebhookEventRawResults, ProcessorError>>;
    fn before_processing<'a>(&'a self, event: &'a WebhookEvent) -> BoxFuture<'a, ()>;
    fn after_processing<'a>(&'a self, event: &'a WebhookEvent) -> BoxFuture<'a, ()>;
    fn cancel<'a>(&'a self, event: &'a WebhookEvent) -> BoxFuture<'a, ()>;
    fn on_error<'a>(&'a self, event: &'a WebhookEvent, error: &'a ProcessorError) -> BoxFuture<'a, ()>;
    fn should_retry(&self, error: &ProcessorError) -> bool;
    fn group_key(&self, event: &WebhookEvent) -> Option<String>;
    fn retry_policy(&self) -> RetryPolicy;
}

impl<T: WebhookProcessor> DynProcessor for T {
    fn should_process_event<'a>(&'a self, event: &'a WebhookEvent) -> BoxFuture<'a, bool> {
        Box::pin(WebhookProcessor::should_process_event(self, event))
    }
    fn get_matching_kinds<'a>(&'a self, event: &'a WebhookEvent) -> BoxFuture<'a, Vec<String>> {
        Box::pin(WebhookProcessor::get_matching_kinds(self, event))
    }
    fn authenticate<'a>(&'a self, event: &'a WebhookEvent) -> BoxFuture<'a, Result<(), AuthError>> {
        Box::pin(WebhookProcessor::authenticate(self, event))
    }
    fn validate_payload<'a>(&'a self, event: &'a WebhookEvent) -> BoxFuture<'a, bool> {
        Box::pin(WebhookProcessor::validate_payload(self, event))
    }
    fn handle_event<'a>(
        &'a self,
        event: &'a WebhookEvent,
        resource: &'a ResourceConfig,
    ) -> BoxFuture<'a, Result<WebhookEventRawResults, ProcessorError>> {
        Box::pin(WebhookProcessor::handle_event(self, event, resource))
    }
    fn before_processing<'a>(&'a self, event: &'a WebhookEvent) -> BoxFuture<'a, ()> {
        Box::pin(WebhookProcessor::before_processing(self, event))
    }
    fn after_processing<'a>(&'a self, event: &'a WebhookEvent) -> BoxFuture<'a, ()> {
        Box::pin(WebhookProcessor::after_processing(self, event))
    }
    fn cancel<'a>(&'a self, event: &'a WebhookEvent) -> BoxFuture<'a, ()> {
        Box::pin(WebhookProcessor::cancel(self, event))
    }
    fn on_error<'a>(&'a self, event: &'a WebhookEvent, error: &'a ProcessorError) -> BoxFuture<'a, ()> {
        Box::pin(WebhookProcessor::on_error(self, event, error))
    }
    fn should_retry(&self, error: &ProcessorError) -> bool {
        WebhookProcessor::should_retry(self, error)
    }
    fn group_key(&self, event: &WebhookEvent) -> Option<String> {
        WebhookProcessor::group_key(self, event)
    }
    fn retry_policy(&self) -> RetryPolicy {
        WebhookProcessor::retry_policy(self)
    }
}
