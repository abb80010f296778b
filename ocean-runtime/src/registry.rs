//! Registration: processors, start hooks and legacy routes, collected from the macros or given explicitly.

use std::sync::Arc;

use crate::auth::Auth;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::processor::{BoxFuture, DynProcessor, WebhookProcessor};

type Factory = Arc<dyn Fn(&Context) -> Result<Arc<dyn DynProcessor>> + Send + Sync>;

/// How a processor authenticates requests. Authentication is never implicit.
#[derive(Clone)]
pub(crate) enum AuthMode {
    /// The processor's own `authenticate` (whose default rejects every request).
    Processor,
    /// Built-in verifiers, then the processor's own `authenticate` when `also_custom` is set.
    Verifiers { specs: Vec<Auth>, also_custom: bool },
    /// Explicitly unauthenticated; warned about at every start.
    None,
}

/// A processor registration: its path, how to build it, how it authenticates, how its events are grouped.
///
/// This is what `#[ocean::webhook_processor]` expands to; it can be used directly to write an integration
/// without macros.
///
/// ```
/// use ocean::{Processor, ProcessorError, ResourceConfig, WebhookEvent, WebhookEventRawResults, WebhookProcessor};
///
/// #[derive(Default)]
/// struct Issues;
/// impl WebhookProcessor for Issues {
///     async fn get_matching_kinds(&self, _e: &WebhookEvent) -> Vec<String> { vec!["issue".into()] }
///     async fn handle_event(&self, e: &WebhookEvent, _r: &ResourceConfig)
///         -> Result<WebhookEventRawResults, ProcessorError> {
///         Ok(WebhookEventRawResults::upsert([e.payload["issue"].clone()]))
///     }
/// }
///
/// let p = Processor::of::<Issues>("/webhook")
///     .auth(ocean::auth::github().secret("webhook_secret"))
///     .group_by(".issue.id");
/// assert_eq!(p.path(), "/webhook");
/// ```
#[derive(Clone)]
pub struct Processor {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) factory: Factory,
    pub(crate) auth: AuthMode,
    pub(crate) insecure: bool,
    pub(crate) group_by: Option<String>,
    pub(crate) group: Option<String>,
    pub(crate) dedup: Option<crate::delivery::DeliveryId>,
    pub(crate) kinds: Vec<String>,
}

impl Processor {
    /// A processor built from its `Default` value.
    pub fn of<T: WebhookProcessor + Default>(path: &str) -> Self {
        Self::new(path, |_| Ok(T::default()))
    }

    /// A processor built at start-up by `init`, which can read the integration config.
    pub fn new<T, F>(path: &str, init: F) -> Self
    where
        T: WebhookProcessor,
        F: Fn(&Context) -> Result<T> + Send + Sync + 'static,
    {
        let factory: Factory = Arc::new(move |ctx| Ok(Arc::new(init(ctx)?) as Arc<dyn DynProcessor>));
        Self {
            name: std::any::type_name::<T>().rsplit("::").next().unwrap_or("processor").to_owned(),
            path: path.to_owned(),
            factory,
            auth: AuthMode::Processor,
            insecure: false,
            group_by: None,
            group: None,
            dedup: None,
            kinds: Vec::new(),
        }
    }

    /// The kinds the processor answers, as `kinds = [...]` declares them: a kind the mapping does not have
    /// is a warning at start-up (the macro sets it; declare it when `get_matching_kinds` is your own).
    #[must_use]
    pub fn kinds(mut self, kinds: &[&str]) -> Self {
        self.kinds = kinds.iter().map(|k| (*k).to_owned()).collect();
        self
    }

    /// The registered path (relative to `/integration`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The processor's name in logs and metrics (default: its type name).
    #[must_use]
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// Authenticates with a built-in verifier (with several calls, a request must pass each of them).
    #[must_use]
    pub fn auth(mut self, spec: Auth) -> Self {
        match &mut self.auth {
            AuthMode::Verifiers { specs, .. } => specs.push(spec),
            _ => self.auth = AuthMode::Verifiers { specs: vec![spec], also_custom: false },
        }
        self
    }

    /// Also runs the processor's own `authenticate` after the built-in verifiers.
    #[must_use]
    pub fn with_custom_auth(mut self) -> Self {
        if let AuthMode::Verifiers { also_custom, .. } = &mut self.auth {
            *also_custom = true;
        }
        self
    }

    /// Accepts requests without authentication. Warned about at every start.
    #[must_use]
    pub fn no_auth(mut self) -> Self {
        self.auth = AuthMode::None;
        self
    }

    /// Lets start-up proceed when a verifier's secret is not configured; the verifier is then skipped, loudly.
    #[must_use]
    pub fn insecure(mut self) -> Self {
        self.insecure = true;
        self
    }

    /// Where the delivery id is found, for deduplication (default: the verifier's provider).
    #[must_use]
    pub fn dedup(mut self, source: crate::delivery::DeliveryId) -> Self {
        self.dedup = Some(source);
        self
    }

    /// Groups events for ordering by a jq expression over the payload (for example `.issue.id`). The key
    /// is prefixed with the processor's name, so that the keys of two processors never meet, unless they
    /// name a shared space with [`Processor::group`].
    #[must_use]
    pub fn group_by(mut self, jq: &str) -> Self {
        self.group_by = Some(jq.to_owned());
        self
    }

    /// The ordering space of the `group_by` keys (default: the processor's name). Processors that name
    /// the same space share it: events of one entity handled by two processors stay in order.
    ///
    /// ```
    /// # use ocean::{Processor, ProcessorError, ResourceConfig, WebhookEvent, WebhookEventRawResults, WebhookProcessor};
    /// # #[derive(Default)] struct Issues;
    /// # #[derive(Default)] struct Comments;
    /// # impl WebhookProcessor for Issues {
    /// #     async fn get_matching_kinds(&self, _: &WebhookEvent) -> Vec<String> { vec!["issue".into()] }
    /// #     async fn handle_event(&self, _: &WebhookEvent, _: &ResourceConfig) -> Result<WebhookEventRawResults, ProcessorError> { Ok(WebhookEventRawResults::empty()) }
    /// # }
    /// # impl WebhookProcessor for Comments {
    /// #     async fn get_matching_kinds(&self, _: &WebhookEvent) -> Vec<String> { vec!["issue".into()] }
    /// #     async fn handle_event(&self, _: &WebhookEvent, _: &ResourceConfig) -> Result<WebhookEventRawResults, ProcessorError> { Ok(WebhookEventRawResults::empty()) }
    /// # }
    /// let issues = Processor::of::<Issues>("/webhook").group_by(".issue.id").group("issue");
    /// let comments = Processor::of::<Comments>("/webhook").group_by(".issue.id").group("issue");
    /// ```
    #[must_use]
    pub fn group(mut self, space: &str) -> Self {
        self.group = Some(space.to_owned());
        self
    }
}

/// A start hook: runs once the server is listening. Its error is logged and never stops the process.
#[derive(Clone)]
pub struct OnStart {
    pub(crate) name: String,
    pub(crate) run: Arc<dyn Fn(Context) -> BoxFuture<'static, Result<()>> + Send + Sync>,
}

impl OnStart {
    /// A start hook from an async function.
    ///
    /// ```
    /// let hook = ocean::OnStart::new("register_webhook", |ctx: ocean::Context| async move {
    ///     let _url = ctx.webhook_url("/webhook");
    ///     Ok::<(), std::io::Error>(())
    /// });
    /// ```
    pub fn new<F, Fut, E>(name: &str, f: F) -> Self
    where
        F: Fn(Context) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let f = Arc::new(f);
        Self {
            name: name.to_owned(),
            run: Arc::new(move |ctx| {
                let fut = f(ctx);
                Box::pin(async move { fut.await.map_err(Error::other) })
            }),
        }
    }
}

/// A legacy direct route: a plain actix-web handler mounted under `/integration`, run inside the request.
///
/// With [`Route::auth`], the request is verified over its raw body before the handler runs, with the same
/// fail-closed rule as processors: a verifier whose secret is not configured stops start-up (unless the
/// route is [`Route::insecure`]), and a request it does not accept is answered 401 without reaching the
/// handler. Without it, the handler must authenticate requests itself, and start-up says so.
#[derive(Clone)]
pub struct Route {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) method: actix_web::http::Method,
    pub(crate) auth: Option<Auth>,
    pub(crate) insecure: bool,
    pub(crate) handler: Arc<dyn Fn() -> actix_web::Route + Send + Sync>,
}

impl Route {
    /// A route for `method` on `path` (relative to `/integration`) served by an actix-web handler.
    ///
    /// ```
    /// use ocean::actix_web::{HttpResponse, http::Method};
    /// async fn hook(body: ocean::actix_web::web::Json<serde_json::Value>) -> HttpResponse {
    ///     HttpResponse::Ok().finish()
    /// }
    /// let route = ocean::Route::new(Method::POST, "/legacy", hook)
    ///     .auth(ocean::auth::hmac().header("x-gitea-signature").secret("webhook_secret"));
    /// ```
    pub fn new<H, Args>(method: actix_web::http::Method, path: &str, handler: H) -> Self
    where
        H: actix_web::Handler<Args> + Send + Sync,
        Args: actix_web::FromRequest + 'static,
        H::Output: actix_web::Responder + 'static,
    {
        Self {
            name: format!("{method} {path}"),
            path: path.to_owned(),
            method,
            auth: None,
            insecure: false,
            handler: Arc::new(move || actix_web::web::route().to(handler.clone())),
        }
    }

    /// Verifies every request with a built-in verifier before the handler runs (401 otherwise).
    #[must_use]
    pub fn auth(mut self, spec: Auth) -> Self {
        self.auth = Some(spec);
        self
    }

    /// Lets start-up proceed when the verifier's secret is not configured; verification is then skipped,
    /// loudly.
    #[must_use]
    pub fn insecure(mut self) -> Self {
        self.insecure = true;
        self
    }

    /// `METHOD /path`, as logs name the route.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// An item registered by a macro, collected at start-up.
#[doc(hidden)]
pub enum Registered {
    Processor(fn() -> Processor),
    OnStart(fn() -> OnStart),
    Route(fn() -> Route),
    OnResync(fn() -> crate::resync::OnResync),
}

inventory::collect!(Registered);

/// What the macros registered in the program.
#[derive(Default)]
pub(crate) struct Discovered {
    pub(crate) processors: Vec<Processor>,
    pub(crate) on_start: Vec<OnStart>,
    pub(crate) routes: Vec<Route>,
    pub(crate) on_resync: Vec<crate::resync::OnResync>,
}

/// Everything registered by the macros in the program, sorted by name for a stable order.
pub(crate) fn discovered() -> Discovered {
    let mut d = Discovered::default();
    for item in inventory::iter::<Registered> {
        match item {
            Registered::Processor(f) => d.processors.push(f()),
            Registered::OnStart(f) => d.on_start.push(f()),
            Registered::Route(f) => d.routes.push(f()),
            Registered::OnResync(f) => d.on_resync.push(f()),
        }
    }
    d.processors.sort_by(|a, b| (&a.path, &a.name).cmp(&(&b.path, &b.name)));
    d.on_start.sort_by(|a, b| a.name.cmp(&b.name));
    d.routes.sort_by(|a, b| a.name.cmp(&b.name));
    d.on_resync.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
    d
}
