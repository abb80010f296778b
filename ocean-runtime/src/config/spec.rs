//! `.port/spec.yaml`: the typed integration config, read from `OCEAN__INTEGRATION__CONFIG__<NAME>`.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Deserialize)]
struct Entry {
    name: String,
    #[serde(rename = "type", default = "default_type")]
    kind: String,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    default: Option<Value>,
    #[serde(default)]
    sensitive: bool,
}

fn default_type() -> String {
    "string".into()
}

#[derive(Debug, Clone, Deserialize, Default)]
struct SpecFile {
    #[serde(default)]
    configurations: Vec<Entry>,
}

/// The integration's spec: which config entries exist, their types, which are required and sensitive.
#[derive(Debug, Clone, Default)]
pub struct IntegrationSpec {
    entries: Vec<Entry>,
}

impl IntegrationSpec {
    /// Parses a spec (YAML or JSON). `origin` names the file in errors.
    ///
    /// ```
    /// let spec = ocean::config::IntegrationSpec::parse("spec.yaml", r#"
    /// configurations:
    ///   - name: webhookSecret
    ///     type: string
    ///     required: true
    ///     sensitive: true
    /// "#).unwrap();
    /// let err = spec.resolve(&serde_json::Map::new()).unwrap_err().to_string();
    /// assert!(err.contains("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET"));
    /// ```
    pub fn parse(origin: &str, text: &str) -> Result<Self> {
        let file: SpecFile = serde_norway::from_str(text).map_err(|e| Error::Config(format!("{origin}: {e}")))?;
        Ok(Self { entries: file.configurations })
    }

    /// Whether a config entry is sensitive (never logged).
    pub fn is_sensitive(&self, name: &str) -> bool {
        let key = super::snake_case(name);
        self.entries.iter().any(|e| e.sensitive && super::snake_case(&e.name) == key)
    }

    /// Checks and types the raw config (string values from the environment, typed ones from YAML).
    pub fn resolve(&self, raw: &Map<String, Value>) -> Result<Map<String, Value>> {
        let mut out = raw.clone();
        let mut errors = Vec::new();
        for e in &self.entries {
            let key = super::snake_case(&e.name);
            let env = format!("OCEAN__INTEGRATION__CONFIG__{}", key.to_ascii_uppercase());
            match raw.get(&key).cloned() {
                None | Some(Value::Null) => match &e.default {
                    Some(d) => {
                        out.insert(key, d.clone());
                    }
                    None if e.required => errors.push(format!("missing required setting `{}` ({env})", e.name)),
                    None => {}
                },
                Some(v) => match coerce(&e.kind, e.sensitive, v) {
                    Ok(v) => {
                        out.insert(key, v);
                    }
                    Err(why) => errors.push(format!("invalid setting `{}` ({env}): {why}", e.name)),
                },
            }
        }
        if errors.is_empty() { Ok(out) } else { Err(Error::Config(errors.join("\n"))) }
    }
}

/// A secret may be several, for rotation: a YAML list of strings in `config.yaml` is kept as a list (the
/// verifier reads it, as it reads a JSON array given in one environment variable).
fn coerce(kind: &str, sensitive: bool, v: Value) -> std::result::Result<Value, String> {
    if let Value::Array(items) = &v
        && sensitive
        && kind == "string"
        && !items.is_empty()
        && items.iter().all(Value::is_string)
    {
        return Ok(v);
    }
    match (kind, v) {
        ("string" | "url", Value::String(s)) => Ok(Value::String(s)),
        ("string" | "url", Value::Number(n)) => Ok(Value::String(n.to_string())),
        ("integer", Value::String(s)) => {
            s.trim().parse::<i64>().map(Value::from).map_err(|_| format!("expected an integer, got `{s}`"))
        }
        ("integer", Value::Number(n)) if n.is_i64() => Ok(Value::Number(n)),
        ("boolean", Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Value::Bool(true)),
            "false" | "0" | "no" => Ok(Value::Bool(false)),
            _ => Err(format!("expected a boolean, got `{s}`")),
        },
        ("boolean", Value::Bool(b)) => Ok(Value::Bool(b)),
        ("object" | "array", Value::String(s)) => {
            let v: Value = serde_json::from_str(&s).map_err(|e| format!("expected JSON: {e}"))?;
            match (kind, &v) {
                ("object", Value::Object(_)) | ("array", Value::Array(_)) => Ok(v),
                _ => Err(format!("expected a JSON {kind}")),
            }
        }
        ("object", v @ Value::Object(_)) | ("array", v @ Value::Array(_)) => Ok(v),
        (_, v) if !matches!(kind, "string" | "url" | "integer" | "boolean" | "object" | "array") => Ok(v),
        (kind, v) => Err(format!("expected {kind}, got {v}")),
    }
}
