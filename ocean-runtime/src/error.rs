//! Error types: processor failures (retryable or fatal), authentication failures, start-up errors.

use std::time::Duration;

/// A failure of a processor method.
///
/// Retryable errors are retried with exponential backoff and jitter, honouring `retry_after`;
/// fatal errors are not retried and the event is recorded as failed.
///
/// ```
/// use std::time::Duration;
/// let e = ocean::ProcessorError::retryable("rate limited").retry_after(Duration::from_secs(2));
/// assert!(e.is_retryable());
/// assert_eq!(e.retry_after_hint(), Some(Duration::from_secs(2)));
/// assert!(!ocean::ProcessorError::fatal("bad data").is_retryable());
/// ```
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProcessorError {
    /// A transient failure: the attempt may succeed later.
    #[error("retryable: {message}")]
    Retryable {
        /// What went wrong.
        message: String,
        /// The earliest time to try again, when the third party said so.
        retry_after: Option<Duration>,
    },
    /// A permanent failure: retrying cannot help.
    #[error("fatal: {message}")]
    Fatal {
        /// What went wrong.
        message: String,
    },
}

impl ProcessorError {
    /// A retryable error.
    pub fn retryable(message: impl std::fmt::Display) -> Self {
        Self::Retryable { message: message.to_string(), retry_after: None }
    }

    /// A fatal error.
    pub fn fatal(message: impl std::fmt::Display) -> Self {
        Self::Fatal { message: message.to_string() }
    }

    /// Adds a retry-after hint (ignored on fatal errors).
    #[must_use]
    pub fn retry_after(self, after: Duration) -> Self {
        match self {
            Self::Retryable { message, .. } => Self::Retryable { message, retry_after: Some(after) },
            fatal => fatal,
        }
    }

    /// Whether the error is retryable.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable { .. })
    }

    /// The retry-after hint, if any.
    pub fn retry_after_hint(&self) -> Option<Duration> {
        match self {
            Self::Retryable { retry_after, .. } => *retry_after,
            Self::Fatal { .. } => None,
        }
    }
}

/// Why a request failed authentication. Each names the header it is about, as providers write it
/// (`X-Gitlab-Token`); the message never contains a secret or an expected signature.
///
/// ```
/// let e = ocean::AuthError::Mismatch("x-gitlab-token".into());
/// assert_eq!(e.to_string(), "`X-Gitlab-Token` does not match");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A required header is absent.
    #[error("missing header `{}`", display_header(.0))]
    MissingHeader(String),
    /// A header is present but not in the expected format.
    #[error("header `{}` is not in the expected format", display_header(.0))]
    MalformedHeader(String),
    /// A header the verifier reads was sent more than once.
    #[error("header `{}` sent more than once", display_header(.0))]
    DuplicateHeader(String),
    /// No signature or token in the header matched.
    #[error("`{}` does not match", display_header(.0))]
    Mismatch(String),
    /// The signed timestamp is outside the tolerance.
    #[error("the timestamp in `{}` is outside the tolerance", display_header(.0))]
    StaleTimestamp(String),
    /// The processor has no authentication (it neither implements `authenticate` nor names a verifier).
    #[error("no authentication configured")]
    NotConfigured,
    /// A custom rejection from a processor's `authenticate`.
    #[error("{0}")]
    Rejected(String),
}

/// `x-hub-signature-256` → `X-Hub-Signature-256`: header names as providers document them.
pub(crate) fn display_header(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// An error that stops start-up or a command: configuration, mapping, binding.
///
/// Its `Debug` form is its message, so that `fn main() -> ocean::Result<()>` prints
/// `Error: configuration: ...` rather than the variant's structure.
#[derive(thiserror::Error)]
pub enum Error {
    /// A setting is missing or invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The Port app config (mapping) is invalid.
    #[error("mapping: {0}")]
    Mapping(String),
    /// A processor or route is registered wrongly.
    #[error("registration: {0}")]
    Registration(String),
    /// The catalog or the queue store failed.
    #[error("storage: {0}")]
    Storage(String),
    /// An I/O error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Any other error, with context.
    #[error("{0}")]
    Other(String),
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl Error {
    /// An error from any displayable value.
    pub fn other(e: impl std::fmt::Display) -> Self {
        Self::Other(e.to_string())
    }
}

/// The result type of fallible framework calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;
