//! The mapping engine against jq's own test files (`corpus/jq-tests`: the manual's examples and the
//! language suite): each case's program is compiled as a mapping leaf and run on its input, and its first
//! output (an error or no output as null, Port's semantics) is compared with libjq's as Port's Python
//! framework runs it (PyPI `jq`, `jq_reference.py --batch --detail`). Each case runs in a child process
//! (`jq_cases`), so that a case that aborts or never ends is one failed case, not a failed run.
//!
//! Every case that differs is listed in `jq-conformance-exceptions.tsv` (`file:line`, the program, the
//! reason); the test fails when an unlisted case differs or a listed one no longer does, so the list only
//! shrinks. `JQ_CONFORMANCE_BLESS=1` rewrites the list from the current differences, keeping the reasons
//! written by hand.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

const FILES: [&str; 5] = ["man.test", "jq.test", "onig.test", "uri.test", "base64.test"];

/// Names whose cases do not apply to mappings: they read input streams, the environment, the clock, the
/// time zone, modules, build options, or write to the terminal.
const NOT_APPLICABLE: [&str; 22] = [
    "input",
    "inputs",
    "input_filename",
    "input_line_number",
    "$__loc__",
    "$__prog_args",
    "$__prog_name",
    "debug",
    "stderr",
    "halt",
    "halt_error",
    "now",
    "env",
    "$ENV",
    "import",
    "include",
    "modulemeta",
    "get_search_list",
    "have_decnum",
    "have_literal_numbers",
    "localtime",
    "strflocaltime",
];

struct Case {
    /// `file:line` of the program.
    key: String,
    file: &'static str,
    program: String,
    input: Value,
}

/// The identifiers of a program outside its string literals.
fn names(program: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_string = false;
    let mut escaped = false;
    for c in program.chars() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' || c == '$' {
            cur.push(c);
        } else {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            in_string = c == '"';
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The applicable cases of a test file: program, input and expected lines separated by blank lines;
/// `#` comments between cases; `%%FAIL` blocks (programs that must not compile) left out.
fn cases(file: &'static str) -> (Vec<Case>, usize) {
    let path = ocean_tests::corpus().join("jq-tests").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (mut out, mut skipped) = (Vec::new(), 0);
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() || line.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i;
        while i < lines.len() && !lines[i].trim().is_empty() {
            i += 1;
        }
        if line.starts_with("%%FAIL") || i - start < 2 {
            continue;
        }
        let program = line.to_owned();
        let input = serde_json::from_str::<Value>(lines[start + 1].trim_start_matches('\u{feff}'));
        let applicable = !names(&program).iter().any(|n| NOT_APPLICABLE.contains(&n.as_str()));
        match input {
            Ok(input) if applicable => out.push(Case { key: format!("{file}:{}", start + 1), file, program, input }),
            _ => skipped += 1,
        }
    }
    (out, skipped)
}

/// A case's outcome here.
#[derive(Clone)]
enum Ours {
    Output(Value),
    None,
    Error(String),
    NotCompiled(String),
    Crash,
    Hang,
}

impl Ours {
    /// The value Port keeps: the first output, or null.
    fn port_value(&self) -> Value {
        match self {
            Self::Output(v) => v.clone(),
            _ => Value::Null,
        }
    }
}

fn request(c: &Case) -> String {
    json!({"program": c.program, "input": c.input}).to_string()
}

/// libjq's answer to every case: `(output, compiled)`.
fn reference(all: &[Case]) -> Vec<(Value, bool)> {
    let mut child = Command::new(ocean_tests::jq_reference_python())
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("jq_reference.py"))
        .args(["--batch", "--detail"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the jq reference");
    let mut stdin = child.stdin.take().unwrap();
    let lines: Vec<String> = all.iter().map(request).collect();
    let writer = std::thread::spawn(move || {
        for l in lines {
            writeln!(stdin, "{l}").unwrap();
        }
    });
    let answers: Vec<(Value, bool)> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(&l.unwrap()).expect("a reference answer");
            (v["output"].clone(), v["compiled"] == true)
        })
        .collect();
    writer.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(answers.len(), all.len(), "the reference stopped early");
    answers
}

/// The child evaluating cases, with the lines it answers on a channel.
struct Evaluator {
    child: Child,
    answers: mpsc::Receiver<String>,
}

impl Evaluator {
    fn start(requests: Vec<String>) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_jq_cases"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start jq_cases");
        let mut stdin: ChildStdin = child.stdin.take().unwrap();
        // A child that dies stops reading: the writer's errors end it.
        std::thread::spawn(move || {
            for r in requests {
                if writeln!(stdin, "{r}").is_err() {
                    return;
                }
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, answers) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self { child, answers }
    }
}

/// Our answer to every case, each isolated: a crash or a hang costs that case, and the child restarts.
fn ours(all: &[Case]) -> Vec<Ours> {
    let mut out = Vec::with_capacity(all.len());
    while out.len() < all.len() {
        let mut ev = Evaluator::start(all[out.len()..].iter().map(request).collect());
        while out.len() < all.len() {
            match ev.answers.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    let v: Value = serde_json::from_str(&line).expect("an answer line");
                    out.push(if let Some(o) = v.get("output") {
                        Ours::Output(o.clone())
                    } else if v.get("none").is_some() {
                        Ours::None
                    } else if let Some(e) = v["error"].as_str() {
                        Ours::Error(e.to_owned())
                    } else {
                        Ours::NotCompiled(v["compile_error"].as_str().unwrap_or_default().to_owned())
                    });
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    out.push(Ours::Crash);
                    break;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    out.push(Ours::Hang);
                    break;
                }
            }
        }
        let _ = ev.child.kill();
        let _ = ev.child.wait();
    }
    out
}

fn short(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 80 {
        let mut end = 80;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// Why a case differs, in one line.
fn reason(ours: &Ours, theirs: &Value, compiled: bool) -> String {
    match ours {
        Ours::Crash => "aborts the evaluating process".into(),
        Ours::Hang => "does not end within 30 s".into(),
        Ours::NotCompiled(e) => format!("does not compile here ({e}); libjq gives {}", short(theirs)),
        _ if !compiled => format!("compiles here, not in libjq; here {}", short(&ours.port_value())),
        Ours::Error(e) => format!("error here ({}); libjq gives {}", short(&Value::String(e.clone())), short(theirs)),
        Ours::None => format!("no output here; libjq gives {}", short(theirs)),
        Ours::Output(v) => format!("here {}; libjq gives {}", short(v), short(theirs)),
    }
}

/// Whether a reason is one [`reason`] wrote.
fn generated(why: &str) -> bool {
    ["here ", "error here", "no output here", "does not compile here", "compiles here", "aborts", "does not end"]
        .iter()
        .any(|p| why.starts_with(p))
}

fn exceptions_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("jq-conformance-exceptions.tsv")
}

/// `file:line` → (program, reason).
fn load_exceptions() -> BTreeMap<String, (String, String)> {
    let text = std::fs::read_to_string(exceptions_path()).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut parts = l.splitn(3, '\t');
            Some((parts.next()?.to_owned(), (parts.next()?.to_owned(), parts.next()?.to_owned())))
        })
        .collect()
}

#[test]
fn jq_s_own_test_files_give_libjq_s_first_outputs() {
    let mut all = Vec::new();
    let mut skipped = BTreeMap::new();
    for f in FILES {
        let (cs, s) = cases(f);
        skipped.insert(f, s);
        all.extend(cs);
    }
    assert!(all.len() > 700, "too few applicable cases: {}", all.len());
    let theirs = reference(&all);
    let ours = ours(&all);

    // Per file: cases, identical, differing, not compiling here, crashes, hangs.
    let mut table: BTreeMap<&str, [usize; 6]> = BTreeMap::new();
    let mut differing: BTreeMap<String, (String, String)> = BTreeMap::new();
    for ((c, o), (t, compiled)) in all.iter().zip(&ours).zip(&theirs) {
        let row = table.entry(c.file).or_default();
        row[0] += 1;
        let compiles_here = !matches!(o, Ours::NotCompiled(_));
        if ocean_tests::same_json(&o.port_value(), t, 1e-12)
            && compiles_here == *compiled
            && !matches!(o, Ours::Crash | Ours::Hang)
        {
            row[1] += 1;
            continue;
        }
        row[2] += 1;
        match o {
            Ours::NotCompiled(_) => row[3] += 1,
            Ours::Crash => row[4] += 1,
            Ours::Hang => row[5] += 1,
            _ => {}
        }
        differing.insert(c.key.clone(), (c.program.replace('\t', " "), reason(o, t, *compiled)));
    }
    let total: [usize; 6] = table.values().fold([0; 6], |mut acc, r| {
        acc.iter_mut().zip(r).for_each(|(a, b)| *a += b);
        acc
    });
    eprintln!("file\tcases\tidentical\tdiffering\tnot compiling\tcrashes\thangs\tleft out");
    for f in FILES {
        let r = table.get(f).copied().unwrap_or_default();
        eprintln!("{f}\t{}\t{}\t{}\t{}\t{}\t{}\t{}", r[0], r[1], r[2], r[3], r[4], r[5], skipped[f]);
    }
    eprintln!(
        "all\t{}\t{} ({:.1} %)\t{}\t{}\t{}\t{}\t{}",
        total[0],
        total[1],
        100.0 * total[1] as f64 / total[0] as f64,
        total[2],
        total[3],
        total[4],
        total[5],
        skipped.values().sum::<usize>()
    );

    let exceptions = load_exceptions();
    if std::env::var_os("JQ_CONFORMANCE_BLESS").is_some() {
        let mut text = String::from(
            "# Cases of jq's test files (tests/corpus/jq-tests) whose first output differs from libjq's, one per line:\n# file:line<TAB>program<TAB>reason. Written by JQ_CONFORMANCE_BLESS=1 (reasons written by hand are kept).\n",
        );
        let mut keys: Vec<&String> = differing.keys().collect();
        keys.sort_by_key(|k| {
            let (f, l) = k.split_once(':').unwrap();
            (FILES.iter().position(|x| *x == f), l.parse::<usize>().unwrap_or(0))
        });
        for k in keys {
            let (program, why) = &differing[k];
            // A reason written by hand is kept; a generated one is written anew.
            let why = exceptions.get(k).map(|(_, r)| r).filter(|r| !generated(r)).unwrap_or(why);
            text.push_str(&format!("{k}\t{program}\t{why}\n"));
        }
        std::fs::write(exceptions_path(), text).unwrap();
        return;
    }
    let unlisted: Vec<String> = differing
        .iter()
        .filter(|(k, _)| !exceptions.contains_key(*k))
        .map(|(k, (p, why))| format!("{k}\t{p}\t{why}"))
        .collect();
    let stale: Vec<&String> = exceptions.keys().filter(|k| !differing.contains_key(*k)).collect();
    assert!(
        unlisted.is_empty(),
        "{} cases differ from libjq and are not in jq-conformance-exceptions.tsv:\n{}",
        unlisted.len(),
        unlisted.join("\n")
    );
    assert!(stale.is_empty(), "listed cases that now give libjq's output (remove them from the list): {stale:?}");
}
