//! `ocean map --config <port-app-config> --kind <kind> [FILE...]`.

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
    #[arg(long)]
    kind: String,
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

pub(crate) fn run(a: Args) -> Result<(), String> {
    let text = std::fs::read_to_string(&a.config).map_err(|e| format!("{}: {e}", a.config.display()))?;
    let mapping = Mapping::parse(&a.config.display().to_string(), &text, a.allow_env).map_err(|e| e.to_string())?;
    if mapping.resources_of(&a.kind).next().is_none() {
        let kinds: Vec<&str> = mapping.config().resources.iter().map(|r| r.kind.as_str()).collect();
        return Err(format!("no resource of kind `{}` in {}; kinds: {}", a.kind, a.config.display(), kinds.join(", ")));
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
    let changes =
        if a.deleted { mapping.map_items(&a.kind, &[], &items) } else { mapping.map_items(&a.kind, &items, &[]) };
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
