//! Resync: repositories, issues and pull requests listed from GitHub's REST API, page by page, when a token
//! and an organisation are configured. The objects get the `__repository` key the live events' processors
//! add, so that a resync and a live event of one object give one entity.

use std::time::Duration;

use ocean::{Batches, Context, ProcessorError, ResourceConfig};
use serde_json::Value;

use crate::api::GithubApi;

/// The API client and the organisation, or a skip saying what is missing.
fn configured(ctx: &Context, batches: &Batches) -> Option<(GithubApi, String)> {
    match (GithubApi::from_context(ctx), ctx.get_str("github_organization")) {
        (Some(api), Some(org)) => Some((api, org.to_owned())),
        _ => {
            batches.skip("resync needs githubToken and githubOrganization");
            None
        }
    }
}

/// One page, retried while GitHub answers 429 or 5xx (its `Retry-After` honoured).
async fn page(api: &GithubApi, url: &str) -> Result<(Vec<Value>, Option<String>), ProcessorError> {
    let mut attempt = 0;
    loop {
        match api.page(url).await {
            Err(e) if e.is_retryable() && attempt < 4 => {
                attempt += 1;
                let wait = e.retry_after_hint().unwrap_or(Duration::from_millis(250 << attempt));
                tokio::time::sleep(wait.min(Duration::from_secs(60))).await;
            }
            other => return other,
        }
    }
}

/// A listing, page by page, following `Link: rel="next"`.
struct Pages<'a> {
    api: &'a GithubApi,
    next: Option<String>,
}

impl<'a> Pages<'a> {
    fn new(api: &'a GithubApi, path: &str) -> Self {
        Self { api, next: Some(api.first_page(path)) }
    }

    /// The next page's items; `None` after the last page.
    async fn next(&mut self) -> Result<Option<Vec<Value>>, ProcessorError> {
        let Some(url) = self.next.take() else { return Ok(None) };
        let (items, next) = page(self.api, &url).await?;
        self.next = next;
        Ok(Some(items))
    }
}

/// The organisation's repositories' names.
async fn repository_names(api: &GithubApi, org: &str) -> Result<Vec<String>, ProcessorError> {
    let mut names = Vec::new();
    let mut pages = Pages::new(api, &format!("/orgs/{org}/repos?per_page=100"));
    while let Some(repos) = pages.next().await? {
        names.extend(repos.iter().filter_map(|r| r["name"].as_str().map(str::to_owned)));
    }
    Ok(names)
}

fn with_repository(mut item: Value, repo: &str) -> Value {
    if let Value::Object(m) = &mut item {
        m.insert("__repository".into(), Value::String(repo.to_owned()));
    }
    item
}

#[ocean::on_resync(kind = "repository")]
async fn repositories(ctx: Context, batches: Batches) -> Result<(), ProcessorError> {
    let Some((api, org)) = configured(&ctx, &batches) else { return Ok(()) };
    let mut pages = Pages::new(&api, &format!("/orgs/{org}/repos?per_page=100"));
    while let Some(repos) = pages.next().await? {
        batches.send(repos).await?;
    }
    Ok(())
}

#[ocean::on_resync(kind = "issue")]
async fn issues(ctx: Context, batches: Batches) -> Result<(), ProcessorError> {
    let Some((api, org)) = configured(&ctx, &batches) else { return Ok(()) };
    for repo in repository_names(&api, &org).await? {
        let path = format!("/repos/{org}/{repo}/issues?state=all&per_page=100");
        let mut pages = Pages::new(&api, &path);
        while let Some(items) = pages.next().await? {
            // GitHub's issues endpoint also lists pull requests; they have a `pull_request` key.
            let issues = items.into_iter().filter(|i| i.get("pull_request").is_none());
            batches.send(issues.map(|i| with_repository(i, &repo)).collect()).await?;
        }
    }
    Ok(())
}

#[ocean::on_resync(kind = "pull-request")]
async fn pull_requests(ctx: Context, resource: &ResourceConfig, batches: Batches) -> Result<(), ProcessorError> {
    let Some((api, org)) = configured(&ctx, &batches) else { return Ok(()) };
    let states: Vec<String> = match resource.selector.get("states") {
        Some(Value::Array(s)) => s.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => vec!["open".to_owned()],
    };
    let state = match (states.iter().any(|s| s == "open"), states.iter().any(|s| s == "closed")) {
        (true, true) => "all",
        (false, true) => "closed",
        _ => "open",
    };
    for repo in repository_names(&api, &org).await? {
        let path = format!("/repos/{org}/{repo}/pulls?state={state}&per_page=100");
        let mut pages = Pages::new(&api, &path);
        while let Some(items) = pages.next().await? {
            let wanted =
                items.into_iter().filter(|p| p["state"].as_str().is_some_and(|s| states.contains(&s.to_owned())));
            batches.send(wanted.map(|p| with_repository(p, &repo)).collect()).await?;
        }
    }
    Ok(())
}
