//! Every corpus payload of GitHub's `issues`, `pull_request` and `push` events, signed and sent to the
//! running example; the catalog ends as the mapping says, closed pull requests deleted.

use std::collections::BTreeMap;
use std::time::Duration;

use ocean::testing::TestIntegration;
use ocean_tests::payload_files;
use serde_json::Value;

const SECRET: &str = "corpus-secret";

async fn start() -> TestIntegration {
    TestIntegration::start_with(example_github::integration(), |s| {
        s.integration.config.insert("webhook_secret".into(), Value::String(SECRET.into()));
    })
    .await
    .expect("the example starts")
}

fn compact(path: &std::path::Path) -> (Value, Vec<u8>) {
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let bytes = serde_json::to_vec(&v).unwrap();
    (v, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issues_payloads_end_as_the_mapping_says() {
    let it = start().await;
    let mut expected: BTreeMap<String, Option<Value>> = BTreeMap::new();
    for file in payload_files("github/issues") {
        let (v, body) = compact(&file);
        let r = it.send_github("/webhook", "issues", &body, SECRET).await;
        assert_eq!(r.status(), 202, "{}", file.display());
        let id = format!("{}{}", v["repository"]["name"].as_str().unwrap(), v["issue"]["id"]);
        // Issues of pull requests fail the selector (`.pull_request == null`): as in the reference, an updated
        // item that fails the selector is deleted.
        let state = if v["action"] == "deleted" || !v["issue"]["pull_request"].is_null() {
            None
        } else {
            Some(v["issue"].clone())
        };
        expected.insert(id, state);
    }
    assert!(it.wait_idle(Duration::from_secs(30)).await);
    assert!(!expected.is_empty());
    for (id, issue) in &expected {
        let got = it.entity("githubIssue", id);
        match issue {
            None => assert!(got.is_none(), "issue {id} should be deleted"),
            Some(issue) => {
                let got = got.unwrap_or_else(|| panic!("issue {id} missing"));
                assert_eq!(got["title"], issue["title"]);
                assert_eq!(got["properties"]["status"], issue["state"]);
                assert_eq!(got["properties"]["issueNumber"], issue["number"]);
                assert_eq!(got["properties"]["creator"], issue["user"]["login"]);
                // `[.labels[].name]` fails on a missing array, which Port maps to null.
                let labels = match issue["labels"].as_array() {
                    Some(a) => Value::Array(a.iter().map(|l| l["name"].clone()).collect()),
                    None => Value::Null,
                };
                assert_eq!(got["properties"]["labels"], labels);
                assert_eq!(got["relations"]["repository"], v_repo(id));
            }
        }
    }
    it.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_request_payloads_end_as_the_mapping_says_closed_ones_deleted() {
    let it = start().await;
    let mut expected: BTreeMap<String, Option<Value>> = BTreeMap::new();
    let mut closed = 0;
    for file in payload_files("github/pull_request") {
        let (v, body) = compact(&file);
        let r = it.send_github("/webhook", "pull_request", &body, SECRET).await;
        assert_eq!(r.status(), 202, "{}", file.display());
        let pr = &v["pull_request"];
        let Some(repo) = pr["head"]["repo"]["name"].as_str() else { continue };
        let id = format!("{repo}{}", pr["id"]);
        if v["action"] == "closed" {
            closed += 1;
            expected.insert(id, None);
        } else {
            expected.insert(id, Some(pr.clone()));
        }
    }
    assert!(closed > 0, "the corpus has closed pull requests");
    assert!(it.wait_idle(Duration::from_secs(30)).await);
    for (id, pr) in &expected {
        let got = it.entity("githubPullRequest", id);
        match pr {
            None => assert!(got.is_none(), "closed pull request {id} should be deleted"),
            Some(pr) => {
                let got = got.unwrap_or_else(|| panic!("pull request {id} missing"));
                assert_eq!(got["title"], pr["title"]);
                assert_eq!(got["properties"]["status"], pr["state"]);
                assert_eq!(got["properties"]["link"], pr["html_url"]);
                assert_eq!(got["properties"]["prNumber"], pr["id"]);
                let reviewers: Vec<Value> =
                    pr["requested_reviewers"].as_array().unwrap().iter().map(|r| r["login"].clone()).collect();
                assert_eq!(got["properties"]["reviewers"], Value::Array(reviewers));
            }
        }
    }
    it.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_payloads_upsert_their_repository() {
    let it = start().await;
    let mut names = BTreeMap::new();
    for file in payload_files("github/push") {
        let (v, body) = compact(&file);
        let r = it.send_github("/webhook", "push", &body, SECRET).await;
        assert_eq!(r.status(), 202, "{}", file.display());
        names.insert(v["repository"]["name"].as_str().unwrap().to_owned(), v["repository"].clone());
    }
    assert!(it.wait_idle(Duration::from_secs(30)).await);
    for (name, repo) in names {
        let got = it.entity("githubRepository", &name).unwrap_or_else(|| panic!("repository {name} missing"));
        assert_eq!(got["title"], repo["name"]);
        assert_eq!(got["properties"]["url"], repo["html_url"]);
        let visibility = if repo["private"] == true { "private" } else { "public" };
        assert_eq!(got["properties"]["visibility"], visibility);
    }
    it.shutdown().await;
}

#[tokio::test]
async fn unsigned_and_forged_corpus_payloads_are_rejected() {
    let it = start().await;
    let (_, body) = compact(&payload_files("github/issues")[0]);
    assert_eq!(it.post("/webhook", &body, &[("x-github-event", "issues".into())]).await.status(), 401);
    assert_eq!(it.send_github("/webhook", "issues", &body, "wrong").await.status(), 401);
    let mut flipped = body.clone();
    let last = flipped.len() - 2;
    flipped[last] ^= 1;
    let sig = format!("sha256={}", hex_sig(&body));
    let r = it.post("/webhook", &flipped, &[("x-github-event", "issues".into()), ("x-hub-signature-256", sig)]).await;
    assert!(r.status() == 401 || r.status() == 400);
    assert!(it.wait_idle(Duration::from_secs(5)).await);
    assert!(it.entities("githubIssue").is_empty());
    it.shutdown().await;
}

fn hex_sig(body: &[u8]) -> String {
    ocean::auth::sign(ocean::auth::Algorithm::Sha256, SECRET.as_bytes(), &[body])
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn v_repo(id: &str) -> &str {
    id.trim_end_matches(|c: char| c.is_ascii_digit())
}
