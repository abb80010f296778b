//! Mapping fidelity: every Port app config of the corpus loads, and every jq expression in them gives,
//! on real payloads, the output libjq gives as Port's Python framework runs it (PyPI `jq`, through
//! `tests/jq_reference.py`), except for the justified entries of `tests/conformance-exceptions.tsv`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ocean::mapping::{Mapping, PortAppConfig, Program};
use ocean_tests::corpus;
use serde_json::Value;

fn configs() -> Vec<PathBuf> {
    let root = corpus().join("port-app-configs");
    let mut files = Vec::new();
    for dir in [root.clone(), root.join("_extra")] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_corpus_config_loads_and_compiles() {
    let files = configs();
    assert!(files.len() >= 54, "corpus incomplete: {}", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        if let Err(e) = Mapping::parse(&f.display().to_string(), &text, false) {
            failures.push(e.to_string());
        }
    }
    assert!(failures.is_empty(), "configs that do not load:\n{}", failures.join("\n"));
}

/// Every jq expression of a config (selectors, `itemsToParse`, mapping leaves), with where it comes from.
fn expressions(cfg: &PortAppConfig) -> Vec<String> {
    fn walk(v: &Value, literal: bool, out: &mut Vec<String>) {
        match v {
            Value::String(s) if !literal && !ocean::mapping::is_integration_reference(s) => out.push(s.clone()),
            Value::Object(m) => {
                let search = m.contains_key("combinator") && m.contains_key("rules");
                let rule = m.contains_key("operator") && m.contains_key("value");
                for (k, v) in m {
                    let lit = (search && k == "combinator") || (rule && (k == "property" || k == "operator"));
                    walk(v, lit, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, false, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for r in &cfg.resources {
        out.push(r.selector.query.clone());
        out.extend(r.port.items_to_parse.clone());
        walk(&r.port.entity.mappings, false, &mut out);
    }
    out
}

/// Real inputs: each payload, and each object-valued field of it (processors hand those to the mapping).
fn inputs(folder: &str, limit: usize) -> Vec<Value> {
    let mut files = Vec::new();
    collect(&corpus().join("payloads").join(folder), &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let Ok(v) = serde_json::from_slice::<Value>(&std::fs::read(&f).unwrap()) else { continue };
        if let Value::Object(m) = &v {
            for sub in m.values().filter(|s| s.is_object()) {
                out.push(sub.clone());
            }
        }
        out.push(v);
    }
    // Spread the sample over the whole folder.
    let step = (out.len() / limit.max(1)).max(1);
    out.into_iter().step_by(step).take(limit).collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") && !p.ends_with("MANIFEST.json") {
            out.push(p);
        }
    }
}

/// The payload folders that fit a config, by integration name.
fn folders_for(config: &str) -> Vec<(&'static str, usize)> {
    match config {
        c if c.starts_with("github") => vec![("github", 160), ("go-playground/github", 40)],
        c if c.starts_with("gitlab") => vec![("go-playground/gitlab", 80)],
        c if c.starts_with("bitbucket") => {
            vec![("go-playground/bitbucket", 40), ("go-playground/bitbucket-server", 40)]
        }
        c if c.starts_with("azure-devops") => vec![("go-playground/azuredevops", 20)],
        _ => vec![("github/issues", 6), ("go-playground/gitea", 6), ("go-playground/gitlab", 6)],
    }
}

fn load_exceptions() -> BTreeMap<String, String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance-exceptions.tsv");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .map(|(p, r)| (p.replace("\\n", "\n"), r.to_owned()))
        .collect()
}

#[test]
fn every_corpus_expression_matches_libjq_on_real_payloads() {
    let mut pairs: Vec<(String, Value)> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut input_cache: BTreeMap<(&str, usize), Vec<Value>> = BTreeMap::new();
    for f in configs() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let cfg: PortAppConfig = serde_norway::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let exprs = expressions(&cfg);
        for (folder, limit) in folders_for(&name) {
            let ins = input_cache.entry((folder, limit)).or_insert_with(|| inputs(folder, limit)).clone();
            for e in &exprs {
                for (i, input) in ins.iter().enumerate() {
                    if seen.insert((e.clone(), folder, i)) {
                        pairs.push((e.clone(), input.clone()));
                    }
                }
            }
        }
    }
    assert!(pairs.len() > 10_000, "too few pairs: {}", pairs.len());

    let mut child = Command::new(ocean_tests::jq_reference_python())
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("jq_reference.py"))
        .arg("--batch")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the jq reference");
    let mut stdin = child.stdin.take().unwrap();
    let lines: Vec<String> =
        pairs.iter().map(|(p, i)| serde_json::json!({"program": p, "input": i}).to_string()).collect();
    let writer = std::thread::spawn(move || {
        for l in lines {
            writeln!(stdin, "{l}").unwrap();
        }
    });
    let reference: Vec<Value> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| serde_json::from_str::<Value>(&l.unwrap()).unwrap()["output"].clone())
        .collect();
    writer.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(reference.len(), pairs.len());

    let exceptions = load_exceptions();
    let mut compiled: BTreeMap<String, Option<Program>> = BTreeMap::new();
    let mut mismatches: BTreeMap<String, (Value, Value, Value)> = BTreeMap::new();
    let mut checked = 0;
    for ((program, input), expected) in pairs.iter().zip(&reference) {
        let p = compiled.entry(program.clone()).or_insert_with(|| Program::compile(program, false).ok());
        let ours = match p {
            Some(p) => p.first(input).ok().flatten().unwrap_or(Value::Null),
            None => Value::Null,
        };
        checked += 1;
        if !ocean_tests::same_json(&ours, expected, 1e-9) {
            mismatches.entry(program.clone()).or_insert((input.clone(), ours, expected.clone()));
        }
    }
    let unexplained: Vec<String> = mismatches
        .iter()
        .filter(|(p, _)| !exceptions.contains_key(*p))
        .map(|(p, (input, ours, theirs))| {
            let mut i = input.to_string();
            i.truncate(200);
            format!("{}\n    ours:   {ours}\n    libjq:  {theirs}\n    input:  {i}", p.replace('\n', "\\n"))
        })
        .collect();
    let stale: Vec<&String> = exceptions.keys().filter(|p| !mismatches.contains_key(*p)).collect();
    eprintln!(
        "checked {checked} (expression, payload) pairs over {} expressions; {} documented exceptions",
        compiled.len(),
        exceptions.len()
    );
    assert!(unexplained.is_empty(), "{} expressions differ from libjq:\n{}", unexplained.len(), unexplained.join("\n"));
    assert!(stale.is_empty(), "exceptions that no longer differ (remove them): {stale:?}");
}

/// What processors return: a member of the event's body (`event.payload.object("issue")`), left unparsed
/// until the mapping reads the members its programs name, maps as the same object parsed, with every
/// resource of every corpus config, as an upsert and as a delete, with a member set on it as the GitHub
/// example sets `__repository`, and the whole body too.
#[test]
fn objects_left_unparsed_map_as_parsed_ones() {
    let mut compared = 0;
    let mut unparsed_after = 0;
    let mut bodies_cache: BTreeMap<(&str, usize), Vec<Vec<u8>>> = BTreeMap::new();
    for f in configs() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let m = Mapping::parse(&name, &std::fs::read_to_string(&f).unwrap(), false).unwrap();
        let kinds: BTreeSet<String> = m.config().resources.iter().map(|r| r.kind.clone()).collect();
        for (folder, limit) in folders_for(&name) {
            let bodies = bodies_cache.entry((folder, limit)).or_insert_with(|| {
                let mut files = Vec::new();
                collect(&corpus().join("payloads").join(folder), &mut files);
                files.sort();
                let step = (files.len() / (limit / 4).max(1)).max(1);
                files.iter().step_by(step).map(|f| std::fs::read(f).unwrap()).collect()
            });
            for body in bodies.iter() {
                let payload = ocean::Payload::lazy(body.clone().into());
                let Ok(Value::Object(whole)) = serde_json::from_slice::<Value>(body) else { continue };
                let mut pairs: Vec<(ocean::Payload, Value)> = vec![(payload.clone(), Value::Object(whole.clone()))];
                for (key, member) in whole.iter().filter(|(_, v)| v.is_object()) {
                    let lazy = payload.object(key).expect("an object member is given as a payload");
                    pairs.push((lazy.clone(), member.clone()));
                    let (mut lazy, mut member) = (lazy, member.clone());
                    assert!(lazy.insert("__repository", "ocean".into()));
                    member["__repository"] = "ocean".into();
                    pairs.push((lazy, member));
                }
                for (lazy, value) in &pairs {
                    for kind in &kinds {
                        assert_eq!(
                            m.map_items(kind, std::slice::from_ref(lazy), &[]),
                            m.map_items(kind, std::slice::from_ref(value), &[]),
                            "{name}, kind {kind}, upserting {value}"
                        );
                        assert_eq!(
                            m.map_items(kind, &[], std::slice::from_ref(lazy)),
                            m.map_items(kind, &[], std::slice::from_ref(value)),
                            "{name}, kind {kind}, deleting {value}"
                        );
                        compared += 2;
                    }
                    unparsed_after += usize::from(!lazy.is_parsed());
                }
            }
        }
    }
    eprintln!("{compared} mappings compared; {unparsed_after} objects still unparsed after every kind mapped them");
    assert!(compared > 20_000, "too few comparisons: {compared}");
    assert!(unparsed_after > 1_000, "objects are parsed whole: {unparsed_after} left unparsed");
}
