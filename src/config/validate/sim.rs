//! `[sim]`: the simulator's limits overrides, faults and behaviour switches.

use super::super::problem::{duration, non_negative, positive, share, Problem};
use super::super::raw::*;
use super::super::*;
use super::model::limits;

pub(super) fn sim(s: RawSim, models: &BTreeMap<String, ModelConfig>) -> Result<SimConfig, Problem> {
    let d = SimConfig::default();
    let token_factor = positive("sim.token_factor", s.token_factor.unwrap_or(d.token_factor))?;
    let otpm_mode = match s.otpm_mode.as_deref() {
        None | Some("actual") => OtpmMode::Actual,
        Some("max_tokens") => OtpmMode::MaxTokens,
        Some(other) => {
            return Err(Problem::new(
                "sim.otpm_mode",
                format!("must be \"actual\" or \"max_tokens\", not {other:?}"),
            ))
        }
    };
    let mut limits_by_wire = BTreeMap::new();
    for (name, l) in s.limits {
        let path = format!("sim.limits.{name}");
        let Some(m) = models.get(&name) else {
            return Err(Problem::new(path, "names unknown model"));
        };
        let merged = limits_override(&path, l, m)?;
        limits_by_wire.insert(m.model.clone(), merged);
    }
    let mut faults = Vec::new();
    for (i, f) in s.faults.into_iter().enumerate() {
        faults.push(fault(i, f, models)?);
    }
    Ok(SimConfig {
        api_keys: s.api_keys,
        token_factor,
        latency: duration(
            "sim.latency_ms",
            non_negative("sim.latency_ms", s.latency_ms.unwrap_or(20.0))? / 1000.0,
        )?,
        per_token: duration(
            "sim.per_token_ms",
            non_negative("sim.per_token_ms", s.per_token_ms.unwrap_or(0.0))? / 1000.0,
        )?,
        seed: s.seed.unwrap_or(d.seed),
        burst_secs: match s.burst_secs {
            Some(b) if !(b > 0.0 && b <= 60.0) => {
                return Err(Problem::new("sim.burst_secs", "must be > 0 and <= 60"))
            }
            Some(b) => b,
            None => d.burst_secs,
        },
        otpm_mode,
        limits: limits_by_wire,
        faults,
        tool_calls: s.tool_calls.unwrap_or(d.tool_calls),
        tool_call_rate: share("sim.tool_call_rate", s.tool_call_rate, d.tool_call_rate)?,
        tool_steps: s.tool_steps.unwrap_or(d.tool_steps),
        schema_violation_rate: share(
            "sim.schema_violation_rate",
            s.schema_violation_rate,
            d.schema_violation_rate,
        )?,
        prompt_caching: s.prompt_caching.unwrap_or(d.prompt_caching),
        cache_min_tokens: cache_min_tokens(s.cache_min_tokens, models)?,
        thinking: s.thinking.unwrap_or(d.thinking),
        strict_validation: s.strict_validation.unwrap_or(d.strict_validation),
        charge_refused_requests: s
            .charge_refused_requests
            .unwrap_or(d.charge_refused_requests),
        max_body_bytes: match s.max_body_bytes {
            Some(0) => return Err(Problem::new("sim.max_body_bytes", "must be > 0")),
            Some(n) => n,
            None => d.max_body_bytes,
        },
        spend_cap: s.spend_cap.unwrap_or(d.spend_cap),
        spend_cap_keys: s.spend_cap_keys,
    })
}

/// `[sim.cache_min_tokens]`, keyed by config model name, as wire model name.
fn cache_min_tokens(
    raw: BTreeMap<String, u64>,
    models: &BTreeMap<String, ModelConfig>,
) -> Result<BTreeMap<String, u64>, Problem> {
    let mut out = BTreeMap::new();
    for (name, n) in raw {
        let path = format!("sim.cache_min_tokens.{name}");
        let Some(m) = models.get(&name) else {
            return Err(Problem::new(path, "names unknown model"));
        };
        out.insert(m.model.clone(), n);
    }
    Ok(out)
}

/// `[sim.limits.NAME]`: the model's own limits with the overridden ones replaced; an
/// override must keep the model's shape (itpm/otpm or tpm).
fn limits_override(path: &str, l: RawSimLimits, m: &ModelConfig) -> Result<Limits, Problem> {
    Ok(match m.limits {
        Limits::Split { rpm, itpm, otpm } => {
            if l.tpm.is_some() {
                return Err(Problem::new(
                    format!("{path}.tpm"),
                    "does not apply to an itpm/otpm model",
                ));
            }
            limits(
                path,
                Some(l.rpm.unwrap_or(rpm)),
                Some(l.itpm.unwrap_or(itpm)),
                Some(l.otpm.unwrap_or(otpm)),
                None,
            )?
        }
        Limits::Combined { rpm, tpm } => {
            if l.itpm.is_some() || l.otpm.is_some() {
                return Err(Problem::new(path, "sets itpm/otpm for a tpm model"));
            }
            limits(
                path,
                Some(l.rpm.unwrap_or(rpm)),
                None,
                None,
                Some(l.tpm.unwrap_or(tpm)),
            )?
        }
    })
}

/// `[[sim.faults]]` entry `i`: which model, what happens, how often.
fn fault(i: usize, f: RawFault, models: &BTreeMap<String, ModelConfig>) -> Result<Fault, Problem> {
    let path = format!("sim.faults[{i}]");
    if !(0.0..=1.0).contains(&f.rate) {
        return Err(Problem::new(
            format!("{path}.rate"),
            "must be between 0 and 1",
        ));
    }
    let model = match f.model {
        None => None,
        Some(name) => match models.get(&name) {
            Some(m) => Some(m.model.clone()),
            None => {
                return Err(Problem::new(
                    format!("{path}.model"),
                    format!("names unknown model {name:?}"),
                ))
            }
        },
    };
    let mid_stream = f.mid_stream.unwrap_or(false);
    if f.after_tokens.is_some() && !mid_stream {
        return Err(Problem::new(
            format!("{path}.after_tokens"),
            "applies only with mid_stream = true",
        ));
    }
    let kind = match (f.status, f.slow_ms) {
        (None, None) if mid_stream => FaultKind::MidStream {
            after_tokens: f.after_tokens.unwrap_or(0),
        },
        _ if mid_stream => {
            return Err(Problem::new(
                path,
                "needs exactly one of status, slow_ms or mid_stream",
            ))
        }
        (Some(s @ (500 | 502 | 503 | 504 | 529)), None) => FaultKind::Status(s),
        (Some(s), None) => {
            return Err(Problem::new(
                format!("{path}.status"),
                format!("must be 500, 502, 503, 504 or 529, not {s}"),
            ))
        }
        (None, Some(ms)) => {
            let at = format!("{path}.slow_ms");
            FaultKind::Slow(duration(&at, non_negative(&at, ms)? / 1000.0)?)
        }
        _ => {
            return Err(Problem::new(
                path,
                "needs exactly one of status, slow_ms or mid_stream",
            ))
        }
    };
    Ok(Fault {
        model,
        kind,
        rate: f.rate,
    })
}
