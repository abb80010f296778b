//! `ocean map --config <port-app-config> --kind <kind> [FILE...]`, and `ocean map --config <...> --check`.

use std::io::{Read, Write};
use std::path::PathBuf;

use ocean::mapping::Mapping;
use serde_json::{Value, json};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The Port app config (YAML or JSON).
    #[arg(long)]
    config: PathBuf,
    /// The resource kind to map the items with.
    #[arg(long, required_unless_present = "check")]
    kind: Option<String>,
    /// Only compile the config: list every expression that does not compile (file, resource, field,
    /// position), without stopping at the first; exit 1 when there is one.
    #[arg(long, conflicts_with_all = ["kind", "deleted", "files"])]
    check: bool,
    /// Treat the items as deleted raw results.
    #[arg(long)]
    deleted: bool,
    /// Let mappings read `env` and `$ENV`.
    #[arg(long)]
    allow_env: bool,
    /// Files of raw items (a JSON object or array each); standard input when none.
    files: Vec<PathBuf>,
}

fn items_of(text: &str, origin: &str) -> Result<Vec<Value>, String> {
    match serde_json::from_str::<Value>(text).map_err(|e| format!("{origin}: {e}"))? {
        Value::Array(a) => Ok(a),
        v => Ok(vec![v]),
    }
}

/// Compiles every expression of the config and prints one line per expression that does not compile.
fn check(a: &Args, text: &str) -> Result<(), String> {
    let origin = a.config.display().to_string();
    let mapping = Mapping::parse_lenient(&origin, text, a.allow_env).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    for problem in mapping.broken() {
        writeln!(out, "{problem}").map_err(|e| e.to_string())?;
    }
    match mapping.broken().len() {
        0 => {
            writeln!(out, "{origin}: {} resources, every expression compiles", mapping.config().resources.len())
                .map_err(|e| e.to_string())?;
            Ok(())
        }
        n => Err(format!("{origin}: {n} expressions do not compile")),
    }
}

pub(crate) fn run(a: Args) -> Result<(), String> {
    let text = std::fs::read_to_string(&a.config).map_err(|e| format!("{}: {e}", a.config.display()))?;
    if a.check {
        return check(&a, &text);
    }
    let kind = a.kind.clone().unwrap_or_default();
    let mapping = Mapping::parse(&a.config.display().to_string(), &text, a.allow_env).map_err(|e| e.to_string())?;
    if mapping.resources_of(&kind).next().is_none() {
        let kinds: Vec<&str> = mapping.config().resources.iter().map(|r| r.kind.as_str()).collect();
        return Err(format!("no resource of kind `{kind}` in {}; kinds: {}", a.config.display(), kinds.join(", ")));
    }
    let mut items = Vec::new();
    if a.files.is_empty() {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| e.to_string())?;
        items.extend(items_of(&s, "stdin")?);
    }
    for f in &a.files {
        let s = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        items.extend(items_of(&s, &f.display().to_string())?);
    }
    let changes = if a.deleted { mapping.map_items(&kind, &[], &items) } else { mapping.map_items(&kind, &items, &[]) };
    let mut out = std::io::stdout().lock();
    for e in &changes.upserts {
        let line = serde_json::to_string(e).map_err(|e| e.to_string())?;
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
    }
    for d in &changes.deletes {
        writeln!(out, "{}", json!({"delete": d})).map_err(|e| e.to_string())?;
    }
    Ok(())
}
