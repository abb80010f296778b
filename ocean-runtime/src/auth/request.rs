//! Signing a request as a provider does: the headers a verifier accepts for a body and a secret. Used by
//! the testing kit and `ocean send`; the inverse of `schemes`.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::schemes::{key_bytes, signing_key};
use super::{Auth, Encoding, Scheme, sign};

impl Auth {
    /// The headers with which a provider would send `body` signed with `secret` at `now`, for this
    /// verifier as configured (its header, algorithm, encoding and prefix). A GitLab secret starting with
    /// `whsec_` is a signing token (Standard Webhooks headers); any other is the shared `X-Gitlab-Token`.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// let auth = ocean::auth::stripe();
    /// let headers = auth.sign_request("sk", b"{}", SystemTime::now()).unwrap();
    /// let v = auth.secret_value("sk").build_verifier(None).unwrap().unwrap();
    /// let h = ocean::Headers::from_pairs(headers);
    /// assert!(v.verify(b"{}", &h, SystemTime::now()).is_ok());
    /// ```
    pub fn sign_request(&self, secret: &str, body: &[u8], now: SystemTime) -> Result<Vec<(String, String)>, String> {
        let ts = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0).to_string();
        let key = key_bytes(self.scheme, secret)?;
        let hex = |bytes: Vec<u8>| hex::encode(bytes);
        let one = |k: &str, v: String| vec![(k.to_owned(), v)];
        let standard = |key: &[u8]| {
            let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
            let mac = sign(super::Algorithm::Sha256, key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
            vec![
                ("webhook-id".to_owned(), id),
                ("webhook-timestamp".to_owned(), ts.clone()),
                ("webhook-signature".to_owned(), format!("v1,{}", B64.encode(mac))),
            ]
        };
        Ok(match self.scheme {
            Scheme::Github => {
                one("x-hub-signature-256", format!("sha256={}", hex(sign(super::Algorithm::Sha256, &key, &[body]))))
            }
            Scheme::HubSignature => {
                let name = match self.algorithm {
                    super::Algorithm::Sha1 => "sha1",
                    super::Algorithm::Sha256 => "sha256",
                    super::Algorithm::Sha512 => "sha512",
                };
                one("x-hub-signature", format!("{name}={}", hex(sign(self.algorithm, &key, &[body]))))
            }
            Scheme::Gitlab if secret.starts_with("whsec_") => standard(&signing_key(secret.as_bytes())),
            Scheme::Gitlab => one("x-gitlab-token", secret.to_owned()),
            Scheme::StandardWebhooks => standard(&key),
            Scheme::Pagerduty => {
                one("x-pagerduty-signature", format!("v1={}", hex(sign(super::Algorithm::Sha256, &key, &[body]))))
            }
            Scheme::Stripe => {
                let mac = sign(super::Algorithm::Sha256, &key, &[ts.as_bytes(), b".", body]);
                one("stripe-signature", format!("t={ts},v1={}", hex(mac)))
            }
            Scheme::Slack => {
                let mac = sign(super::Algorithm::Sha256, &key, &[b"v0:", ts.as_bytes(), b":", body]);
                vec![
                    ("x-slack-request-timestamp".to_owned(), ts.clone()),
                    ("x-slack-signature".to_owned(), format!("v0={}", hex(mac))),
                ]
            }
            Scheme::Hmac => {
                let mac = sign(self.algorithm, &key, &[body]);
                let encoded = match self.encoding {
                    Encoding::Hex => hex(mac),
                    Encoding::Base64 => B64.encode(mac),
                };
                let header = self.header.clone().ok_or("the hmac verifier needs a `header`")?;
                vec![(header, format!("{}{encoded}", self.prefix.as_deref().unwrap_or_default()))]
            }
            Scheme::Token => {
                vec![(self.header.clone().ok_or("the token verifier needs a `header`")?, secret.to_owned())]
            }
            Scheme::Basic => one("authorization", format!("Basic {}", B64.encode(secret))),
        })
    }
}
