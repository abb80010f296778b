//! Reading a JSON body without building it: validity, and the value at a simple path (`.issue.id`),
//! in one pass that allocates only the value it returns. Intake uses it for group keys and delivery ids,
//! so that an event whose processors decide from headers is never parsed whole before it is queued.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// Whether `body` is one JSON value in UTF-8 (skipping strings does not check their bytes, so the
/// whole body is checked first); the error says where it is not.
pub(crate) fn validate(body: &[u8]) -> Result<(), String> {
    text(body)?;
    serde_json::from_slice::<IgnoredAny>(body).map(|_| ()).map_err(|e| e.to_string())
}

/// What skipping strings does not check: UTF-8, and `\u` escapes of surrogates (a lone one is not
/// JSON text). A body with a surrogate escape is parsed whole to check it; such bodies are rare.
pub(crate) fn text(body: &[u8]) -> Result<(), String> {
    // SIMD first; the standard library's check, slower, only to say where the text is not UTF-8.
    if simdutf8::basic::from_utf8(body).is_err()
        && let Err(e) = std::str::from_utf8(body)
    {
        return Err(format!("not UTF-8: {e}"));
    }
    // memchr's vectorised search: a byte-by-byte window cost as much as the rest of intake's reading.
    if memchr::memmem::find_iter(body, br"\u").any(|i| matches!(body.get(i + 2), Some(b'd' | b'D'))) {
        serde_json::from_slice::<Value>(body).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The value at `path` of the JSON document `body`, as jq's `.a.b` gives it on objects: `None` when a
/// key is missing or a step meets something else than an object; an error when the body is not one
/// JSON value in UTF-8 (the whole body is checked, as [`validate`] does). A key given twice counts as
/// its last occurrence, as in a parsed object.
pub(crate) fn at_path<S: AsRef<str>>(body: &[u8], path: &[S]) -> Result<Option<Value>, String> {
    text(body)?;
    at_path_of_text(body, path)
}

/// [`at_path`] in a body whose text is known to be valid (UTF-8 without lone surrogate escapes).
pub(crate) fn at_path_of_text<S: AsRef<str>>(body: &[u8], path: &[S]) -> Result<Option<Value>, String> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let found = At(path).deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(found)
}

/// Walks down `path`, skipping everything else.
struct At<'p, S>(&'p [S]);

impl<'de, S: AsRef<str>> DeserializeSeed<'de> for At<'_, S> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match self.0.split_first() {
            None => serde::Deserialize::deserialize(d).map(Some),
            Some((key, rest)) => d.deserialize_any(Step { key: key.as_ref(), rest }),
        }
    }
}

struct Step<'p, S> {
    key: &'p str,
    rest: &'p [S],
}

impl<'de, S: AsRef<str>> Visitor<'de> for Step<'_, S> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(matches) = map.next_key_seed(KeyIs(self.key))? {
            if matches {
                found = map.next_value_seed(At(self.rest))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// Whether the next key is `self.0`, compared without copying it.
struct KeyIs<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::mapping::Program;

    /// Every payload of the corpus, with its file.
    pub(crate) fn payloads() -> Vec<(std::path::PathBuf, Vec<u8>)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/payloads");
        let mut out = Vec::new();
        let mut dirs = vec![root];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "json") {
                    out.push((p.clone(), std::fs::read(&p).unwrap()));
                }
            }
        }
        out
    }

    #[test]
    fn the_raw_reading_of_a_path_is_jq_s_over_every_corpus_payload() {
        let paths = [
            ".issue.id",
            ".pull_request.id",
            ".repository.id",
            ".repository.owner.login",
            ".action",
            ".sender",
            ".issue.labels",
            ".object_attributes.iid",
            ".commits",
            ".missing.deeper",
        ];
        let programs: Vec<Program> = paths.iter().map(|p| Program::compile(p, false).unwrap()).collect();
        let all = payloads();
        assert!(all.len() > 400, "the corpus is where it should be");
        for (file, body) in &all {
            let parsed: Value = serde_json::from_slice(body).unwrap();
            validate(body).unwrap();
            for p in &programs {
                let path = p.simple_path().unwrap();
                let jq = p.first(&parsed).ok().flatten().filter(|v| !v.is_null());
                let raw = at_path(body, path).unwrap().filter(|v| !v.is_null());
                assert_eq!(raw, jq, "{} {}", file.display(), p.source());
            }
        }
    }

    #[test]
    fn the_last_of_twice_given_keys_counts_and_escaped_keys_match() {
        assert_eq!(at_path(br#"{"a": {"b": 1}, "a": {"b": 2}}"#, &["a", "b"]), Ok(Some(Value::from(2))));
        assert_eq!(at_path(br#"{"\u0061": 3}"#, &["a"]), Ok(Some(Value::from(3))));
        assert_eq!(at_path(br#"{"a": [1, {"b": 2}]}"#, &["a", "b"]), Ok(None));
        assert!(at_path(br#"{"a": 1} trailing"#, &["a"]).is_err(), "not one JSON value");
        assert!(at_path(br#"{"a": 1, "b": [}"#, &["a"]).is_err(), "checked past the value found");
        assert!(validate(br#"{"a": 1"#).is_err());
        let odd: [&[u8]; 5] = [
            br#"{"a": "\ud800"}"#,
            br#"{"a": "\uD83D\uDE00"}"#,
            br#"{"\udc00": 1}"#,
            b"{\"a\": \"\xff\"}",
            br#"{"a": "\x"}"#,
        ];
        for odd in odd {
            let parsed = serde_json::from_slice::<Value>(odd);
            assert_eq!(validate(odd).is_ok(), parsed.is_ok(), "{}", String::from_utf8_lossy(odd));
            assert_eq!(at_path(odd, &["a"]).is_ok(), parsed.is_ok(), "{}", String::from_utf8_lossy(odd));
        }
    }
}
