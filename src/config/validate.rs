//! Raw config → runtime config, with errors that name the path. Where the path is in
//! the user's file is found later (`locate.rs`), after the overlay.

use super::raw::*;
use super::*;

/// A problem found by validation, not yet placed in a file: a path and what is wrong
/// there (`models.sonnet.itpm`, `must be > 0`).
#[derive(Debug)]
pub(super) struct Problem {
    pub(super) path: String,
    pub(super) problem: String,
}

impl Problem {
    pub(super) fn new(path: impl Into<String>, problem: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

fn positive(path: &str, v: f64) -> Result<f64, Problem> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(Problem::new(path, "must be > 0"))
    }
}

fn non_negative(path: &str, v: f64) -> Result<f64, Problem> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(Problem::new(path, "must be >= 0"))
    }
}

/// `secs` seconds as a duration; a finite value too large for one (`1e300`) is an error,
/// not a panic.
fn duration(path: &str, secs: f64) -> Result<Duration, Problem> {
    Duration::try_from_secs_f64(secs).map_err(|_| Problem::new(path, "is too large"))
}

fn secs(path: &str, v: Option<f64>, default: Duration) -> Result<Duration, Problem> {
    match v {
        None => Ok(default),
        Some(s) => duration(path, non_negative(path, s)?),
    }
}

fn wire(path: &str, s: &str) -> Result<Wire, Problem> {
    match s {
        "anthropic" => Ok(Wire::Anthropic),
        "openai" => Ok(Wire::OpenAi),
        other => Err(Problem::new(
            path,
            format!("must be \"anthropic\" or \"openai\", not {other:?}"),
        )),
    }
}

/// The runtime config and its warnings (models without prices), or the first problem.
pub(super) fn validate(raw: RawConfig) -> Result<(Config, Vec<Problem>), Problem> {
    let mut providers = BTreeMap::new();
    for (name, p) in raw.providers {
        providers.insert(name.clone(), provider(&name, p)?);
    }
    let default_burst = match raw.broker.burst_secs {
        Some(b) => duration("broker.burst_secs", positive("broker.burst_secs", b)?)?,
        None => Duration::from_secs(10),
    };
    let broker = broker(raw.broker)?;
    let default_reuse = broker.reuse;
    let presets = super::params::presets(raw.param_presets)?;
    let mut models = BTreeMap::new();
    let mut warnings = Vec::new();
    for (name, m) in raw.models {
        if let Some(w) = unpriced(&name, &m) {
            warnings.push(w);
        }
        let mc = model(&name, m, &providers, &presets, default_burst, default_reuse)?;
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
    let sim = sim(raw.sim, &models)?;
    let quota = super::quota::quota(raw.quota)?;
    let config = Config {
        providers,
        models,
        ladders,
        broker,
        sim,
        quota,
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

fn provider(name: &str, p: RawProvider) -> Result<ProviderConfig, Problem> {
    let path = format!("providers.{name}");
    let Some(kind) = p.kind.as_deref() else {
        return Err(Problem::new(
            format!("{path}.kind"),
            "is required (\"anthropic\", \"openai\" or \"sim\")",
        ));
    };
    let (wire, transport) = match kind {
        "anthropic" => (Wire::Anthropic, Transport::Http),
        "openai" => (Wire::OpenAi, Transport::Http),
        "sim" => {
            let w = p.wire.as_deref().unwrap_or("anthropic");
            (wire(&format!("{path}.wire"), w)?, Transport::Embedded)
        }
        other => {
            return Err(Problem::new(
                format!("{path}.kind"),
                format!("must be \"anthropic\", \"openai\" or \"sim\", not {other:?}"),
            ))
        }
    };
    if p.wire.is_some() && kind != "sim" {
        return Err(Problem::new(
            format!("{path}.wire"),
            "is only for kind = \"sim\"",
        ));
    }
    let default_url = match wire {
        Wire::Anthropic => "https://api.anthropic.com",
        Wire::OpenAi => "https://api.openai.com",
    };
    let base_url = p.base_url.unwrap_or_else(|| default_url.to_string());
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(Problem::new(
            format!("{path}.base_url"),
            "must start with http:// or https://",
        ));
    }
    // Accept both `https://host` and `https://host/v1`: paths are appended as `/v1/...`.
    let base_url = base_url
        .trim_end_matches('/')
        .trim_end_matches("/v1")
        .to_string();
    let timeout = secs(
        &format!("{path}.timeout_secs"),
        p.timeout_secs,
        Duration::from_secs(600),
    )?;
    if timeout.is_zero() {
        return Err(Problem::new(format!("{path}.timeout_secs"), "must be > 0"));
    }
    let stream_idle_timeout = secs(
        &format!("{path}.stream_idle_timeout_secs"),
        p.stream_idle_timeout_secs,
        Duration::from_secs(60),
    )?;
    if stream_idle_timeout.is_zero() {
        return Err(Problem::new(
            format!("{path}.stream_idle_timeout_secs"),
            "must be > 0",
        ));
    }
    Ok(ProviderConfig {
        name: name.to_string(),
        wire,
        transport,
        base_url,
        api_key_env: p.api_key_env,
        api_key: None,
        timeout,
        stream_idle_timeout,
    })
}

fn limits(
    path: &str,
    rpm: Option<f64>,
    itpm: Option<f64>,
    otpm: Option<f64>,
    tpm: Option<f64>,
) -> Result<Limits, Problem> {
    let rpm = positive(
        &format!("{path}.rpm"),
        rpm.ok_or_else(|| Problem::new(format!("{path}.rpm"), "is required"))?,
    )?;
    match (itpm, otpm, tpm) {
        (Some(i), Some(o), None) => Ok(Limits::Split {
            rpm,
            itpm: positive(&format!("{path}.itpm"), i)?,
            otpm: positive(&format!("{path}.otpm"), o)?,
        }),
        (None, None, Some(t)) => Ok(Limits::Combined {
            rpm,
            tpm: positive(&format!("{path}.tpm"), t)?,
        }),
        (_, _, Some(_)) => Err(Problem::new(
            path,
            "sets tpm together with itpm/otpm: use itpm + otpm (Anthropic-style) or tpm (OpenAI-style)",
        )),
        (None, _, None) => Err(Problem::new(
            format!("{path}.itpm"),
            "is required (or set tpm for an OpenAI-style combined limit)",
        )),
        (_, None, None) => Err(Problem::new(format!("{path}.otpm"), "is required")),
    }
}

fn model(
    name: &str,
    m: RawModel,
    providers: &BTreeMap<String, ProviderConfig>,
    presets: &BTreeMap<String, ParamRules>,
    default_burst: Duration,
    default_reuse: Duration,
) -> Result<ModelConfig, Problem> {
    let path = format!("models.{name}");
    let Some(provider_name) = m.provider else {
        return Err(Problem::new(format!("{path}.provider"), "is required"));
    };
    let Some(provider) = providers.get(&provider_name) else {
        return Err(Problem::new(
            format!("{path}.provider"),
            format!("names unknown provider {provider_name:?}"),
        ));
    };
    let limits = limits(&path, m.rpm, m.itpm, m.otpm, m.tpm)?;
    let context_window = m.context_window.unwrap_or(200_000);
    if context_window == 0 {
        return Err(Problem::new(
            format!("{path}.context_window"),
            "must be > 0",
        ));
    }
    let price = |field: &str, v: Option<f64>| -> Result<Option<f64>, Problem> {
        v.map(|v| non_negative(&format!("{path}.{field}"), v))
            .transpose()
    };
    let input = price("input_price", m.input_price)?;
    let output = price("output_price", m.output_price)?;
    let cache_read = price("cache_read_price", m.cache_read_price)?;
    let cache_write = price("cache_write_price", m.cache_write_price)?;
    let cache_write_1h = price("cache_write_1h_price", m.cache_write_1h_price)?;
    // Without both main prices the cost is unknown; cache prices alone do not make one.
    let prices = match (input, output) {
        (Some(input), Some(output)) => Some(Prices {
            input,
            output,
            cache_read: cache_read.unwrap_or(input * 0.1),
            cache_write: cache_write.unwrap_or(input * 1.25),
            cache_write_1h: cache_write_1h.unwrap_or(input * 2.0),
        }),
        _ => None,
    };
    let burst = match m.burst_secs {
        Some(b) => {
            let at = format!("{path}.burst_secs");
            duration(&at, positive(&at, b)?)?
        }
        None => default_burst,
    };
    let count_tokens_rpm = match m.count_tokens_rpm {
        Some(_) if provider.wire != Wire::Anthropic => {
            return Err(Problem::new(
                format!("{path}.count_tokens_rpm"),
                "is only for Anthropic models",
            ));
        }
        Some(r) => Some(positive(&format!("{path}.count_tokens_rpm"), r)?),
        None => None,
    };
    let wire_model = m.model.unwrap_or_else(|| name.to_string());
    let anthropic = provider.wire == Wire::Anthropic;
    let cache_ttl = match m.cache_ttl.as_deref() {
        None | Some("5m") => crate::types::CacheTtl::FiveMinutes,
        Some("1h") => crate::types::CacheTtl::OneHour,
        Some(other) => {
            return Err(Problem::new(
                format!("{path}.cache_ttl"),
                format!("must be \"5m\" or \"1h\", not {other:?}"),
            ))
        }
    };
    let min_cache_tokens = m.min_cache_tokens.unwrap_or(1024);
    let params = match m.params {
        Some(p) => match presets.get(&p) {
            Some(rules) => rules.clone(),
            None => {
                return Err(Problem::new(
                    format!("{path}.params"),
                    format!(
                        "names unknown preset {p:?} (the config has {:?})",
                        presets.keys().collect::<Vec<_>>()
                    ),
                ))
            }
        },
        None => presets
            .get(super::params::default_preset(provider.wire, &wire_model))
            .cloned()
            .unwrap_or_default(),
    };
    let on_unsupported = super::params::on_unsupported(
        &format!("{path}.on_unsupported"),
        m.on_unsupported.as_deref(),
    )?;
    Ok(ModelConfig {
        name: name.to_string(),
        provider: provider_name,
        model: wire_model,
        limits,
        context_window,
        prices,
        burst,
        count_tokens_rpm,
        reuse: secs(&format!("{path}.reuse_secs"), m.reuse_secs, default_reuse)?,
        auto_cache: anthropic && m.auto_cache.unwrap_or(true),
        min_cache_tokens,
        cache_ttl,
        cache_reads_count: m.cache_reads_count.unwrap_or(false),
        params,
        on_unsupported,
    })
}

fn broker(b: RawBroker) -> Result<BrokerConfig, Problem> {
    let d = BrokerConfig::default();
    let max_attempts = b.max_attempts.unwrap_or(d.max_attempts);
    if max_attempts == 0 {
        return Err(Problem::new("broker.max_attempts", "must be >= 1"));
    }
    let safety_margin = non_negative(
        "broker.safety_margin",
        b.safety_margin.unwrap_or(d.safety_margin),
    )?;
    let max_in_flight = b.max_in_flight.unwrap_or(d.max_in_flight);
    if max_in_flight == 0 {
        return Err(Problem::new("broker.max_in_flight", "must be >= 1"));
    }
    let estimator_cache_entries = b
        .estimator_cache_entries
        .unwrap_or(d.estimator_cache_entries);
    if estimator_cache_entries == 0 {
        return Err(Problem::new(
            "broker.estimator_cache_entries",
            "must be >= 1",
        ));
    }
    let circuit_threshold = b.circuit_threshold.unwrap_or(d.circuit_threshold);
    if circuit_threshold == 0 {
        return Err(Problem::new("broker.circuit_threshold", "must be >= 1"));
    }
    Ok(BrokerConfig {
        max_attempts,
        retry_after_cap: secs(
            "broker.retry_after_cap_secs",
            b.retry_after_cap_secs,
            d.retry_after_cap,
        )?,
        backoff_base: secs(
            "broker.backoff_base_secs",
            b.backoff_base_secs,
            d.backoff_base,
        )?,
        backoff_cap: secs("broker.backoff_cap_secs", b.backoff_cap_secs, d.backoff_cap)?,
        safety_margin,
        coalesce: b.coalesce.unwrap_or(d.coalesce),
        max_in_flight,
        circuit_threshold,
        circuit_cooldown: secs(
            "broker.circuit_cooldown_secs",
            b.circuit_cooldown_secs,
            d.circuit_cooldown,
        )?,
        ladder_max_wait: secs(
            "broker.ladder_max_wait_secs",
            b.ladder_max_wait_secs,
            d.ladder_max_wait,
        )?,
        estimator_cache_entries,
        reuse: secs("broker.reuse_secs", b.reuse_secs, d.reuse)?,
    })
}

fn sim(s: RawSim, models: &BTreeMap<String, ModelConfig>) -> Result<SimConfig, Problem> {
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
        let merged = match m.limits {
            Limits::Split { rpm, itpm, otpm } => {
                if l.tpm.is_some() {
                    return Err(Problem::new(
                        format!("{path}.tpm"),
                        "does not apply to an itpm/otpm model",
                    ));
                }
                limits(
                    &path,
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
                    &path,
                    Some(l.rpm.unwrap_or(rpm)),
                    None,
                    None,
                    Some(l.tpm.unwrap_or(tpm)),
                )?
            }
        };
        limits_by_wire.insert(m.model.clone(), merged);
    }
    let mut faults = Vec::new();
    for (i, f) in s.faults.into_iter().enumerate() {
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
        faults.push(Fault {
            model,
            kind,
            rate: f.rate,
        });
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

/// A share in 0..=1 (`sim.tool_call_rate`, ...), or the default.
fn share(path: &str, value: Option<f64>, default: f64) -> Result<f64, Problem> {
    match value {
        Some(v) if !(0.0..=1.0).contains(&v) => Err(Problem::new(path, "must be between 0 and 1")),
        Some(v) => Ok(v),
        None => Ok(default),
    }
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
