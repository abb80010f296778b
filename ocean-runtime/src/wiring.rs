//! Processor wiring: each registered processor built once, with its verifiers, group key and delivery-id
//! source, and the paths they serve.

use std::sync::Arc;

use tracing::warn;

use crate::auth::{Auth, Verifier};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::mapping::Program;
use crate::processor::DynProcessor;
use crate::registry::{AuthMode, Processor};

/// A processor's identity in the durable queue and the dead letters: `path#name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ProcessorId(String);

impl ProcessorId {
    fn new(path: &str, name: &str) -> Self {
        Self(format!("{path}#{name}"))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ProcessorId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A processor as the runtime runs it.
pub(crate) struct Running {
    pub(crate) id: ProcessorId,
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) processor: Arc<dyn DynProcessor>,
    pub(crate) verifiers: Vec<Verifier>,
    /// Processors with the same verifiers share a set: a request is verified once per set.
    pub(crate) verifier_set: usize,
    pub(crate) custom_auth: bool,
    pub(crate) unauthenticated: bool,
    pub(crate) group_by: Option<Program>,
    /// The prefix of its `group_by` keys: its `group`, or its name.
    pub(crate) group_space: String,
    pub(crate) dedup: crate::delivery::DeliveryId,
    /// The kinds it declares (`kinds = [...]`), checked against the mapping at start-up.
    pub(crate) kinds: Vec<String>,
}

/// A processor path and the processors it serves, in registration order.
pub(crate) struct PathProcessors {
    pub(crate) path: String,
    pub(crate) processors: Vec<usize>,
    /// Every processor of the path verifies with built-in verifiers only: a request none of them accepts
    /// is refused before its body is parsed.
    pub(crate) verify_first: bool,
}

/// Every processor of the integration, and the processors of each path.
pub(crate) struct Processors {
    pub(crate) list: Vec<Running>,
    pub(crate) paths: Vec<PathProcessors>,
    /// How many distinct verifier sets the processors have.
    pub(crate) verifier_sets: usize,
}

impl Processors {
    pub(crate) fn get(&self, index: usize) -> Option<&Running> {
        self.list.get(index)
    }

    /// The index of a processor named by its identity.
    pub(crate) fn position(&self, id: &str) -> Option<usize> {
        self.list.iter().position(|p| p.id.as_str() == id)
    }

    /// The identities, by index (what queue records name).
    pub(crate) fn ids(&self) -> Vec<String> {
        self.list.iter().map(|p| p.id.to_string()).collect()
    }

    /// Builds every processor with the integration's context; a missing secret stops start-up.
    pub(crate) fn build(specs: &[Processor], ctx: &Context) -> Result<Self> {
        let mut list: Vec<Running> = Vec::new();
        let mut paths: Vec<PathProcessors> = Vec::new();
        let mut verifier_sets = 0;
        for spec in specs {
            let mut running = build_one(spec, ctx)?;
            if list.iter().any(|r| r.id == running.id) {
                return Err(Error::Registration(format!(
                    "two processors are named `{}` on `{}`; give one another name",
                    spec.name, spec.path
                )));
            }
            let same = |r: &&Running| {
                r.verifiers.len() == running.verifiers.len()
                    && r.verifiers.iter().zip(&running.verifiers).all(|(a, b)| a.same_as(b))
            };
            running.verifier_set = match list.iter().find(same) {
                Some(r) => r.verifier_set,
                None => {
                    verifier_sets += 1;
                    verifier_sets - 1
                }
            };
            let verifies = !running.verifiers.is_empty() && !running.custom_auth;
            let index = list.len();
            list.push(running);
            match paths.iter_mut().find(|p| p.path == spec.path) {
                Some(p) => {
                    p.processors.push(index);
                    p.verify_first &= verifies;
                }
                None => paths.push(PathProcessors {
                    path: spec.path.clone(),
                    processors: vec![index],
                    verify_first: verifies,
                }),
            }
        }
        Ok(Self { list, paths, verifier_sets })
    }
}

/// The verifier of `a` with its secrets from the integration config, for the processor or route (`kind`)
/// named `name`. A verifier without a secret stops start-up, unless its owner is `insecure`: it is then
/// skipped, loudly (`None`).
pub(crate) fn verifier(kind: &str, name: &str, a: &Auth, insecure: bool, ctx: &Context) -> Result<Option<Verifier>> {
    let owner = format!("{kind} `{name}`");
    let value = a.secret_key.as_deref().and_then(|k| ctx.get(k));
    match a.build_verifier(value).map_err(|e| Error::Config(format!("{owner}: {e}")))? {
        Some(v) => Ok(Some(v)),
        None if insecure => {
            warn!(verifier = %a.describe(), "{owner}: no secret configured; verification skipped (insecure)");
            Ok(None)
        }
        None => Err(Error::Config(format!(
            "{owner} verifies with {} but no secret is configured: set OCEAN__INTEGRATION__CONFIG__{} (or mark the {kind} `insecure`)",
            a.describe(),
            crate::config::snake_case(a.secret_key.as_deref().unwrap_or_default()).to_ascii_uppercase()
        ))),
    }
}

fn build_one(spec: &Processor, ctx: &Context) -> Result<Running> {
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
                vs.extend(verifier("processor", &spec.name, a, spec.insecure, ctx)?);
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
    let dedup = match (&spec.dedup, &spec.auth) {
        (Some(d), _) => d.clone(),
        (None, AuthMode::Verifiers { specs, .. }) => {
            specs.first().map_or(crate::delivery::none(), crate::auth::Auth::delivery_id)
        }
        (None, _) => crate::delivery::none(),
    };
    Ok(Running {
        id: ProcessorId::new(&spec.path, &spec.name),
        dedup,
        name: spec.name.clone(),
        path: spec.path.clone(),
        processor,
        verifiers,
        verifier_set: 0,
        custom_auth,
        unauthenticated,
        group_by,
        group_space: spec.group.clone().unwrap_or_else(|| spec.name.clone()),
        kinds: spec.kinds.clone(),
    })
}
