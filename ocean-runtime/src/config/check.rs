//! What the layered loader cannot see: misspelt keys, where in `config.yaml` a bad value is, and ranges.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::Settings;

/// The settings file as read, for messages that point into it.
pub(super) struct YamlSource<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
}

impl YamlSource<'_> {
    /// `config.yaml line 3 column 5`, or the file alone when the key cannot be found in the text.
    pub(super) fn describe(&self, path: &[String]) -> String {
        match locate(self.text, path) {
            Some((line, col)) => format!("{} line {line} column {col}", self.path.display()),
            None => self.path.display().to_string(),
        }
    }
}

/// The line and column (1-based) of a nested key in YAML text, found by indentation.
fn locate(text: &str, path: &[String]) -> Option<(usize, usize)> {
    let (mut depth, mut parent) = (0usize, None::<usize>);
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        match parent {
            // Back at the parent's level or above: the section ended without the key.
            Some(p) if indent <= p => return None,
            None if indent > 0 => continue,
            _ => {}
        }
        let Some((key, _)) = trimmed.split_once(':') else { continue };
        let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
        if super::snake_case(key) == path[depth] {
            depth += 1;
            if depth == path.len() {
                return Some((n + 1, indent + 1));
            }
            parent = Some(indent);
        }
    }
    None
}

/// Every key path of the settings, from their defaults: `["http", "port"]`, ...
fn known() -> (BTreeSet<Vec<String>>, BTreeSet<String>) {
    let mut leaves = BTreeSet::new();
    let mut sections = BTreeSet::new();
    fn walk(prefix: &mut Vec<String>, v: &Value, leaves: &mut BTreeSet<Vec<String>>, sections: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) if !(prefix.len() == 2 && prefix[0] == "integration" && prefix[1] == "config") => {
                if prefix.len() == 1 {
                    sections.insert(prefix[0].clone());
                }
                for (k, v) in m {
                    prefix.push(k.clone());
                    walk(prefix, v, leaves, sections);
                    prefix.pop();
                }
            }
            _ => {
                leaves.insert(prefix.clone());
            }
        }
    }
    let defaults = serde_json::to_value(Settings::default()).unwrap_or(Value::Null);
    walk(&mut Vec::new(), &defaults, &mut leaves, &mut sections);
    (leaves, sections)
}

/// Whether `path` is a setting or lies under the integration's free-form config.
fn is_known(leaves: &BTreeSet<Vec<String>>, path: &[String]) -> bool {
    leaves.contains(path) || (path.len() > 2 && path[0] == "integration" && path[1] == "config")
}

/// The edit distance between two keys, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn closest<'a>(leaves: &'a BTreeSet<Vec<String>>, path: &[String]) -> Option<&'a Vec<String>> {
    let wanted = path.join("__");
    leaves
        .iter()
        .filter(|l| l.first() == path.first())
        .map(|l| (distance(&wanted, &l.join("__")), l))
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, l)| l)
}

/// A key that is not a setting: an error when it lies under a section this runtime reads (a misspelling),
/// a warning otherwise (a setting of the reference framework that this runtime does not use).
pub(super) enum Unknown {
    Error(String),
    Warning(String),
}

fn judge(
    leaves: &BTreeSet<Vec<String>>,
    sections: &BTreeSet<String>,
    path: &[String],
    name: &str,
    hint: impl Fn(&[String]) -> String,
) -> Option<Unknown> {
    if path.is_empty() || is_known(leaves, path) {
        return None;
    }
    let suggestion = closest(leaves, path).map(|l| format!(" (did you mean {}?)", hint(l))).unwrap_or_default();
    if sections.contains(&path[0]) {
        Some(Unknown::Error(format!("unknown setting {name}{suggestion}")))
    } else {
        Some(Unknown::Warning(format!("setting {name} is not used by this runtime{suggestion}")))
    }
}

/// The `OCEAN__*` variables that name no setting.
pub(super) fn unknown_env(vars: impl Iterator<Item = (String, String)>) -> Vec<Unknown> {
    let (leaves, sections) = known();
    let env_name = |p: &[String]| format!("`OCEAN__{}`", p.join("__").to_ascii_uppercase());
    vars.filter_map(|(k, _)| {
        let rest = k.strip_prefix("OCEAN__")?;
        let path: Vec<String> = rest.to_ascii_lowercase().split("__").map(str::to_owned).collect();
        judge(&leaves, &sections, &path, &format!("`{k}`"), env_name)
    })
    .collect()
}

/// The keys of `config.yaml` that name no setting, with their line.
pub(super) fn unknown_yaml(source: &YamlSource<'_>, value: &Value) -> Vec<Unknown> {
    let (leaves, sections) = known();
    let mut out = Vec::new();
    let mut stack = vec![(Vec::<String>::new(), value)];
    while let Some((path, v)) = stack.pop() {
        match v {
            Value::Object(m) if !is_known(&leaves, &path) || path.is_empty() => {
                let open = sections.contains(path.first().map_or("", String::as_str)) || path.is_empty();
                if !path.is_empty() && !open {
                    out.extend(judge(&leaves, &sections, &path, &format!("`{}`", path.join(".")), |p| {
                        format!("`{}`", p.join("."))
                    }));
                    continue;
                }
                for (k, v) in m {
                    let mut p = path.clone();
                    p.push(k.clone());
                    stack.push((p, v));
                }
            }
            _ => {
                let name = format!("`{}` ({})", path.join("."), source.describe(&path));
                out.extend(judge(&leaves, &sections, &path, &name, |p| format!("`{}`", p.join("."))));
            }
        }
    }
    out
}

/// A numeric setting outside what the runtime can honour.
fn range(problems: &mut Vec<String>, key: &str, value: f64, min: f64, max: f64, unit: &str) {
    if !(value.is_finite() && (min..=max).contains(&value)) {
        let env = format!("OCEAN__{}", key.replace('.', "__").to_ascii_uppercase());
        problems.push(format!("invalid setting `{key}` ({env}): {value} is outside {min}..={max} {unit}"));
    }
}

impl Settings {
    /// Checks ranges: durations a timer can hold, counts that leave the process able to run.
    ///
    /// ```
    /// let mut s = ocean::config::Settings::default();
    /// assert!(s.validate().is_ok());
    /// s.max_event_processing_seconds = 1.8e19;
    /// let e = s.validate().unwrap_err().to_string();
    /// assert!(e.contains("OCEAN__MAX_EVENT_PROCESSING_SECONDS"), "{e}");
    /// ```
    pub fn validate(&self) -> crate::Result<()> {
        const DAY: f64 = 86_400.0;
        let mut p = Vec::new();
        range(&mut p, "max_event_processing_seconds", self.max_event_processing_seconds, 0.001, 7.0 * DAY, "seconds");
        range(&mut p, "max_wait_seconds_before_shutdown", self.max_wait_seconds_before_shutdown, 0.0, DAY, "seconds");
        range(&mut p, "event_workers_count", self.event_workers_count as f64, 1.0, 4096.0, "workers");
        range(&mut p, "processing_niceness", f64::from(self.processing_niceness), 0.0, 19.0, "niceness");
        if let Some(t) = self.processing_threads {
            range(&mut p, "processing_threads", t as f64, 1.0, 1024.0, "threads");
        }
        range(&mut p, "http.max_body_bytes", self.http.max_body_bytes as f64, 1.0, 1024.0 * 1024.0 * 1024.0, "bytes");
        range(&mut p, "http.body_timeout_seconds", self.http.body_timeout_seconds as f64, 1.0, DAY, "seconds");
        if let Some(w) = self.http.workers {
            range(&mut p, "http.workers", w as f64, 1.0, 1024.0, "threads");
        }
        if let Some(c) = self.http.max_connections {
            range(&mut p, "http.max_connections", c as f64, 1.0, 1_000_000.0, "connections");
        }
        range(&mut p, "queue.capacity", self.queue.capacity as f64, 1.0, 1e9, "events");
        range(&mut p, "queue.memory_mib", self.queue.memory_mib as f64, 1.0, 1024.0 * 1024.0, "MiB");
        range(
            &mut p,
            "queue.dedup_window_seconds",
            self.queue.dedup_window_seconds as f64,
            0.0,
            365.0 * DAY,
            "seconds",
        );
        range(
            &mut p,
            "queue.dedup_memory_entries",
            self.queue.dedup_memory_entries as f64,
            1000.0,
            1e9,
            "delivery ids",
        );
        range(&mut p, "queue.hot_memory_mib", self.queue.hot_memory_mib as f64, 0.0, 1024.0 * 1024.0, "MiB");
        range(&mut p, "queue.segment_mib", self.queue.segment_mib as f64, 1.0, 4096.0, "MiB");
        range(&mut p, "queue.lease_seconds", self.queue.lease_seconds as f64, 2.0, DAY, "seconds");
        range(&mut p, "postgres.pool_size", self.postgres.pool_size as f64, 1.0, 1000.0, "connections");
        if self.queue.backend == super::QueueBackend::Postgres && self.postgres.url.is_none() {
            p.push("OCEAN__QUEUE__BACKEND=postgres needs OCEAN__POSTGRES__URL (postgres://user:password@host:port/database)".into());
        }
        range(&mut p, "mapping.leaf_budget_ms", self.mapping.leaf_budget_ms as f64, 1.0, 600_000.0, "ms");
        range(&mut p, "port.request_timeout", self.port.request_timeout as f64, 1.0, 3600.0, "seconds");
        range(&mut p, "port.app_config_cache_ttl", self.port.app_config_cache_ttl as f64, 1.0, 365.0 * DAY, "seconds");
        if let Some(m) = self.scheduled_resync_interval {
            range(&mut p, "scheduled_resync_interval", m, 0.001, 365.0 * 24.0 * 60.0, "minutes");
        }
        if let Some(r) = self.rate_limit.requests_per_second {
            range(&mut p, "rate_limit.requests_per_second", r, 0.001, 1e6, "calls per second");
        }
        if let Some(b) = self.rate_limit.burst {
            range(&mut p, "rate_limit.burst", b as f64, 1.0, 1e6, "calls");
        }
        if p.is_empty() { Ok(()) } else { Err(crate::Error::Config(p.join("\n"))) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_nested_keys_by_indentation() {
        let text = "queue:\n  capacity: 3\nhttp:\n  # comment\n  port: abc\n";
        assert_eq!(locate(text, &["http".into(), "port".into()]), Some((5, 3)));
        assert_eq!(locate(text, &["queue".into(), "port".into()]), None);
        assert_eq!(locate("eventWorkersCount: x\n", &["event_workers_count".into()]), Some((1, 1)));
    }

    #[test]
    fn suggests_the_closest_key() {
        assert_eq!(distance("http__prot", "http__port"), 2);
        let (leaves, _) = known();
        let got = closest(&leaves, &["queue".into(), "backen".into()]).unwrap();
        assert_eq!(got, &vec!["queue".to_owned(), "backend".to_owned()]);
    }
}
