//! The builder of an integration: what it registers, and how it is run.

use std::sync::Arc;

use crate::compose::Parts;
use crate::config::Settings;
use crate::error::Result;
use crate::registry::{OnStart, Processor, Route, discovered};
use crate::running::RunningIntegration;
use crate::sink::Sink;

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
pub struct Integration(Parts);

impl Integration {
    /// An integration of the given type, with nothing registered.
    pub fn new(name: &str) -> Self {
        Self(Parts {
            name: name.to_owned(),
            processors: Vec::new(),
            on_start: Vec::new(),
            routes: Vec::new(),
            on_resync: Vec::new(),
            default_mapping: None,
            spec: None,
            sink: None,
        })
    }

    /// Adds everything registered by the macros in this program.
    #[must_use]
    pub fn discovered(mut self) -> Self {
        let d = discovered();
        self.0.processors.extend(d.processors);
        self.0.on_start.extend(d.on_start);
        self.0.routes.extend(d.routes);
        self.0.on_resync.extend(d.on_resync);
        self
    }

    /// Adds a processor.
    #[must_use]
    pub fn processor(mut self, p: Processor) -> Self {
        self.0.processors.push(p);
        self
    }

    /// Adds a start hook.
    #[must_use]
    pub fn on_start(mut self, hook: OnStart) -> Self {
        self.0.on_start.push(hook);
        self
    }

    /// Adds a resync function (what `#[ocean::on_resync]` registers).
    #[must_use]
    pub fn on_resync(mut self, f: crate::resync::OnResync) -> Self {
        self.0.on_resync.push(f);
        self
    }

    /// Adds a legacy route.
    #[must_use]
    pub fn route(mut self, route: Route) -> Self {
        self.0.routes.push(route);
        self
    }

    /// The default mapping (a Port app config, YAML), usually `include_str!` of
    /// `.port/resources/port-app-config.yml`.
    #[must_use]
    pub fn default_mapping(mut self, yaml: &str) -> Self {
        self.0.default_mapping = Some(yaml.to_owned());
        self
    }

    /// The integration spec (`.port/spec.yaml`).
    #[must_use]
    pub fn spec(mut self, yaml: &str) -> Self {
        self.0.spec = Some(yaml.to_owned());
        self
    }

    /// Replaces the sink chosen from configuration.
    #[must_use]
    pub fn sink(mut self, sink: Arc<dyn Sink>) -> Self {
        self.0.sink = Some(sink);
        self
    }

    /// Loads settings from the environment and `config.yaml`, serves until SIGINT or SIGTERM.
    pub fn run(self) -> Result<()> {
        crate::init_tracing();
        let settings = Settings::load()?;
        // The workers run on this runtime: its threads process, intake's (actix's own) acknowledge.
        let niceness = settings.processing_niceness;
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        // Unset, tokio's own default: one thread per core.
        if let Some(threads) = settings.processing_threads {
            builder.worker_threads(threads);
        }
        let rt = builder
            .thread_name("ocean-worker")
            .enable_all()
            .on_thread_start(move || crate::priority::lower_this_thread(niceness))
            .build()?;
        rt.block_on(async move {
            let running = self.start(settings).await?;
            running.wait_for_signal().await
        })
    }

    /// Starts with the given settings and returns once the server is listening.
    pub async fn start(self, settings: Settings) -> Result<RunningIntegration> {
        crate::compose::start(self.0, settings).await
    }
}
