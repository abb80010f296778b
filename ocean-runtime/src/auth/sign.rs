//! HMAC computation and constant-time checks.

use hmac::{Hmac, KeyInit, Mac};
use subtle::ConstantTimeEq;

/// A hash function for HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// SHA-1 (legacy senders only).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl std::str::FromStr for Algorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().replace('-', "").as_str() {
            "sha1" => Ok(Self::Sha1),
            "sha256" => Ok(Self::Sha256),
            "sha512" => Ok(Self::Sha512),
            other => Err(format!("unknown algorithm `{other}`; expected one of: `sha1`, `sha256`, `sha512`")),
        }
    }
}

/// How a signature is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Lower- or upper-case hexadecimal.
    Hex,
    /// Standard base64.
    Base64,
}

impl std::str::FromStr for Encoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "hex" => Ok(Self::Hex),
            "base64" => Ok(Self::Base64),
            other => Err(format!("unknown encoding `{other}`; expected one of: `hex`, `base64`")),
        }
    }
}

/// HMAC of the concatenated `parts` under `key`.
///
/// ```
/// use ocean::auth::{sign, Algorithm};
/// let mac = sign(Algorithm::Sha256, b"It's a Secret to Everybody", &[b"Hello, World!"]);
/// assert_eq!(hex::encode(mac), "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
/// ```
pub fn sign(alg: Algorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        // HMAC accepts keys of any length, so this cannot fail.
        let Ok(mut m) = <M as KeyInit>::new_from_slice(key) else { return Vec::new() };
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().to_vec()
    }
    match alg {
        Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
        Algorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
        Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts),
    }
}

/// Constant-time equality of an expected MAC and a candidate.
pub(crate) fn ct_eq(expected: &[u8], candidate: &[u8]) -> bool {
    expected.len() == candidate.len() && bool::from(expected.ct_eq(candidate))
}

/// Constant-time equality of two tokens of any length: compares their SHA-256 digests.
pub(crate) fn token_eq(expected: &[u8], candidate: &[u8]) -> bool {
    use sha2::Digest;
    let a = sha2::Sha256::digest(expected);
    let b = sha2::Sha256::digest(candidate);
    bool::from(a.as_slice().ct_eq(b.as_slice()))
}
