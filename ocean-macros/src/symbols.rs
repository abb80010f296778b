//! The names the macros accept, defined once: the parser, the error lists and the hints read them here.

/// The arguments of `#[webhook_processor]`.
pub(crate) const PROCESSOR_ARGS: &[&str] = &[
    "path",
    "kinds",
    "auth",
    "insecure",
    "group_by",
    "group",
    "dedup",
    "max_retries",
    "initial_retry_delay",
    "max_retry_delay",
    "exponential_base",
    "init",
    "filter",
    "name",
    "crate",
];

/// Likely slips, and what was meant.
pub(crate) const HINTS: &[(&str, &str)] = &[
    ("kind", "kinds"),
    ("retries", "max_retries"),
    ("group_key", "group_by"),
    ("verifier", "auth"),
    ("secret", "auth"),
];

/// A built-in verifier (a function of `ocean::auth`) and the options it takes. Every verifier takes
/// `secret` (the config key) and `secret_value` (a literal secret, for tests).
pub(crate) struct Verifier {
    pub(crate) name: &'static str,
    pub(crate) options: &'static [&'static str],
}

pub(crate) const VERIFIERS: &[Verifier] = &[
    Verifier { name: "github", options: &["legacy_sha1"] },
    Verifier { name: "gitlab", options: &["tolerance_secs"] },
    Verifier { name: "standard_webhooks", options: &["tolerance_secs"] },
    Verifier { name: "hub_signature", options: &["algorithm"] },
    Verifier { name: "jira", options: &["algorithm"] },
    Verifier { name: "bitbucket", options: &["algorithm"] },
    Verifier { name: "pagerduty", options: &[] },
    Verifier { name: "stripe", options: &["tolerance_secs"] },
    Verifier { name: "slack", options: &["tolerance_secs"] },
    Verifier { name: "hmac", options: &["header", "algorithm", "encoding", "prefix"] },
    Verifier { name: "token", options: &["header"] },
    Verifier { name: "basic", options: &[] },
];

/// Options every verifier takes.
pub(crate) const COMMON_OPTIONS: &[&str] = &["secret", "secret_value"];

/// Options that take no value (a flag).
pub(crate) const FLAGS: &[&str] = &["legacy_sha1"];

/// Options whose value is a number rather than a string.
pub(crate) const NUMBERS: &[&str] = &["tolerance_secs"];

/// Delivery-id sources of `dedup = ...` (functions of `ocean::delivery`).
pub(crate) const DELIVERY_IDS: &[&str] =
    &["github", "gitlab", "standard_webhooks", "jira", "bitbucket", "pagerduty", "stripe", "none"];

/// `` `a`, `b`, `c` ``.
pub(crate) fn list(names: &[&str]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// The closest name of `names` to `given`, when it is close enough to be a slip.
pub(crate) fn closest<'a>(given: &str, names: &[&'a str]) -> Option<&'a str> {
    names
        .iter()
        .map(|n| (distance(given, n), *n))
        .filter(|(d, n)| *d <= 2.max(n.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Levenshtein distance over bytes (names are ASCII).
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
