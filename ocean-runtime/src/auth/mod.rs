//! Built-in signature verifiers: every major provider's scheme, over the raw body, fail-closed and
//! constant-time.
//!
//! A processor names one with `#[ocean::webhook_processor(..., auth = github(secret = "webhook_secret"))]`
//! or [`Processor::auth`](crate::Processor::auth). The secret is read from the integration config by name at
//! start-up; a missing secret stops start-up unless the processor is marked `insecure`. Several secrets
//! (a JSON array in the config) are accepted at once, for rotation.
//!
//! ```
//! use ocean::auth;
//! let secret = "It's a Secret to Everybody";
//! let v = auth::github().secret_value(secret).build_verifier(None).unwrap().unwrap();
//! let headers = ocean::Headers::from_pairs([(
//!     "X-Hub-Signature-256",
//!     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
//! )]);
//! assert!(v.verify(b"Hello, World!", &headers, std::time::SystemTime::now()).is_ok());
//! assert!(v.verify(b"Hello, World?", &headers, std::time::SystemTime::now()).is_err());
//! ```

mod request;
mod schemes;
mod sign;

use std::time::{Duration, SystemTime};

use serde_json::Value;

pub use sign::{Algorithm, Encoding, sign};

use crate::error::AuthError;
use crate::event::Headers;

/// The signature schemes known to the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// GitHub `X-Hub-Signature-256: sha256=<hex>` (optionally the legacy SHA-1 header).
    Github,
    /// `X-Hub-Signature: <alg>=<hex>` as Jira admin webhooks and Bitbucket send it.
    HubSignature,
    /// GitLab: `X-Gitlab-Token`, or Standard Webhooks signing when `webhook-signature` is present.
    Gitlab,
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`.
    StandardWebhooks,
    /// PagerDuty v3: `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]`.
    Pagerduty,
    /// Stripe: `Stripe-Signature: t=...,v1=...` over `t.body`.
    Stripe,
    /// Slack: `X-Slack-Signature: v0=<hex>` over `v0:timestamp:body`.
    Slack,
    /// Any HMAC over the body in one header.
    Hmac,
    /// A shared token in a header, compared in constant time.
    Token,
    /// HTTP basic authentication; the secret is `user:password`.
    Basic,
}

/// A verifier's configuration, built by the functions of this module.
#[derive(Debug, Clone, PartialEq)]
pub struct Auth {
    pub(crate) scheme: Scheme,
    pub(crate) secret_key: Option<String>,
    pub(crate) secret_values: Vec<String>,
    header: Option<String>,
    algorithm: Algorithm,
    encoding: Encoding,
    prefix: Option<String>,
    tolerance: Duration,
    legacy_sha1: bool,
    invalid: Vec<String>,
}

fn base(scheme: Scheme) -> Auth {
    Auth {
        scheme,
        secret_key: None,
        secret_values: Vec::new(),
        header: None,
        algorithm: Algorithm::Sha256,
        encoding: Encoding::Hex,
        prefix: None,
        tolerance: Duration::from_secs(300),
        legacy_sha1: false,
        invalid: Vec::new(),
    }
}

/// GitHub: HMAC-SHA256 of the body in `X-Hub-Signature-256` (`sha256=<hex>`).
pub fn github() -> Auth {
    base(Scheme::Github)
}
/// GitLab: `X-Gitlab-Token`, or the Standard Webhooks signature of GitLab 19 and later.
pub fn gitlab() -> Auth {
    base(Scheme::Gitlab)
}
/// Standard Webhooks (`whsec_` keys, 5 minutes of tolerance).
pub fn standard_webhooks() -> Auth {
    base(Scheme::StandardWebhooks)
}
/// `X-Hub-Signature: sha256=<hex>` (set `algorithm("sha1")` for senders that use SHA-1).
pub fn hub_signature() -> Auth {
    base(Scheme::HubSignature)
}
/// Jira admin webhooks: `X-Hub-Signature: sha256=<hex>`.
pub fn jira() -> Auth {
    base(Scheme::HubSignature)
}
/// Bitbucket: `X-Hub-Signature: sha256=<hex>`.
pub fn bitbucket() -> Auth {
    base(Scheme::HubSignature)
}
/// PagerDuty v3 signatures.
pub fn pagerduty() -> Auth {
    base(Scheme::Pagerduty)
}
/// Stripe signatures (5 minutes of tolerance).
pub fn stripe() -> Auth {
    base(Scheme::Stripe)
}
/// Slack signatures (5 minutes of tolerance).
pub fn slack() -> Auth {
    base(Scheme::Slack)
}
/// A generic HMAC over the body: set `header`, and optionally `algorithm`, `encoding` and `prefix`.
pub fn hmac() -> Auth {
    base(Scheme::Hmac)
}
/// A shared token in a header (set `header`).
pub fn token() -> Auth {
    base(Scheme::Token)
}
/// HTTP basic authentication; the secret holds `user:password`.
pub fn basic() -> Auth {
    base(Scheme::Basic)
}

impl Scheme {
    /// The scheme's name, as the macro's `auth = <name>(...)` spells it.
    fn name(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::HubSignature => "hub_signature",
            Self::Gitlab => "gitlab",
            Self::StandardWebhooks => "standard_webhooks",
            Self::Pagerduty => "pagerduty",
            Self::Stripe => "stripe",
            Self::Slack => "slack",
            Self::Hmac => "hmac",
            Self::Token => "token",
            Self::Basic => "basic",
        }
    }

    /// The options the scheme takes besides its secret (the macro accepts the same).
    fn options(self) -> &'static [&'static str] {
        match self {
            Self::Github => &["legacy_sha1"],
            Self::Gitlab | Self::StandardWebhooks | Self::Stripe | Self::Slack => &["tolerance_secs"],
            Self::HubSignature => &["algorithm"],
            Self::Hmac => &["header", "algorithm", "encoding", "prefix"],
            Self::Token => &["header"],
            Self::Pagerduty | Self::Basic => &[],
        }
    }
}

impl Auth {
    /// Notes an option the scheme does not take: building the verifier fails, naming the ones it takes.
    fn takes(&mut self, option: &str) -> bool {
        let ok = self.scheme.options().contains(&option);
        if !ok {
            let takes = self.scheme.options();
            let list = if takes.is_empty() { "only its secret".to_owned() } else { takes.join(", ") };
            self.invalid
                .push(format!("the `{}` verifier takes no `{option}` option (it takes: {list})", self.scheme.name()));
        }
        ok
    }

    /// The name of the integration-config entry that holds the secret (`webhook_secret`).
    #[must_use]
    pub fn secret(mut self, config_key: &str) -> Self {
        self.secret_key = Some(config_key.to_owned());
        self
    }

    /// A literal secret (tests and tools); several calls accept several secrets.
    #[must_use]
    pub fn secret_value(mut self, secret: &str) -> Self {
        self.secret_values.push(secret.to_owned());
        self
    }

    /// The header that carries the signature or token (generic schemes).
    #[must_use]
    pub fn header(mut self, name: &str) -> Self {
        if self.takes("header") {
            self.header = Some(name.to_ascii_lowercase());
        }
        self
    }

    /// The hash: `sha1`, `sha256` or `sha512`.
    #[must_use]
    pub fn algorithm(mut self, name: &str) -> Self {
        if !self.takes("algorithm") {
            return self;
        }
        match name.parse() {
            Ok(a) => self.algorithm = a,
            Err(e) => self.invalid.push(e),
        }
        self
    }

    /// The signature encoding: `hex` or `base64`.
    #[must_use]
    pub fn encoding(mut self, name: &str) -> Self {
        if !self.takes("encoding") {
            return self;
        }
        match name.parse() {
            Ok(e) => self.encoding = e,
            Err(e) => self.invalid.push(e),
        }
        self
    }

    /// A prefix before the signature (`sha256=`).
    #[must_use]
    pub fn prefix(mut self, prefix: &str) -> Self {
        if self.takes("prefix") {
            self.prefix = Some(prefix.to_owned());
        }
        self
    }

    /// Tolerance of signed timestamps, in seconds.
    #[must_use]
    pub fn tolerance_secs(mut self, secs: u64) -> Self {
        if self.takes("tolerance_secs") {
            self.tolerance = Duration::from_secs(secs);
        }
        self
    }

    /// GitHub: also accept the legacy SHA-1 `X-Hub-Signature` header when the SHA-256 one is absent.
    #[must_use]
    pub fn legacy_sha1(mut self, yes: bool) -> Self {
        if self.takes("legacy_sha1") {
            self.legacy_sha1 = yes;
        }
        self
    }

    /// The provider's delivery-id source, shared with deduplication.
    pub fn delivery_id(&self) -> crate::delivery::DeliveryId {
        use crate::delivery as d;
        match self.scheme {
            Scheme::Github => d::github(),
            Scheme::Gitlab => d::gitlab(),
            Scheme::StandardWebhooks => d::standard_webhooks(),
            Scheme::HubSignature => d::DeliveryId::Headers(vec!["x-atlassian-webhook-identifier", "x-request-uuid"]),
            Scheme::Pagerduty => d::pagerduty(),
            Scheme::Stripe => d::stripe(),
            _ => d::none(),
        }
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// A short description for logs (never the secret).
    pub fn describe(&self) -> String {
        match &self.secret_key {
            Some(k) => format!("{:?} (secret `{k}`)", self.scheme),
            None => format!("{:?}", self.scheme),
        }
    }

    /// Builds the verifier, with the secrets found in the integration config (`config_value`) and the
    /// literal ones. `Ok(None)` means no secret is available.
    pub fn build_verifier(&self, config_value: Option<&Value>) -> Result<Option<Verifier>, String> {
        if let Some(e) = self.invalid.first() {
            return Err(e.clone());
        }
        if matches!(self.scheme, Scheme::Hmac | Scheme::Token) && self.header.is_none() {
            return Err(format!("the {:?} verifier needs a `header`", self.scheme));
        }
        let mut secrets: Vec<String> = self.secret_values.clone();
        match config_value {
            // Several secrets for rotation, as a JSON array of strings in one environment variable.
            Some(Value::String(s)) if s.trim_start().starts_with('[') => match serde_json::from_str::<Vec<String>>(s) {
                Ok(list) => secrets.extend(list.into_iter().filter(|s| !s.is_empty())),
                Err(_) => secrets.push(s.clone()),
            },
            Some(Value::String(s)) if !s.is_empty() => secrets.push(s.clone()),
            Some(Value::Array(items)) => {
                secrets.extend(items.iter().filter_map(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned))
            }
            Some(Value::Number(n)) => secrets.push(n.to_string()),
            _ => {}
        }
        if secrets.is_empty() {
            return Ok(None);
        }
        let keys = secrets.iter().map(|s| schemes::key_bytes(self.scheme, s)).collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Verifier { auth: self.clone(), keys }))
    }
}

/// A verifier ready to check requests. Holds the secrets; its `Debug` does not show them.
#[derive(Clone)]
pub struct Verifier {
    auth: Auth,
    keys: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("scheme", &self.auth.scheme).field("secrets", &self.keys.len()).finish()
    }
}

impl Verifier {
    /// Whether two verifiers check the same way with the same secrets (so one outcome serves both).
    pub(crate) fn same_as(&self, other: &Verifier) -> bool {
        self.auth == other.auth && self.keys == other.keys
    }

    /// The headers this verifier reads (lower-cased).
    pub fn headers(&self) -> Vec<&str> {
        let a = &self.auth;
        match a.scheme {
            Scheme::Github if a.legacy_sha1 => vec!["x-hub-signature-256", "x-hub-signature"],
            Scheme::Github => vec!["x-hub-signature-256"],
            Scheme::HubSignature => vec!["x-hub-signature"],
            Scheme::Gitlab => vec!["x-gitlab-token", "webhook-id", "webhook-timestamp", "webhook-signature"],
            Scheme::StandardWebhooks => vec!["webhook-id", "webhook-timestamp", "webhook-signature"],
            Scheme::Pagerduty => vec!["x-pagerduty-signature"],
            Scheme::Stripe => vec!["stripe-signature"],
            Scheme::Slack => vec!["x-slack-signature", "x-slack-request-timestamp"],
            Scheme::Hmac | Scheme::Token => vec![header_of(a)],
            Scheme::Basic => vec!["authorization"],
        }
    }

    /// Checks a request: the raw body as received, its headers, and the current time. A request that
    /// carries any header this verifier reads more than once is refused: which copy a proxy or a
    /// framework would take is not defined, so neither is trusted.
    pub fn verify(&self, body: &[u8], headers: &Headers, now: SystemTime) -> Result<(), AuthError> {
        if let Some(h) = self.headers().into_iter().find(|h| headers.get_all(h).nth(1).is_some()) {
            return Err(AuthError::DuplicateHeader(h.to_owned()));
        }
        let a = &self.auth;
        let keys = &self.keys;
        match a.scheme {
            Scheme::Github => schemes::github(keys, body, headers, a.legacy_sha1),
            Scheme::HubSignature => schemes::prefixed_hex(keys, body, headers, "x-hub-signature", a.algorithm),
            Scheme::Gitlab => {
                if headers.get("webhook-signature").is_some() {
                    // Signing tokens are `whsec_` keys; the shared token of older hooks is not.
                    let signing: Vec<Vec<u8>> = keys.iter().map(|k| schemes::signing_key(k)).collect();
                    schemes::standard(&signing, body, headers, now, a.tolerance)
                } else {
                    schemes::token(keys, headers, "x-gitlab-token")
                }
            }
            Scheme::StandardWebhooks => schemes::standard(keys, body, headers, now, a.tolerance),
            Scheme::Pagerduty => schemes::pagerduty(keys, body, headers),
            Scheme::Stripe => schemes::stripe(keys, body, headers, now, a.tolerance),
            Scheme::Slack => schemes::slack(keys, body, headers, now, a.tolerance),
            Scheme::Hmac => schemes::generic(keys, body, headers, a),
            Scheme::Token => schemes::token(keys, headers, a.header.as_deref().unwrap_or_default()),
            Scheme::Basic => schemes::basic(keys, headers),
        }
    }
}

/// Constant-time comparison of two tokens of any length.
pub(crate) fn token_matches(expected: &[u8], given: &[u8]) -> bool {
    sign::token_eq(expected, given)
}

pub(crate) fn header_of(a: &Auth) -> &str {
    a.header.as_deref().unwrap_or_default()
}
pub(crate) fn algorithm_of(a: &Auth) -> Algorithm {
    a.algorithm
}
pub(crate) fn encoding_of(a: &Auth) -> Encoding {
    a.encoding
}
pub(crate) fn prefix_of(a: &Auth) -> Option<&str> {
    a.prefix.as_deref()
}
