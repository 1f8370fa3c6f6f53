//! Raw config → runtime config, with errors that name the path. Where the path is in
//! the user's file is found later (`locate.rs`), after the overlay.
//!
//! One file per section: `provider.rs`, `model.rs` (limits, prices, caching, parameter
//! rules), `broker.rs`, `sim.rs`; `[param_presets]` and `[quota]` are validated in
//! `params.rs` and `quota.rs` beside their types. This file ties them together and
//! checks the ladders, which name models.

mod broker;
mod model;
mod provider;
mod sim;

use super::problem::{duration, positive, Problem};
use super::raw::*;
use super::*;

/// The runtime config and its warnings (models without prices), or the first problem.
pub(super) fn validate(raw: RawConfig) -> Result<(Config, Vec<Problem>), Problem> {
    let mut providers = BTreeMap::new();
    for (name, p) in raw.providers {
        providers.insert(name.clone(), provider::provider(&name, p)?);
    }
    let default_burst = match raw.broker.burst_secs {
        Some(b) => duration("broker.burst_secs", positive("broker.burst_secs", b)?)?,
        None => Duration::from_secs(10),
    };
    let broker = broker::broker(raw.broker)?;
    let default_reuse = broker.reuse;
    let presets = super::params::presets(raw.param_presets)?;
    let mut models = BTreeMap::new();
    let mut warnings = Vec::new();
    for (name, m) in raw.models {
        if let Some(w) = unpriced(&name, &m) {
            warnings.push(w);
        }
        let mc = model::model(&name, m, &providers, &presets, default_burst, default_reuse)?;
        models.insert(name, mc);
    }
    let mut ladders = BTreeMap::new();
    for (name, rungs) in raw.ladders {
        let path = format!("ladders.{name}");
        if rungs.is_empty() {
            return Err(Problem::new(path, "must name at least one model"));
        }
        if models.contains_key(&name) {
            return Err(Problem::new(path, "has the same name as a model"));
        }
        for (i, m) in rungs.iter().enumerate() {
            if !models.contains_key(m) {
                return Err(Problem::new(
                    format!("{path}[{i}]"),
                    format!("names unknown model {m:?}"),
                ));
            }
        }
        ladders.insert(name, rungs);
    }
    let sim = sim::sim(raw.sim, &models)?;
    let quota = super::quota::quota(raw.quota)?;
    let config = Config {
        providers,
        models,
        ladders,
        broker,
        sim,
        quota,
        alerts: super::alerts::alerts(raw.alerts)?,
        otlp: super::otlp::otlp(raw.otlp)?,
        transcript: None,
        warnings: Vec::new(),
    };
    Ok((config, warnings))
}

/// The warning for a model without both main prices: its cost is unknown.
fn unpriced(name: &str, m: &RawModel) -> Option<Problem> {
    let missing: Vec<&str> = [
        ("input_price", m.input_price.is_none()),
        ("output_price", m.output_price.is_none()),
    ]
    .into_iter()
    .filter_map(|(field, missing)| missing.then_some(field))
    .collect();
    (!missing.is_empty()).then(|| {
        Problem::new(
            format!("models.{name}"),
            format!(
                "has no {}: its cost is unknown (reported as \"cost unknown\", counted as $0 in the totals)",
                missing.join(" or ")
            ),
        )
    })
}
