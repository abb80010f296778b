//! Intake over arbitrary requests: the header block and the body of a request as the intake sees them.
//! Every verifier, every delivery-id source and a jq group key run over them; none may panic, and a
//! request whose signature the target computed itself must verify.
//!
//! Input: `name: value` lines, an empty line, then the body; without an empty line, all of it is the body
//! (so corpus payloads are seeds as they are). When the input's length is odd, the target signs the body
//! with the GitHub scheme before verifying, so that the accepting path is reached as well; when it is 3
//! modulo 4, it adds a second, forged signature header, which every verifier must refuse.

#![no_main]

use std::sync::LazyLock;
use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use ocean::actix_web::web::Bytes;
use ocean::auth::{self, Algorithm, Auth, Verifier};
use ocean::delivery;
use ocean::mapping::Program;
use ocean::{Headers, WebhookEvent};

const SECRET: &str = "fuzz-secret";

struct Fixture {
    verifiers: Vec<Verifier>,
    sources: Vec<delivery::DeliveryId>,
    group_by: Program,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let schemes: Vec<Auth> = vec![
        auth::github(),
        auth::github().legacy_sha1(true),
        auth::gitlab(),
        auth::standard_webhooks(),
        auth::hub_signature().algorithm("sha1"),
        auth::jira(),
        auth::bitbucket(),
        auth::pagerduty(),
        auth::stripe(),
        auth::slack(),
        auth::hmac().header("x-signature").algorithm("sha512").encoding("base64").prefix("v1="),
        auth::token().header("x-token"),
        auth::basic(),
    ];
    let verifiers = schemes
        .iter()
        .map(|a| {
            // Standard Webhooks keys are base64 after `whsec_`.
            let secret = match a.scheme() {
                auth::Scheme::StandardWebhooks => "whsec_ZnV6ei1zZWNyZXQ=",
                _ => SECRET,
            };
            let secret = serde_json::Value::String(secret.into());
            a.build_verifier(Some(&secret)).expect("valid verifier").expect("secret given")
        })
        .collect();
    let sources = vec![
        delivery::github(),
        delivery::gitlab(),
        delivery::jira(),
        delivery::bitbucket(),
        delivery::standard_webhooks(),
        delivery::stripe(),
        delivery::pagerduty(),
    ];
    let group_by = Program::compile(".issue.id // .pull_request.id // .repository.id", false).expect("valid jq");
    Fixture { verifiers, sources, group_by }
});

/// Splits the input into `(headers, body)` at the first empty line.
fn split(data: &[u8]) -> (Vec<(String, String)>, &[u8]) {
    let end = data.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match end {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (&[][..], data),
    };
    let headers = String::from_utf8_lossy(head)
        .lines()
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned())))
        .collect();
    (headers, body)
}

fuzz_target!(|data: &[u8]| {
    let (mut pairs, body) = split(data);
    let signed = data.len() % 2 == 1;
    if signed {
        let mac: String =
            auth::sign(Algorithm::Sha256, SECRET.as_bytes(), &[body]).iter().map(|b| format!("{b:02x}")).collect();
        pairs.retain(|(k, _)| k != "x-hub-signature-256");
        pairs.push(("x-hub-signature-256".into(), format!("sha256={mac}")));
    }
    let doubled = data.len() % 4 == 3;
    if doubled {
        pairs.push(("x-hub-signature-256".into(), format!("sha256={}", "0".repeat(64))));
    }
    // A header any verifier reads, sent more than once, is refused by that verifier.
    let repeated: Vec<String> = {
        let mut names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        names.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0].to_owned()).collect()
    };
    let headers = Headers::from_pairs(pairs);
    let now = SystemTime::now();
    let f = &*FIXTURE;
    for (i, v) in f.verifiers.iter().enumerate() {
        let verdict = v.verify(body, &headers, now);
        if v.headers().iter().any(|h| repeated.iter().any(|r| r.eq_ignore_ascii_case(h))) {
            assert!(verdict.is_err(), "a verifier accepted a request with a repeated header it reads");
        } else if signed && !doubled && i == 0 {
            assert!(verdict.is_ok(), "a body signed with the secret must verify: {verdict:?}");
        }
    }
    // The intake parses the body only as JSON; anything else is a 400.
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(body) else { return };
    let event = WebhookEvent::new("/webhook", Bytes::copy_from_slice(body), payload, headers);
    for s in &f.sources {
        let _ = s.extract(&event);
    }
    let _ = f.group_by.first(&event.payload);
});
