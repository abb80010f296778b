//! Built-in verifiers: the vectors providers publish, and for every scheme, end to end through a running
//! server, a valid request accepted and a flipped body, a wrong secret, a missing or malformed header and
//! (where timestamps apply) a stale or future timestamp answered 401.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use ocean::auth::{self, Algorithm, Auth, sign};
use ocean::testing::TestIntegration;
use ocean::{
    Headers, Processor, ProcessorError, ResourceConfig, WebhookEvent, WebhookEventRawResults, WebhookProcessor,
};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[test]
fn github_documentation_vector() {
    let v = auth::github().secret_value("It's a Secret to Everybody").build_verifier(None).unwrap().unwrap();
    let h = Headers::from_pairs([(
        "X-Hub-Signature-256",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    )]);
    assert!(v.verify(b"Hello, World!", &h, SystemTime::now()).is_ok());
    assert!(v.verify(b"Hello, World?", &h, SystemTime::now()).is_err());
}

#[test]
fn standard_webhooks_specification_vector() {
    let v = auth::standard_webhooks()
        .secret_value("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .build_verifier(None)
        .unwrap()
        .unwrap();
    let h = Headers::from_pairs([
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ("webhook-timestamp", "1614265330"),
        ("webhook-signature", "v1,bm9ldmVu v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
    ]);
    let at = UNIX_EPOCH + Duration::from_secs(1614265330 + 10);
    assert!(v.verify(br#"{"test": 2432232314}"#, &h, at).is_ok());
    let late = UNIX_EPOCH + Duration::from_secs(1614265330 + 301);
    assert_eq!(
        v.verify(br#"{"test": 2432232314}"#, &h, late),
        Err(ocean::AuthError::StaleTimestamp("webhook-timestamp".into()))
    );
}

#[test]
fn rotation_accepts_any_configured_secret() {
    let secrets = serde_json::json!(["old-secret", "new-secret"]);
    let v = auth::github().build_verifier(Some(&secrets)).unwrap().unwrap();
    for s in ["old-secret", "new-secret"] {
        let sig = format!("sha256={}", hex::encode(sign(Algorithm::Sha256, s.as_bytes(), &[b"x"])));
        assert!(v.verify(b"x", &Headers::from_pairs([("x-hub-signature-256", sig)]), SystemTime::now()).is_ok());
    }
    // Debug output never shows a secret.
    let shown = format!("{v:?}");
    assert!(!shown.contains("old-secret") && !shown.contains("new-secret"), "{shown}");
}

#[derive(Default)]
struct Accept;

impl WebhookProcessor for Accept {
    async fn get_matching_kinds(&self, _e: &WebhookEvent) -> Vec<String> {
        vec![]
    }
    async fn handle_event(
        &self,
        _e: &WebhookEvent,
        _r: &ResourceConfig,
    ) -> Result<WebhookEventRawResults, ProcessorError> {
        Ok(WebhookEventRawResults::empty())
    }
}

const SECRET: &str = "correct horse battery staple";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

type Signer = fn(&[u8], &str, u64) -> Vec<(&'static str, String)>;

struct Case {
    path: &'static str,
    auth: fn() -> Auth,
    secret: &'static str,
    sign: Signer,
    /// Header whose absence must be rejected.
    header: &'static str,
    timestamped: bool,
    /// Whether the body is signed (shared tokens and basic auth do not protect it).
    signs_body: bool,
}

fn hexmac(alg: Algorithm, key: &str, parts: &[&[u8]]) -> String {
    hex::encode(sign(alg, key.as_bytes(), parts))
}

fn standard_headers(body: &[u8], secret: &str, t: u64) -> Vec<(&'static str, String)> {
    let key = B64.decode(secret.trim_start_matches("whsec_")).unwrap_or_else(|_| secret.as_bytes().to_vec());
    let id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
    let ts = t.to_string();
    let mac = sign(Algorithm::Sha256, &key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    vec![("webhook-id", id.into()), ("webhook-timestamp", ts), ("webhook-signature", format!("v1,{}", B64.encode(mac)))]
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            path: "/github",
            auth: auth::github,
            secret: SECRET,
            sign: |b, s, _| vec![("x-hub-signature-256", format!("sha256={}", hexmac(Algorithm::Sha256, s, &[b])))],
            header: "x-hub-signature-256",
            timestamped: false,
            signs_body: true,
        },
        Case {
            path: "/gitlab-token",
            auth: auth::gitlab,
            secret: SECRET,
            sign: |_, s, _| vec![("x-gitlab-token", s.to_owned())],
            header: "x-gitlab-token",
            timestamped: false,
            signs_body: false,
        },
        Case {
            path: "/standard",
            auth: auth::standard_webhooks,
            secret: WHSEC,
            sign: standard_headers,
            header: "webhook-signature",
            timestamped: true,
            signs_body: true,
        },
        Case {
            path: "/jira",
            auth: auth::jira,
            secret: SECRET,
            sign: |b, s, _| vec![("x-hub-signature", format!("sha256={}", hexmac(Algorithm::Sha256, s, &[b])))],
            header: "x-hub-signature",
            timestamped: false,
            signs_body: true,
        },
        Case {
            path: "/pagerduty",
            auth: auth::pagerduty,
            secret: SECRET,
            sign: |b, s, _| {
                vec![("x-pagerduty-signature", format!("v1=00ff,v1={}", hexmac(Algorithm::Sha256, s, &[b])))]
            },
            header: "x-pagerduty-signature",
            timestamped: false,
            signs_body: true,
        },
        Case {
            path: "/stripe",
            auth: auth::stripe,
            secret: SECRET,
            sign: |b, s, t| {
                let ts = t.to_string();
                let sig = hexmac(Algorithm::Sha256, s, &[ts.as_bytes(), b".", b]);
                vec![("stripe-signature", format!("t={ts},v1={sig},v0=deadbeef"))]
            },
            header: "stripe-signature",
            timestamped: true,
            signs_body: true,
        },
        Case {
            path: "/slack",
            auth: auth::slack,
            secret: SECRET,
            sign: |b, s, t| {
                let ts = t.to_string();
                let sig = hexmac(Algorithm::Sha256, s, &[b"v0:", ts.as_bytes(), b":", b]);
                vec![("x-slack-request-timestamp", ts), ("x-slack-signature", format!("v0={sig}"))]
            },
            header: "x-slack-signature",
            timestamped: true,
            signs_body: true,
        },
        Case {
            path: "/hmac",
            auth: || auth::hmac().header("x-tfe-notification-signature").algorithm("sha512"),
            secret: SECRET,
            sign: |b, s, _| vec![("x-tfe-notification-signature", hexmac(Algorithm::Sha512, s, &[b]))],
            header: "x-tfe-notification-signature",
            timestamped: false,
            signs_body: true,
        },
        Case {
            path: "/hmac-base64",
            auth: || auth::hmac().header("x-signature").algorithm("sha1").encoding("base64").prefix("sha1="),
            secret: SECRET,
            sign: |b, s, _| {
                vec![("x-signature", format!("sha1={}", B64.encode(sign(Algorithm::Sha1, s.as_bytes(), &[b]))))]
            },
            header: "x-signature",
            timestamped: false,
            signs_body: true,
        },
        Case {
            path: "/token",
            auth: || auth::token().header("x-api-key"),
            secret: SECRET,
            sign: |_, s, _| vec![("x-api-key", s.to_owned())],
            header: "x-api-key",
            timestamped: false,
            signs_body: false,
        },
        Case {
            path: "/basic",
            auth: auth::basic,
            secret: "ocean:hunter2",
            sign: |_, s, _| vec![("authorization", format!("Basic {}", B64.encode(s)))],
            header: "authorization",
            timestamped: false,
            signs_body: false,
        },
    ]
}

#[tokio::test]
async fn every_scheme_accepts_genuine_requests_and_rejects_tampering_end_to_end() {
    let mut integration = ocean::Integration::new("auth").default_mapping("resources: []");
    for c in cases() {
        integration = integration.processor(Processor::of::<Accept>(c.path).auth((c.auth)().secret_value(c.secret)));
    }
    let it = TestIntegration::start(integration).await.unwrap();
    let corpus_body = ocean_tests::payload("github/issues/opened.payload.json");
    // GitLab 19 signing tokens: the Standard Webhooks headers, chosen by `webhook-signature`.
    let gitlab_signed = Case {
        path: "/gitlab-signed",
        auth: auth::gitlab,
        secret: WHSEC,
        sign: standard_headers,
        header: "webhook-signature",
        timestamped: true,
        signs_body: true,
    };
    let it_gl = TestIntegration::start(
        ocean::Integration::new("auth-gl")
            .default_mapping("resources: []")
            .processor(Processor::of::<Accept>("/gitlab-signed").auth(auth::gitlab().secret_value(WHSEC))),
    )
    .await
    .unwrap();
    let all: Vec<(Case, &TestIntegration)> =
        cases().into_iter().map(|c| (c, &it)).chain([(gitlab_signed, &it_gl)]).collect();
    for (c, it) in &all {
        let t = now();
        let body = corpus_body.as_slice();
        let send = |headers: Vec<(&'static str, String)>, body: Vec<u8>| async move {
            it.post(c.path, &body, &headers).await.status().as_u16()
        };
        // The answer's message names the verifier's own header, never the secret.
        let message = |headers: Vec<(&'static str, String)>| async move {
            let r = it.post(c.path, body, &headers).await;
            assert_eq!(r.status(), 401);
            let v: serde_json::Value = r.json().await.unwrap();
            let m = v["message"].as_str().unwrap().to_owned();
            assert!(!m.contains(c.secret), "{}: the secret is in `{m}`", c.path);
            m
        };
        assert_eq!(send((c.sign)(body, c.secret, t), body.to_vec()).await, 202, "{}: genuine", c.path);
        let mut flipped = body.to_vec();
        // A letter inside a string value: the body stays JSON, only the signature can tell.
        let at = body.windows(6).position(|w| w == b"opened").expect("an opened event") + 1;
        flipped[at] ^= 0x01;
        if c.signs_body {
            assert_eq!(send((c.sign)(body, c.secret, t), flipped).await, 401, "{}: flipped body", c.path);
        }
        let wrong =
            if c.secret.starts_with("whsec_") { "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" } else { "wrong:secret" };
        let m = message((c.sign)(body, wrong, t)).await;
        let shown = display(c.header);
        assert_eq!(m, format!("`{shown}` does not match"), "{}: wrong secret", c.path);
        let without: Vec<_> = (c.sign)(body, c.secret, t).into_iter().filter(|(k, _)| *k != c.header).collect();
        let m = message(without).await;
        // GitLab without `webhook-signature` falls back to its token header.
        let missing = if c.path == "/gitlab-signed" { "X-Gitlab-Token".to_owned() } else { shown };
        assert_eq!(m, format!("missing header `{missing}`"), "{}: missing header", c.path);
        let malformed: Vec<_> = (c.sign)(body, c.secret, t)
            .into_iter()
            .map(|(k, v)| if k == c.header { (k, "%%not a signature%%".to_owned()) } else { (k, v) })
            .collect();
        assert_eq!(send(malformed, body.to_vec()).await, 401, "{}: malformed header", c.path);
        // The signature header twice, a genuine copy and a forged one, in either order: refused.
        let genuine = (c.sign)(body, c.secret, t);
        let forged: Vec<_> = (c.sign)(body, wrong, t).into_iter().filter(|(k, _)| *k == c.header).collect();
        let twice: Vec<_> = genuine.iter().cloned().chain(forged.iter().cloned()).collect();
        assert_eq!(send(twice, body.to_vec()).await, 401, "{}: genuine then forged header", c.path);
        let twice: Vec<_> = forged.iter().cloned().chain(genuine.iter().cloned()).collect();
        assert_eq!(send(twice, body.to_vec()).await, 401, "{}: forged then genuine header", c.path);
        if c.timestamped {
            assert_eq!(send((c.sign)(body, c.secret, t - 600), body.to_vec()).await, 401, "{}: stale", c.path);
            assert_eq!(send((c.sign)(body, c.secret, t + 600), body.to_vec()).await, 401, "{}: future", c.path);
        }
    }
    it.shutdown().await;
    it_gl.shutdown().await;
}

/// `x-hub-signature-256` → `X-Hub-Signature-256`.
fn display(header: &str) -> String {
    header.split('-').map(|p| p[..1].to_ascii_uppercase() + &p[1..]).collect::<Vec<_>>().join("-")
}
