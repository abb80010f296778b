//! GitHub's REST API inside the test, on loopback: repositories, issues (with the pull requests GitHub's
//! issues endpoint mixes in) and pull requests of one organisation, in pages of two with `Link` headers,
//! built from the corpus's objects. A listing can be held until released, and a page can be made to fail.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

pub(crate) const ORG: &str = "Codertocat";
pub(crate) const TOKEN: &str = "gh-token";
const PAGE: usize = 2;

pub(crate) struct Github {
    pub(crate) base: Mutex<String>,
    pub(crate) repos: Mutex<Vec<Value>>,
    pub(crate) issues: Mutex<BTreeMap<String, Vec<Value>>>,
    pub(crate) pulls: Mutex<BTreeMap<String, Vec<Value>>>,
    /// A listing path whose page 2 answers 403.
    pub(crate) fail_page_2: Mutex<Option<String>>,
    /// A listing path whose first page waits for `release`; the whole listing is read before waiting, and
    /// its later pages are served from that snapshot, as a cursor over the API's state at that moment.
    pub(crate) hold: Mutex<Option<String>>,
    snapshot: Mutex<Option<Vec<Value>>>,
    pub(crate) held: AtomicUsize,
    release: tokio::sync::watch::Sender<bool>,
    pub(crate) calls: Mutex<Vec<String>>,
}

fn corpus(rel: &str) -> Value {
    serde_json::from_slice(&ocean_tests::payload(rel)).unwrap()
}

/// A number of its own per repository name.
fn seed(repo: &str) -> u64 {
    repo.bytes().map(u64::from).sum()
}

pub(crate) fn repo(name: &str, id: u64) -> Value {
    let mut r = corpus("github/issues/opened.payload.json")["repository"].clone();
    r["name"] = name.into();
    r["full_name"] = format!("{ORG}/{name}").into();
    r["id"] = id.into();
    r["url"] = format!("https://api.github.com/repos/{ORG}/{name}").into();
    r["html_url"] = format!("https://github.com/{ORG}/{name}").into();
    r
}

/// An issue of `repo`; issue 1 of `Hello-World` is the corpus's own (id 444500041).
pub(crate) fn issue(repo: &str, number: u64, title: &str) -> Value {
    let mut i = corpus("github/issues/opened.payload.json")["issue"].clone();
    let id = if repo == "Hello-World" && number == 1 { 444_500_041 } else { 900_000 + seed(repo) * 100 + number };
    i["id"] = id.into();
    i["number"] = number.into();
    i["title"] = title.into();
    i["url"] = format!("https://api.github.com/repos/{ORG}/{repo}/issues/{number}").into();
    i["repository_url"] = format!("https://api.github.com/repos/{ORG}/{repo}").into();
    i
}

pub(crate) fn pull(repo: &str, number: u64, state: &str) -> Value {
    let mut p = corpus("github/pull_request/opened.payload.json")["pull_request"].clone();
    p["id"] = (700_000 + seed(repo) * 100 + number).into();
    p["number"] = number.into();
    p["state"] = state.into();
    p["title"] = format!("{repo} #{number}").into();
    p["head"]["repo"]["name"] = repo.into();
    p["url"] = format!("https://api.github.com/repos/{ORG}/{repo}/pulls/{number}").into();
    p
}

impl Github {
    /// Three repositories; each with three issues and one pull request in its issues listing, and one
    /// open and one closed pull request.
    pub(crate) fn new() -> Self {
        let names = ["Hello-World", "Spoon-Knife", "octo-app"];
        let mut issues = BTreeMap::new();
        let mut pulls = BTreeMap::new();
        for name in names {
            let mut list: Vec<Value> = (1..=3).map(|n| issue(name, n, &format!("{name} issue {n}"))).collect();
            let mut pr_as_issue = issue(name, 4, "a pull request, as the issues endpoint lists it");
            pr_as_issue["pull_request"] = json!({"url": format!("https://api.github.com/repos/{ORG}/{name}/pulls/4")});
            list.insert(1, pr_as_issue);
            issues.insert(name.to_owned(), list);
            pulls.insert(name.to_owned(), vec![pull(name, 4, "open"), pull(name, 5, "closed")]);
        }
        Self {
            base: Mutex::new(String::new()),
            repos: Mutex::new(names.iter().enumerate().map(|(i, n)| repo(n, 100 + i as u64)).collect()),
            issues: Mutex::new(issues),
            pulls: Mutex::new(pulls),
            fail_page_2: Mutex::new(None),
            hold: Mutex::new(None),
            snapshot: Mutex::new(None),
            held: AtomicUsize::new(0),
            release: tokio::sync::watch::channel(false).0,
            calls: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn release(&self) {
        self.release.send_replace(true);
    }

    pub(crate) fn set_issue_title(&self, repo: &str, number: u64, title: &str) {
        let mut issues = self.issues.lock().unwrap();
        for i in issues.get_mut(repo).unwrap().iter_mut().filter(|i| i["number"] == number) {
            i["title"] = title.into();
        }
    }
}

fn page_of(items: &[Value], page: usize, base: &str, path: &str, query: &str) -> HttpResponse {
    let start = (page - 1) * PAGE;
    let chunk: Vec<Value> = items.iter().skip(start).take(PAGE).cloned().collect();
    let mut resp = HttpResponse::Ok();
    if start + PAGE < items.len() {
        let rest: Vec<&str> = query.split('&').filter(|p| !p.starts_with("page=") && !p.is_empty()).collect();
        let next = format!("{base}{path}?{}&page={}", rest.join("&"), page + 1);
        resp.insert_header(("link", format!("<{next}>; rel=\"next\", <{base}{path}?page=99>; rel=\"last\"")));
    }
    resp.json(chunk)
}

pub(crate) async fn handle(req: HttpRequest, gh: web::Data<std::sync::Arc<Github>>) -> HttpResponse {
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if auth != format!("Bearer {TOKEN}") {
        return HttpResponse::Unauthorized().json(json!({"message": "Bad credentials"}));
    }
    let (path, query) = (req.path().to_owned(), req.query_string().to_owned());
    gh.calls.lock().unwrap().push(format!("{} {path}?{query}", req.method()));
    let param = |k: &str| query.split('&').find_map(|p| p.strip_prefix(&format!("{k}="))).map(str::to_owned);
    let page: usize = param("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    if page == 2 && gh.fail_page_2.lock().unwrap().as_deref() == Some(path.as_str()) {
        return HttpResponse::Forbidden().json(json!({"message": "Resource not accessible by integration"}));
    }
    let base = gh.base.lock().unwrap().clone();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let items: Vec<Value> = match parts.as_slice() {
        ["orgs", ORG, "hooks"] => return HttpResponse::Ok().json(json!([])),
        ["orgs", ORG, "repos"] => gh.repos.lock().unwrap().clone(),
        ["repos", ORG, repo, "issues"] => gh.issues.lock().unwrap().get(*repo).cloned().unwrap_or_default(),
        ["repos", ORG, repo, "pulls"] => {
            let state = param("state").unwrap_or_else(|| "open".into());
            let all = gh.pulls.lock().unwrap().get(*repo).cloned().unwrap_or_default();
            all.into_iter().filter(|p| state == "all" || p["state"] == state.as_str()).collect()
        }
        ["repos", ORG, repo, what @ ("issues" | "pulls"), number] => {
            let store = if *what == "issues" { &gh.issues } else { &gh.pulls };
            let number: u64 = number.parse().unwrap_or_default();
            let found = store.lock().unwrap().get(*repo).and_then(|l| {
                l.iter()
                    .find(|i| i["number"] == number && (*what == "pulls" || i.get("pull_request").is_none()))
                    .cloned()
            });
            return match found {
                Some(v) => HttpResponse::Ok().json(v),
                None => HttpResponse::NotFound().json(json!({"message": "Not Found"})),
            };
        }
        ["repos", ORG, repo] => {
            let found = gh.repos.lock().unwrap().iter().find(|r| r["name"] == *repo).cloned();
            return match found {
                Some(v) => HttpResponse::Ok().json(v),
                None => HttpResponse::NotFound().json(json!({"message": "Not Found"})),
            };
        }
        _ => return HttpResponse::NotFound().json(json!({"message": "Not Found"})),
    };
    if gh.hold.lock().unwrap().as_deref() == Some(path.as_str()) {
        if page == 1 {
            *gh.snapshot.lock().unwrap() = Some(items.clone());
            gh.held.fetch_add(1, Ordering::AcqRel);
            let mut released = gh.release.subscribe();
            let _ = released.wait_for(|r| *r).await;
        } else if let Some(snapshot) = gh.snapshot.lock().unwrap().clone() {
            return page_of(&snapshot, page, &base, &path, &query);
        }
    }
    page_of(&items, page, &base, &path, &query)
}

/// Starts the API; its base URL and handle.
pub(crate) async fn start(gh: std::sync::Arc<Github>) -> (String, actix_web::dev::ServerHandle) {
    let (base, handle) = ocean_tests::serve(gh.clone(), handle).await;
    *gh.base.lock().unwrap() = base.clone();
    (base, handle)
}
