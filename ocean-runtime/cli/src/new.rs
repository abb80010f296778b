//! `ocean new NAME`: a ready integration crate (a processor, its `.port/` files, a passing test, a README).

use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The crate's name, also its folder (created in the current directory).
    name: String,
    /// Depend on the runtime at this path (a checkout's `ocean-runtime` folder) instead of the published
    /// version.
    #[arg(long, value_name = "PATH")]
    ocean_path: Option<PathBuf>,
}

/// The files of a new crate: (path in the crate, template).
const FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../templates/Cargo.toml.txt")),
    ("README.md", include_str!("../templates/README.md.txt")),
    (".gitignore", include_str!("../templates/gitignore.txt")),
    ("src/main.rs", include_str!("../templates/main.rs.txt")),
    ("src/tests.rs", include_str!("../templates/tests.rs.txt")),
    (".port/spec.yaml", include_str!("../templates/spec.yaml.txt")),
    (".port/resources/port-app-config.yml", include_str!("../templates/port-app-config.yml.txt")),
    // A GitHub event for `ocean send` (its event is the folder's name).
    ("events/issues/opened.json", include_str!("../templates/opened.json.txt")),
];

/// A package name cargo accepts: ASCII letters, digits, `-` and `_`, starting with a letter.
fn check_name(name: &str) -> Result<(), String> {
    let ok = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}` is not a crate name: use ASCII letters, digits, `-` and `_`, starting with a letter"))
    }
}

/// `version = "..."`, or `path = "..."` to a runtime checkout (made absolute, checked to be one).
fn dependency(ocean_path: Option<&Path>) -> Result<String, String> {
    let Some(path) = ocean_path else {
        return Ok(format!("version = \"{}\"", env!("CARGO_PKG_VERSION")));
    };
    let manifest = path.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| format!("--ocean-path: cannot read {}: {e}", manifest.display()))?;
    if !text.lines().any(|l| l.trim() == "name = \"ocean-runtime\"") {
        return Err(format!("--ocean-path: {} is not the manifest of `ocean-runtime`", manifest.display()));
    }
    let absolute = std::fs::canonicalize(path).map_err(|e| format!("--ocean-path {}: {e}", path.display()))?;
    let shown = absolute.to_str().ok_or_else(|| format!("--ocean-path {}: not UTF-8", absolute.display()))?;
    Ok(format!("path = {}", serde_json::Value::String(shown.to_owned())))
}

pub(crate) fn run(a: Args) -> Result<(), String> {
    check_name(&a.name)?;
    let root = PathBuf::from(&a.name);
    if root.exists() {
        return Err(format!("`{}` already exists; choose another name or remove it", root.display()));
    }
    let ocean = dependency(a.ocean_path.as_deref())?;
    for (rel, template) in FILES {
        let file = root.join(rel);
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let text = template.replace("{{name}}", &a.name).replace("{{ocean}}", &ocean);
        std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    println!("created `{}`: cd {} && cargo test", a.name, root.display());
    Ok(())
}
