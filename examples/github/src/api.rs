//! The few GitHub REST calls the integration makes: refetching resources, listing them page by page for
//! resync, and registering the webhook. Every call waits for the integration's rate budget, where live
//! events go first.

use ocean::{Context, Payload, ProcessorError, RateBudget};
use serde_json::{Value, json};

/// A GitHub API client, present when a token is configured.
#[derive(Clone, Debug)]
pub struct GithubApi {
    client: reqwest::Client,
    base: String,
    token: String,
    budget: RateBudget,
}

impl GithubApi {
    /// The client from the integration config (`githubToken`, `githubApiUrl`), if a token is set.
    pub fn from_context(ctx: &Context) -> Option<Self> {
        let token = ctx.get_str("github_token")?.to_owned();
        let base = ctx.get_str("github_api_url").unwrap_or("https://api.github.com").trim_end_matches('/').to_owned();
        Some(Self { client: reqwest::Client::new(), base, token, budget: ctx.rate_limiter().clone() })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.request_url(method, &format!("{}{path}", self.base))
    }

    fn request_url(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, url)
            .bearer_auth(&self.token)
            .header("accept", "application/vnd.github+json")
            .header("user-agent", "ocean-example-github")
    }

    /// GETs a resource by its API URL path; 404 is `None`; 429 and 5xx are retryable with GitHub's hint.
    pub async fn get(&self, path: &str) -> Result<Option<Value>, ProcessorError> {
        self.budget.acquire().await;
        let resp = self.request(reqwest::Method::GET, path).send().await.map_err(ProcessorError::retryable)?;
        let status = resp.status();
        if status.as_u16() == 404 {
            return Ok(None);
        }
        check(&resp, path)?;
        resp.json().await.map(Some).map_err(ProcessorError::retryable)
    }

    /// The first page of a listing (`/orgs/{org}/repos?per_page=100`).
    pub fn first_page(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// One page of a listing by its URL: its items and the URL of the next page (`Link: rel="next"`).
    pub async fn page(&self, url: &str) -> Result<(Vec<Value>, Option<String>), ProcessorError> {
        self.budget.acquire().await;
        let resp = self.request_url(reqwest::Method::GET, url).send().await.map_err(ProcessorError::retryable)?;
        check(&resp, url)?;
        let next = resp.headers().get("link").and_then(|v| v.to_str().ok()).and_then(next_link);
        let items: Vec<Value> = resp.json().await.map_err(ProcessorError::retryable)?;
        Ok((items, next))
    }

    /// Creates the organisation webhook pointing at `url`, or updates the one that already does.
    pub async fn upsert_org_hook(&self, org: &str, url: &str, secret: &str) -> Result<&'static str, reqwest::Error> {
        let hooks: Vec<Value> = self
            .request(reqwest::Method::GET, &format!("/orgs/{org}/hooks"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let config = json!({"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"});
        let body = json!({"name": "web", "active": true, "events": ["issues", "pull_request", "push", "repository"], "config": config});
        match hooks.iter().find(|h| h["config"]["url"] == url).and_then(|h| h["id"].as_i64()) {
            Some(id) => {
                self.request(reqwest::Method::PATCH, &format!("/orgs/{org}/hooks/{id}"))
                    .json(&body)
                    .send()
                    .await?
                    .error_for_status()?;
                Ok("updated")
            }
            None => {
                self.request(reqwest::Method::POST, &format!("/orgs/{org}/hooks"))
                    .json(&body)
                    .send()
                    .await?
                    .error_for_status()?;
                Ok("created")
            }
        }
    }
}

/// The API path of a resource from its `url` field (`https://api.github.com/repos/o/r/issues/1`).
pub(crate) fn api_path(resource: &Payload) -> Option<String> {
    let url = resource["url"].as_str()?;
    let rest = url.split_once("://")?.1;
    rest.find('/').map(|i| rest[i..].to_owned())
}

/// 429 and 5xx are retryable, with GitHub's `Retry-After` as a floor; other failures are permanent.
fn check(resp: &reqwest::Response, what: &str) -> Result<(), ProcessorError> {
    let status = resp.status();
    if status.as_u16() == 429 || status.is_server_error() {
        let after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map(std::time::Duration::from_secs);
        let e = ProcessorError::retryable(format!("GitHub answered {status} for {what}"));
        return Err(match after {
            Some(a) => e.retry_after(a),
            None => e,
        });
    }
    if !status.is_success() {
        return Err(ProcessorError::fatal(format!("GitHub answered {status} for {what}")));
    }
    Ok(())
}

/// The `rel="next"` URL of a `Link` header: `<https://api.github.com/...&page=2>; rel="next", <...>; rel="last"`.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let next = params.split(';').any(|p| p.trim().replace(' ', "") == "rel=\"next\"");
        next.then(|| url.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
    })
}
