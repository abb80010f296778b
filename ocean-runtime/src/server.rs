//! The entry point: collect registrations, load settings, start the server and the workers, stop cleanly.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::{App, HttpResponse, web};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::{IntegrationSpec, Settings};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::mapping::{Mapping, Program};
use crate::queue::{DurableQueue, MemoryQueue, Queue};
use crate::registry::{AuthMode, OnStart, Processor, Route, discovered};
use crate::runtime::{Running, Runtime};
use crate::sink::{LocalCatalog, PortSink, Sink};
use crate::{admin, raw};

/// An integration: its processors, start hooks, legacy routes, spec and default mapping.
///
/// ```no_run
/// fn main() -> ocean::Result<()> {
///     ocean::Integration::new("my-integration")
///         .discovered()
///         .default_mapping("resources: []")
///         .run()
/// }
/// ```
#[derive(Clone)]
pub struct Integration {
    name: String,
    processors: Vec<Processor>,
    on_start: Vec<OnStart>,
    routes: Vec<Route>,
    default_mapping: Option<String>,
    spec: Option<String>,
    sink: Option<Arc<dyn Sink>>,
}

impl Integration {
    /// An integration of the given type, with nothing registered.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            processors: Vec::new(),
            on_start: Vec::new(),
            routes: Vec::new(),
            default_mapping: None,
            spec: None,
            sink: None,
        }
    }

    /// Adds everything registered by the macros in this program.
    #[must_use]
    pub fn discovered(mut self) -> Self {
        let (p, s, r) = discovered();
        self.processors.extend(p);
        self.on_start.extend(s);
        self.routes.extend(r);
        self
    }

    /// Adds a processor.
    #[must_use]
    pub fn processor(mut self, p: Processor) -> Self {
        self.processors.push(p);
        self
    }

    /// Adds a start hook.
    #[must_use]
    pub fn on_start(mut self, hook: OnStart) -> Self {
        self.on_start.push(hook);
        self
    }

    /// Adds a legacy route.
    #[must_use]
    pub fn route(mut self, route: Route) -> Self {
        self.routes.push(route);
        self
    }

    /// The default mapping (a Port app config, YAML), usually `include_str!` of
    /// `.port/resources/port-app-config.yml`.
    #[must_use]
    pub fn default_mapping(mut self, yaml: &str) -> Self {
        self.default_mapping = Some(yaml.to_owned());
        self
    }

    /// The integration spec (`.port/spec.yaml`).
    #[must_use]
    pub fn spec(mut self, yaml: &str) -> Self {
        self.spec = Some(yaml.to_owned());
        self
    }

    /// Replaces the sink chosen from configuration.
    #[must_use]
    pub fn sink(mut self, sink: Arc<dyn Sink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Loads settings from the environment and `config.yaml`, serves until SIGINT or SIGTERM.
    pub fn run(self) -> Result<()> {
        crate::init_tracing();
        let settings = Settings::load()?;
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        rt.block_on(async move {
            let running = self.start(settings).await?;
            running.wait_for_signal().await
        })
    }

    /// Starts with the given settings and returns once the server is listening.
    pub async fn start(self, settings: Settings) -> Result<RunningIntegration> {
        crate::install_crypto_provider();
        let spec = match &self.spec {
            Some(s) => IntegrationSpec::parse(".port/spec.yaml", s)?,
            None => IntegrationSpec::default(),
        };
        let config = spec.resolve(&settings.integration.config)?;
        let identifier = settings.integration.identifier.clone().unwrap_or_else(|| {
            format!("my-{}-integration", settings.integration.kind.as_deref().unwrap_or(&self.name))
        });
        let context = Context::new(&identifier, config, settings.base_url.clone(), &settings.path_prefix);
        let mut mapping = load_mapping(&settings, self.default_mapping.as_deref())?;
        let (processors, paths) = build_processors(&self.processors, &context)?;
        std::fs::create_dir_all(&settings.state_dir)
            .map_err(|e| Error::Config(format!("OCEAN__STATE_DIR `{}`: {e}", settings.state_dir.display())))?;
        let kind = settings.integration.kind.clone().unwrap_or_else(|| self.name.clone());
        let mut port_sink: Option<Arc<PortSink>> = None;
        let (sink, catalog): (Arc<dyn Sink>, Option<LocalCatalog>) = match self.sink.clone() {
            Some(s) => (s, None),
            None if settings.has_port_credentials() => {
                let port = Arc::new(
                    PortSink::new(
                        &settings.port.base_url,
                        settings.port.client_id.as_deref().unwrap_or_default(),
                        settings.port.client_secret.as_deref().unwrap_or_default(),
                        &kind,
                        &identifier,
                    )
                    .request_timeout(Duration::from_secs(settings.port.request_timeout.max(1))),
                );
                if settings.mapping_file.is_none() {
                    // In Port mode the mapping is the one Port holds (created from the default when missing).
                    let fetched = port
                        .fetch_mapping(&serde_json::to_value(mapping.config()).unwrap_or_default())
                        .await
                        .map_err(|e| {
                            Error::Config(format!(
                                "reading the mapping from Port at {} (OCEAN__PORT__BASE_URL): {e}",
                                settings.port.base_url
                            ))
                        })?;
                    let config = serde_json::from_value(fetched)
                        .map_err(|e| Error::Mapping(format!("the mapping held by Port: {e}")))?;
                    mapping = Mapping::compile("Port", config, settings.allow_environment_variables_jq_access)?;
                    port_sink = Some(port.clone());
                }
                (port, None)
            }
            None => {
                let c = LocalCatalog::open(&settings.state_dir.join("catalog.redb"))?;
                (Arc::new(c.clone()), Some(c))
            }
        };
        let window = Duration::from_secs(settings.queue.dedup_window_seconds);
        let queue: Arc<dyn Queue> = match settings.queue.backend.as_str() {
            "memory" => Arc::new(MemoryQueue::with_window(settings.queue.capacity, window)),
            "durable" => {
                let names = processors.iter().map(|p| p.id.clone()).collect();
                let path = settings.state_dir.join("queue.redb");
                Arc::new(
                    DurableQueue::open(&path, settings.queue.capacity, window, names)?
                        .hot_memory(settings.queue.hot_memory_mib.saturating_mul(1024 * 1024)),
                )
            }
            other => {
                return Err(Error::Config(format!(
                    "invalid setting `queue.backend` (OCEAN__QUEUE__BACKEND): unknown backend `{other}`; expected one of: `durable`, `memory`"
                )));
            }
        };
        let rt = Arc::new(Runtime {
            settings: settings.clone(),
            context: context.clone(),
            processors,
            paths,
            queue,
            mapping: RwLock::new(Arc::new(mapping)),
            sink,
            catalog,
            draining: Default::default(),
            hard_stop: CancellationToken::new(),
            metrics: crate::metrics::handle(),
        });
        raw::set_current(&rt);
        if let Some(port) = port_sink {
            tokio::spawn(refresh_mapping(Arc::downgrade(&rt), port));
        }
        for p in &rt.processors {
            if p.unauthenticated {
                warn!(processor = %p.name, path = %p.path, "path accepts unauthenticated events");
            }
        }
        let mut workers = JoinSet::new();
        for _ in 0..settings.event_workers_count.max(1) {
            workers.spawn(crate::worker::run(rt.clone()));
        }
        let routes = self.routes.clone();
        let app_rt = rt.clone();
        let server = actix_web::HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(app_rt.clone()))
                .configure(|cfg| configure(cfg, &app_rt, &routes))
                .default_service(web::to(|| async {
                    HttpResponse::NotFound().json(serde_json::json!({"status": "error", "message": "unknown path"}))
                }))
        })
        .disable_signals()
        .shutdown_timeout(1)
        .workers(settings.http.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())))
        .bind((settings.http.host.as_str(), settings.http.port))
        .map_err(|e| {
            Error::Config(format!(
                "cannot listen on {}:{} (OCEAN__HTTP__HOST, OCEAN__HTTP__PORT): {e}",
                settings.http.host, settings.http.port
            ))
        })?;
        let addr = server.addrs().first().copied().ok_or_else(|| Error::other("no listening address"))?;
        let server = server.run();
        let handle = server.handle();
        let server_task = tokio::spawn(server);
        info!(%addr, processors = rt.processors.len(), "listening");
        for hook in self.on_start.clone() {
            let ctx = context.clone();
            tokio::spawn(async move {
                if let Err(e) = (hook.run)(ctx).await {
                    error!(hook = %hook.name, error = %e, "start hook failed; the integration keeps running");
                } else {
                    info!(hook = %hook.name, "start hook finished");
                }
            });
        }
        Ok(RunningIntegration { rt, addr, handle, server_task, workers })
    }
}

/// Refreshes the mapping from Port every `OCEAN__PORT__APP_CONFIG_CACHE_TTL` seconds; a failed refresh
/// keeps the current mapping.
async fn refresh_mapping(rt: std::sync::Weak<Runtime>, port: Arc<PortSink>) {
    loop {
        let ttl = match rt.upgrade() {
            Some(rt) => Duration::from_secs(rt.settings.port.app_config_cache_ttl.max(1)),
            None => return,
        };
        tokio::time::sleep(ttl).await;
        let Some(rt) = rt.upgrade() else { return };
        if rt.hard_stop.is_cancelled() || rt.is_draining() {
            return;
        }
        let current = serde_json::to_value(rt.mapping().config()).unwrap_or_default();
        match port.fetch_mapping(&current).await {
            Ok(fetched) if fetched != current => {
                let compiled = serde_json::from_value(fetched)
                    .map_err(|e| Error::Mapping(e.to_string()))
                    .and_then(|c| Mapping::compile("Port", c, rt.settings.allow_environment_variables_jq_access));
                match compiled {
                    Ok(m) => {
                        *rt.mapping.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(m);
                        info!("mapping refreshed from Port");
                    }
                    Err(e) => warn!(error = %e, "the mapping held by Port does not compile; keeping the current one"),
                }
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "cannot refresh the mapping from Port; keeping the current one"),
        }
    }
}

fn load_mapping(settings: &Settings, default: Option<&str>) -> Result<Mapping> {
    let allow_env = settings.allow_environment_variables_jq_access;
    match &settings.mapping_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::Config(format!("OCEAN__MAPPING_FILE `{}`: {e}", path.display())))?;
            Mapping::parse(&path.display().to_string(), &text, allow_env)
        }
        None => Mapping::parse(".port/resources/port-app-config.yml", default.unwrap_or("resources: []"), allow_env),
    }
}

type Built = (Vec<Running>, Vec<(String, Vec<usize>)>);

fn build_processors(specs: &[Processor], ctx: &Context) -> Result<Built> {
    let mut running = Vec::new();
    let mut paths: Vec<(String, Vec<usize>)> = Vec::new();
    for spec in specs {
        if !spec.path.starts_with('/') {
            return Err(Error::Registration(format!(
                "processor `{}`: path `{}` must start with `/`",
                spec.name, spec.path
            )));
        }
        let processor = (spec.factory)(ctx)
            .map_err(|e| Error::Registration(format!("processor `{}` could not be built: {e}", spec.name)))?;
        let (verifiers, custom_auth, unauthenticated) = match &spec.auth {
            AuthMode::Processor => (Vec::new(), true, false),
            AuthMode::None => (Vec::new(), false, true),
            AuthMode::Verifiers { specs, also_custom } => {
                let mut vs = Vec::new();
                for a in specs {
                    let value = a.secret_key.as_deref().and_then(|k| ctx.get(k));
                    match a
                        .build_verifier(value)
                        .map_err(|e| Error::Config(format!("processor `{}`: {e}", spec.name)))?
                    {
                        Some(v) => vs.push(v),
                        None if spec.insecure => {
                            warn!(processor = %spec.name, verifier = %a.describe(), "no secret configured; verification skipped (insecure)")
                        }
                        None => {
                            let key = a.secret_key.clone().unwrap_or_default();
                            return Err(Error::Config(format!(
                                "processor `{}` verifies with {} but no secret is configured: set OCEAN__INTEGRATION__CONFIG__{} (or mark the processor `insecure`)",
                                spec.name,
                                a.describe(),
                                crate::config::snake_case(&key).to_ascii_uppercase()
                            )));
                        }
                    }
                }
                let unauth = vs.is_empty() && !also_custom;
                (vs, *also_custom, unauth)
            }
        };
        let group_by = match &spec.group_by {
            Some(code) => Some(
                Program::compile(code, false)
                    .map_err(|e| Error::Registration(format!("processor `{}`: group_by `{code}`: {e}", spec.name)))?,
            ),
            None => None,
        };
        let index = running.len();
        let id = format!("{}#{}", spec.path, spec.name);
        if running.iter().any(|r: &Running| r.id == id) {
            return Err(Error::Registration(format!(
                "two processors are named `{}` on `{}`; give one another name",
                spec.name, spec.path
            )));
        }
        let dedup = match (&spec.dedup, &spec.auth) {
            (Some(d), _) => d.clone(),
            (None, AuthMode::Verifiers { specs, .. }) => {
                specs.first().map_or(crate::delivery::none(), crate::auth::Auth::delivery_id)
            }
            (None, _) => crate::delivery::none(),
        };
        running.push(Running {
            id,
            dedup,
            name: spec.name.clone(),
            path: spec.path.clone(),
            processor,
            verifiers,
            custom_auth,
            unauthenticated,
            group_by,
        });
        match paths.iter_mut().find(|(p, _)| *p == spec.path) {
            Some((_, v)) => v.push(index),
            None => paths.push((spec.path.clone(), vec![index])),
        }
    }
    Ok((running, paths))
}

fn configure(cfg: &mut web::ServiceConfig, rt: &Arc<Runtime>, routes: &[Route]) {
    let prefix = rt.settings.path_prefix.trim_end_matches('/').to_owned();
    for (i, (path, _)) in rt.paths.iter().enumerate() {
        cfg.service(
            web::resource(format!("{prefix}/integration{path}"))
                .app_data(web::Data::new(crate::intake::PathIndex(i)))
                .route(web::post().to(crate::intake::handle)),
        );
    }
    admin::configure(cfg, &prefix, rt.catalog.is_some());
    crate::dlq::configure(cfg, &prefix);
    if !routes.is_empty() {
        let routes = routes.to_vec();
        cfg.service(
            web::scope(&format!("{prefix}/integration"))
                .wrap(actix_web::middleware::from_fn(raw::scope_middleware))
                .configure(move |c| {
                    for r in &routes {
                        (r.configure)(c);
                    }
                }),
        );
    }
}

/// A running integration: its address, and the means to stop it.
pub struct RunningIntegration {
    rt: Arc<Runtime>,
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    server_task: tokio::task::JoinHandle<std::io::Result<()>>,
    workers: JoinSet<()>,
}

impl RunningIntegration {
    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The local catalog, when it is the sink.
    pub fn catalog(&self) -> Option<&LocalCatalog> {
        self.rt.catalog.as_ref()
    }

    /// Events held by the queue, in flight included.
    pub fn queued(&self) -> usize {
        self.rt.queue.len()
    }

    /// Waits for SIGINT or SIGTERM, then shuts down.
    pub async fn wait_for_signal(self) -> Result<()> {
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                _ = tokio::signal::ctrl_c() => info!("SIGINT received"),
                _ = term.recv() => info!("SIGTERM received"),
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await?;
        self.shutdown().await;
        Ok(())
    }

    /// Graceful stop: new events get 503, in-flight events get `OCEAN__MAX_WAIT_SECONDS_BEFORE_SHUTDOWN`
    /// to finish, the rest is cancelled and reported. Returns the number of events left unprocessed.
    pub async fn shutdown(mut self) -> usize {
        let rt = self.rt.clone();
        rt.draining.store(true, Ordering::Release);
        let wait = Duration::from_secs_f64(rt.settings.max_wait_seconds_before_shutdown.max(0.0));
        let drained = tokio::time::timeout(wait, async {
            while !rt.queue.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .is_ok();
        rt.queue.close();
        if !drained {
            rt.hard_stop.cancel();
        }
        while self.workers.join_next().await.is_some() {}
        let left = rt.queue.len();
        if left > 0 {
            warn!(unprocessed = left, "shutdown: events left unprocessed");
        } else {
            info!("shutdown: every accepted event was processed");
        }
        self.handle.stop(true).await;
        let _ = (&mut self.server_task).await;
        left
    }
}
