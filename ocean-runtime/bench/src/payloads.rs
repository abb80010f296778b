//! The payloads of the load: the corpus's GitHub `issues` delivery, one signed copy per issue number.

use std::path::PathBuf;

use ocean::auth::{Algorithm, sign};
use serde_json::Value;

pub(crate) const SECRET: &str = "bench-secret";

pub(crate) struct Payloads {
    template: Value,
}

impl Payloads {
    pub(crate) fn load() -> Result<Self, String> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/corpus/payloads/github/issues/opened.payload.json");
        let v: Value = serde_json::from_slice(&std::fs::read(&root).map_err(|e| format!("{}: {e}", root.display()))?)
            .map_err(|e| e.to_string())?;
        Ok(Self { template: v })
    }

    /// A signed event for issue `n`: body and headers.
    pub(crate) fn event(&self, n: u64) -> (Vec<u8>, String, String) {
        let mut v = self.template.clone();
        v["issue"]["id"] = n.into();
        v["issue"]["number"] = n.into();
        let body = serde_json::to_vec(&v).unwrap_or_default();
        let sig = format!("sha256={}", hex::encode(sign(Algorithm::Sha256, SECRET.as_bytes(), &[&body])));
        (body, sig, format!("bench-{n}"))
    }
}
