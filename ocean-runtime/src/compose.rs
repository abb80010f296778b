//! The composition root: settings, context, mapping, processors, sink and queue joined into a running
//! integration.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::config::{IntegrationSpec, Settings};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::mapping::Mapping;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::raw::RawApi;
use crate::registry::{OnStart, Processor, Route};
use crate::running::RunningIntegration;
use crate::runtime::{Lifecycle, Runtime, SharedMapping};
use crate::sink::{CatalogRead, LocalCatalog, PortSink, SharedCatalog, Sink};
use crate::wiring::Processors;

/// What an integration registers, as the builder collected it.
#[derive(Clone)]
pub(crate) struct Parts {
    pub(crate) name: String,
    pub(crate) processors: Vec<Processor>,
    pub(crate) on_start: Vec<OnStart>,
    pub(crate) routes: Vec<Route>,
    pub(crate) on_resync: Vec<crate::resync::OnResync>,
    pub(crate) default_mapping: Option<String>,
    pub(crate) spec: Option<String>,
    pub(crate) sink: Option<Arc<dyn Sink>>,
}

pub(crate) async fn start(it: Parts, settings: Settings) -> Result<RunningIntegration> {
    crate::install_crypto_provider();
    settings.validate()?;
    let spec = match &it.spec {
        Some(s) => IntegrationSpec::parse(".port/spec.yaml", s)?,
        None => IntegrationSpec::default(),
    };
    let config = spec.resolve(&settings.integration.config)?;
    let identifier = settings
        .integration
        .identifier
        .clone()
        .unwrap_or_else(|| format!("my-{}-integration", settings.integration.kind.as_deref().unwrap_or(&it.name)));
    let context = Context::new(&identifier, config, settings.base_url.clone(), &settings.path_prefix)
        .with_rate_budget(settings.rate_limit.budget());
    let mapping = load_mapping(&settings, it.default_mapping.as_deref())?;
    let processors = Arc::new(Processors::build(&it.processors, &context)?);
    std::fs::create_dir_all(&settings.state_dir)
        .map_err(|e| Error::Config(format!("OCEAN__STATE_DIR `{}`: {e}", settings.state_dir.display())))?;
    let kind = settings.integration.kind.clone().unwrap_or_else(|| it.name.clone());
    let db = match settings.queue.backend {
        crate::config::QueueBackend::Postgres => Some(crate::postgres::Database::connect(&settings.postgres).await?),
        _ => None,
    };
    let chosen = choose_sink(&settings, it.sink, mapping, &kind, &identifier, db.clone()).await?;
    let workers_count = settings.event_workers_count.max(1);
    let metrics = Arc::new(Metrics::new());
    let queue = Arc::new(Queue::open(
        &settings.queue,
        &settings.state_dir,
        processors.ids(),
        db,
        workers_count,
        chosen.barrier.clone(),
        metrics.persist.clone(),
    )?);
    let lifecycle = Arc::new(Lifecycle::default());
    let leaf_budget = Duration::from_millis(settings.mapping.leaf_budget_ms);
    let limits = crate::mapping::evaluator::Evaluator::limits(leaf_budget);
    let mapping = Arc::new(SharedMapping::new(chosen.mapping, limits));
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let evaluator = Arc::new(crate::mapping::evaluator::Evaluator::start(threads, settings.processing_niceness)?);
    let processing_timeout = Duration::from_secs_f64(settings.max_event_processing_seconds.max(0.001));
    let rt = Arc::new(Runtime {
        pool: Arc::new(crate::pool::Pool::new(workers_count, processing_timeout)),
        processors: processors.clone(),
        queue,
        mapping: mapping.clone(),
        sink: chosen.sink.clone(),
        event_sink: chosen.event_sink.clone(),
        lifecycle: lifecycle.clone(),
        metrics,
        processing_timeout,
        evaluator: evaluator.clone(),
        marks: Arc::default(),
    });
    let raw = Arc::new(RawApi {
        context: context.clone(),
        mapping: mapping.clone(),
        sink: chosen.sink.clone(),
        evaluator,
        marks: rt.marks.clone(),
    });
    if let Some(port) = chosen.port {
        let ttl = Duration::from_secs(settings.port.app_config_cache_ttl.max(1));
        let allow_env = settings.allow_environment_variables_jq_access;
        tokio::spawn(refresh_mapping(Arc::downgrade(&mapping), rt.metrics.clone(), lifecycle, port, ttl, allow_env));
    }
    let current = mapping.get();
    rt.metrics.broken_expressions.set(current.broken().len() as f64);
    let mapped: Vec<&str> = current.config().resources.iter().map(|r| r.kind.as_str()).collect();
    for p in &processors.list {
        for kind in p.kinds.iter().filter(|k| !mapped.contains(&k.as_str())) {
            // Its events would be dead-lettered: say so once, at start, naming what the mapping has.
            warn!(
                processor = %p.name,
                "kind `{kind}` is not in the mapping (its kinds: {}); its events will be dead-lettered until it is",
                mapped.join(", ")
            );
        }
        if p.unauthenticated {
            warn!(processor = %p.name, path = %p.path, "path accepts unauthenticated events");
        }
    }
    for f in it.on_resync.iter().filter(|f| !mapped.contains(&f.kind.as_str())) {
        warn!(function = %f.name, "resync kind `{}` is not in the mapping (its kinds: {}); it is not run", f.kind, mapped.join(", "));
    }
    let resyncer = Arc::new(crate::resync::Resyncer::new(it.on_resync, rt.clone(), raw.clone(), context.clone()));
    let mut workers = JoinSet::new();
    for slot in 0..workers_count {
        workers.spawn(crate::worker::run(rt.clone(), raw.clone(), slot));
    }
    let body_timeout = Duration::from_secs(settings.http.body_timeout_seconds);
    let guards = crate::legacy::guards(&it.routes, &context, &rt.metrics, settings.http.max_body_bytes, body_timeout)?;
    let routes = it.routes.into_iter().zip(guards).collect();
    let server = crate::http::serve(&settings, &rt, &raw, chosen.reader, routes, resyncer.clone())?;
    info!(addr = %server.addr, processors = processors.list.len(), "listening");
    for hook in it.on_start {
        let ctx = context.clone();
        tokio::spawn(crate::raw::scope(raw.clone(), async move {
            if let Err(e) = (hook.run)(ctx).await {
                error!(hook = %hook.name, error = %e, "start hook failed; the integration keeps running");
            } else {
                info!(hook = %hook.name, "start hook finished");
            }
        }));
    }
    let every = settings.scheduled_resync_interval.map(|m| Duration::from_secs_f64(m * 60.0));
    resyncer.spawn_triggers(settings.resync_on_start, every);
    let wait = Duration::from_secs_f64(settings.max_wait_seconds_before_shutdown.max(0.0));
    Ok(RunningIntegration::new(rt, chosen.catalog, server, workers, wait))
}

/// The sink, the mapping it is used with, the local catalog when it is the sink, and Port's client when
/// the mapping is Port's.
struct Chosen {
    sink: Arc<dyn Sink>,
    /// The sink as the queue's workers write to it.
    event_sink: Arc<dyn Sink>,
    mapping: Mapping,
    catalog: Option<LocalCatalog>,
    /// Shared by the local catalog and the durable queue: removals wait for the catalog's disk.
    barrier: Option<Arc<crate::barrier::Barrier>>,
    /// What the catalog read API serves: the local or the shared catalog, when it is the sink.
    reader: Option<Arc<dyn CatalogRead>>,
    port: Option<Arc<PortSink>>,
}

impl Chosen {
    /// A sink the workers write to like every other caller, and nothing else.
    fn plain(sink: Arc<dyn Sink>, mapping: Mapping) -> Self {
        Self { event_sink: sink.clone(), sink, mapping, catalog: None, barrier: None, reader: None, port: None }
    }
}

async fn choose_sink(
    settings: &Settings,
    given: Option<Arc<dyn Sink>>,
    mapping: Mapping,
    kind: &str,
    identifier: &str,
    db: Option<Arc<crate::postgres::Database>>,
) -> Result<Chosen> {
    if let Some(sink) = given {
        return Ok(Chosen::plain(sink, mapping));
    }
    if !settings.has_port_credentials() {
        if let Some(db) = db {
            // Replicas share the queue: they share the catalog too, so any of them shows every entity.
            let c = Arc::new(SharedCatalog::new(db));
            return Ok(Chosen { reader: Some(c.clone()), ..Chosen::plain(c, mapping) });
        }
        // With the durable queue, the catalog's commits need not wait for the disk: the queue keeps each
        // event until its changes are durable, and replays it after a crash.
        let barrier = (settings.queue.backend == crate::config::QueueBackend::Durable)
            .then(|| Arc::new(crate::barrier::Barrier::default()));
        let path = settings.state_dir.join("catalog.redb");
        let c = LocalCatalog::open_with(&path, settings.processing_niceness, barrier.clone())?;
        let reader: Arc<dyn CatalogRead> = Arc::new(c.clone());
        let event_sink: Arc<dyn Sink> = match barrier {
            Some(_) => Arc::new(crate::sink::Queued(c.clone())),
            None => Arc::new(c.clone()),
        };
        let plain = Chosen::plain(Arc::new(c.clone()), mapping);
        return Ok(Chosen { event_sink, catalog: Some(c), barrier, reader: Some(reader), ..plain });
    }
    let port = Arc::new(
        PortSink::new(
            &settings.port.base_url,
            settings.port.client_id.as_deref().unwrap_or_default(),
            settings.port.client_secret.as_deref().unwrap_or_default(),
            kind,
            identifier,
        )
        .request_timeout(Duration::from_secs(settings.port.request_timeout.max(1))),
    );
    if settings.mapping_file.is_some() {
        return Ok(Chosen::plain(port, mapping));
    }
    // In Port mode the mapping is the one Port holds (created from the default when missing).
    let fetched =
        port.fetch_mapping(&serde_json::to_value(mapping.config()).unwrap_or_default()).await.map_err(|e| {
            Error::Config(format!(
                "reading the mapping from Port at {} (OCEAN__PORT__BASE_URL): {e}",
                settings.port.base_url
            ))
        })?;
    let config =
        serde_json::from_value(fetched).map_err(|e| Error::Mapping(format!("the mapping held by Port: {e}")))?;
    // Port accepted this mapping: an expression that does not compile here maps to null instead of
    // taking down every kind, and is reported.
    let mapping = Mapping::compile_lenient("Port", config, settings.allow_environment_variables_jq_access);
    report_broken(&mapping);
    Ok(Chosen { port: Some(port.clone()), ..Chosen::plain(port, mapping) })
}

/// Refreshes the mapping from Port every `OCEAN__PORT__APP_CONFIG_CACHE_TTL` seconds; a failed refresh
/// keeps the current mapping. Ends with the integration.
async fn refresh_mapping(
    mapping: std::sync::Weak<SharedMapping>,
    metrics: Arc<Metrics>,
    lifecycle: Arc<Lifecycle>,
    port: Arc<PortSink>,
    ttl: Duration,
    allow_env: bool,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(ttl) => {}
            _ = lifecycle.hard_stop.cancelled() => return,
        }
        let Some(mapping) = mapping.upgrade() else { return };
        if lifecycle.is_draining() {
            return;
        }
        let current = serde_json::to_value(mapping.get().config()).unwrap_or_default();
        match port.fetch_mapping(&current).await {
            Ok(fetched) if fetched != current => {
                let parsed = serde_json::from_value(fetched).map_err(|e| Error::Mapping(e.to_string()));
                match parsed.map(|c| Mapping::compile_lenient("Port", c, allow_env)) {
                    Ok(m) => {
                        report_broken(&m);
                        metrics.broken_expressions.set(m.broken().len() as f64);
                        mapping.set(m);
                        info!("mapping refreshed from Port");
                    }
                    Err(e) => warn!(error = %e, "the mapping held by Port cannot be read; keeping the current one"),
                }
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "cannot refresh the mapping from Port; keeping the current one"),
        }
    }
}

/// Says which expressions of a mapping held by Port do not compile here, one warning each.
fn report_broken(mapping: &Mapping) {
    for problem in mapping.broken() {
        warn!("{problem}; it maps to null until the mapping is fixed in Port");
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
