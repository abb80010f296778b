//! One function per signature scheme. Each tries every key and never reveals which part failed beyond
//! the header name.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::sign::{Algorithm, Encoding, ct_eq, sign, token_eq};
use super::{Auth, Scheme};
use crate::error::AuthError;
use crate::event::Headers;

type R = Result<(), AuthError>;

/// The key bytes of a secret: Standard Webhooks keys are base64 after an optional `whsec_`.
pub(super) fn key_bytes(scheme: Scheme, secret: &str) -> Result<Vec<u8>, String> {
    match scheme {
        Scheme::StandardWebhooks => {
            let raw = secret.strip_prefix("whsec_").unwrap_or(secret);
            B64.decode(raw).map_err(|_| "a Standard Webhooks secret must be base64 (after `whsec_`)".to_owned())
        }
        // GitLab keys stay raw: a signing token is decoded only when a signature is checked (`signing_key`).
        _ => Ok(secret.as_bytes().to_vec()),
    }
}

/// A GitLab signing token as key bytes: base64 after `whsec_`, the raw bytes otherwise.
pub(super) fn signing_key(raw: &[u8]) -> Vec<u8> {
    match raw.strip_prefix(b"whsec_") {
        Some(rest) => B64.decode(rest).unwrap_or_else(|_| raw.to_vec()),
        None => raw.to_vec(),
    }
}

fn header<'h>(headers: &'h Headers, name: &str) -> Result<&'h str, AuthError> {
    headers.get(name).ok_or_else(|| AuthError::MissingHeader(name.to_owned()))
}

fn malformed(name: &str) -> AuthError {
    AuthError::MalformedHeader(name.to_owned())
}

fn any_key(keys: &[Vec<u8>], name: &str, f: impl Fn(&[u8]) -> bool) -> R {
    // Every key is tried, whatever the outcome, so timing does not tell which key matched.
    let mut ok = false;
    for k in keys {
        ok |= f(k);
    }
    if ok { Ok(()) } else { Err(AuthError::Mismatch(name.to_owned())) }
}

fn hex_sig(s: &str, name: &str) -> Result<Vec<u8>, AuthError> {
    hex::decode(s.trim()).map_err(|_| malformed(name))
}

pub(super) fn github(keys: &[Vec<u8>], body: &[u8], headers: &Headers, legacy: bool) -> R {
    if let Some(v) = headers.get("x-hub-signature-256") {
        let sig = v.strip_prefix("sha256=").ok_or_else(|| malformed("x-hub-signature-256"))?;
        let sig = hex_sig(sig, "x-hub-signature-256")?;
        return any_key(keys, "x-hub-signature-256", |k| ct_eq(&sign(Algorithm::Sha256, k, &[body]), &sig));
    }
    if legacy && let Some(v) = headers.get("x-hub-signature") {
        let sig = v.strip_prefix("sha1=").ok_or_else(|| malformed("x-hub-signature"))?;
        let sig = hex_sig(sig, "x-hub-signature")?;
        return any_key(keys, "x-hub-signature", |k| ct_eq(&sign(Algorithm::Sha1, k, &[body]), &sig));
    }
    Err(AuthError::MissingHeader("x-hub-signature-256".into()))
}

pub(super) fn prefixed_hex(keys: &[Vec<u8>], body: &[u8], headers: &Headers, name: &str, alg: Algorithm) -> R {
    let v = header(headers, name)?;
    let (prefix, sig) = v.split_once('=').ok_or_else(|| malformed(name))?;
    let expected_prefix = match alg {
        Algorithm::Sha1 => "sha1",
        Algorithm::Sha256 => "sha256",
        Algorithm::Sha512 => "sha512",
    };
    if !prefix.eq_ignore_ascii_case(expected_prefix) {
        return Err(malformed(name));
    }
    let sig = hex_sig(sig, name)?;
    any_key(keys, name, |k| ct_eq(&sign(alg, k, &[body]), &sig))
}

fn check_timestamp(ts: &str, now: SystemTime, tolerance: Duration, name: &str) -> Result<i64, AuthError> {
    let t: i64 = ts.trim().parse().map_err(|_| malformed(name))?;
    let now = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    if (now - t).unsigned_abs() > tolerance.as_secs() {
        return Err(AuthError::StaleTimestamp(name.to_owned()));
    }
    Ok(t)
}

pub(super) fn standard(keys: &[Vec<u8>], body: &[u8], headers: &Headers, now: SystemTime, tol: Duration) -> R {
    let id = header(headers, "webhook-id")?;
    let ts = header(headers, "webhook-timestamp")?;
    let sigs = header(headers, "webhook-signature")?;
    check_timestamp(ts, now, tol, "webhook-timestamp")?;
    let candidates: Vec<Vec<u8>> =
        sigs.split_whitespace().filter_map(|s| s.strip_prefix("v1,")).filter_map(|s| B64.decode(s).ok()).collect();
    if candidates.is_empty() {
        return Err(malformed("webhook-signature"));
    }
    any_key(keys, "webhook-signature", |k| {
        let mac = sign(Algorithm::Sha256, k, &[id.as_bytes(), b".", ts.trim().as_bytes(), b".", body]);
        candidates.iter().fold(false, |ok, c| ok | ct_eq(&mac, c))
    })
}

pub(super) fn pagerduty(keys: &[Vec<u8>], body: &[u8], headers: &Headers) -> R {
    let v = header(headers, "x-pagerduty-signature")?;
    let candidates: Vec<Vec<u8>> =
        v.split(',').filter_map(|s| s.trim().strip_prefix("v1=")).filter_map(|s| hex::decode(s).ok()).collect();
    if candidates.is_empty() {
        return Err(malformed("x-pagerduty-signature"));
    }
    any_key(keys, "x-pagerduty-signature", |k| {
        let mac = sign(Algorithm::Sha256, k, &[body]);
        candidates.iter().fold(false, |ok, c| ok | ct_eq(&mac, c))
    })
}

pub(super) fn stripe(keys: &[Vec<u8>], body: &[u8], headers: &Headers, now: SystemTime, tol: Duration) -> R {
    let v = header(headers, "stripe-signature")?;
    let mut t = None;
    let mut candidates = Vec::new();
    for part in v.split(',') {
        match part.trim().split_once('=') {
            Some(("t", ts)) => t = Some(ts),
            Some(("v1", s)) => candidates.extend(hex::decode(s).ok()),
            _ => {}
        }
    }
    let t = t.ok_or_else(|| malformed("stripe-signature"))?;
    if candidates.is_empty() {
        return Err(malformed("stripe-signature"));
    }
    check_timestamp(t, now, tol, "stripe-signature")?;
    any_key(keys, "stripe-signature", |k| {
        let mac = sign(Algorithm::Sha256, k, &[t.as_bytes(), b".", body]);
        candidates.iter().fold(false, |ok, c| ok | ct_eq(&mac, c))
    })
}

pub(super) fn slack(keys: &[Vec<u8>], body: &[u8], headers: &Headers, now: SystemTime, tol: Duration) -> R {
    let ts = header(headers, "x-slack-request-timestamp")?;
    let v = header(headers, "x-slack-signature")?;
    let sig = v.strip_prefix("v0=").ok_or_else(|| malformed("x-slack-signature"))?;
    let sig = hex_sig(sig, "x-slack-signature")?;
    check_timestamp(ts, now, tol, "x-slack-request-timestamp")?;
    let base = |k: &[u8]| sign(Algorithm::Sha256, k, &[b"v0:", ts.trim().as_bytes(), b":", body]);
    any_key(keys, "x-slack-signature", |k| ct_eq(&base(k), &sig))
}

pub(super) fn generic(keys: &[Vec<u8>], body: &[u8], headers: &Headers, a: &Auth) -> R {
    let name = super::header_of(a);
    let v = header(headers, name)?;
    let v = match super::prefix_of(a) {
        Some(p) => v.strip_prefix(p).ok_or_else(|| malformed(name))?,
        None => v,
    };
    let sig = match super::encoding_of(a) {
        Encoding::Hex => hex::decode(v.trim()).map_err(|_| malformed(name))?,
        Encoding::Base64 => B64.decode(v.trim()).map_err(|_| malformed(name))?,
    };
    let alg = super::algorithm_of(a);
    any_key(keys, name, |k| ct_eq(&sign(alg, k, &[body]), &sig))
}

pub(super) fn token(keys: &[Vec<u8>], headers: &Headers, name: &str) -> R {
    let v = header(headers, name)?;
    any_key(keys, name, |k| token_eq(k, v.as_bytes()))
}

pub(super) fn basic(keys: &[Vec<u8>], headers: &Headers) -> R {
    let v = header(headers, "authorization")?;
    let encoded =
        v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")).ok_or_else(|| malformed("authorization"))?;
    let decoded = B64.decode(encoded.trim()).map_err(|_| malformed("authorization"))?;
    any_key(keys, "authorization", |k| token_eq(k, &decoded))
}
