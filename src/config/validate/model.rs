//! `[models.NAME]`: limits, prices, caching and parameter rules; the limits check is
//! shared with `[sim.limits]`.

use super::super::problem::{duration, non_negative, positive, secs, Problem};
use super::super::raw::*;
use super::super::*;

pub(super) fn limits(
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

pub(super) fn model(
    name: &str,
    mut m: RawModel,
    providers: &BTreeMap<String, ProviderConfig>,
    presets: &BTreeMap<String, ParamRules>,
    default_burst: Duration,
    default_reuse: Duration,
) -> Result<ModelConfig, Problem> {
    let path = format!("models.{name}");
    let Some(provider_name) = m.provider.clone() else {
        return Err(Problem::new(format!("{path}.provider"), "is required"));
    };
    let Some(provider) = providers.get(&provider_name) else {
        return Err(Problem::new(
            format!("{path}.provider"),
            format!("names unknown provider {provider_name:?}"),
        ));
    };
    let (limits, limit_policy) = model_limits(&path, &m, provider.wire)?;
    let context_window = m.context_window.unwrap_or(200_000);
    if context_window == 0 {
        return Err(Problem::new(
            format!("{path}.context_window"),
            "must be > 0",
        ));
    }
    let prices = prices(&path, &m)?;
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
    let params = param_rules(&path, m.params, presets, provider.wire, &wire_model)?;
    let on_unsupported = super::super::params::on_unsupported(
        &format!("{path}.on_unsupported"),
        m.on_unsupported.as_deref(),
    )?;
    let headers = super::super::endpoint::headers(
        &format!("{path}.headers"),
        std::mem::take(&mut m.headers),
        provider.auth,
    )?;
    let extra_body =
        super::super::endpoint::extra_body(&format!("{path}.extra_body"), m.extra_body.take())?;
    Ok(ModelConfig {
        name: name.to_string(),
        provider: provider_name,
        model: wire_model,
        limits,
        limit_policy,
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
        headers,
        extra_body,
    })
}

/// A model's limits and where the broker takes them from (`limits = "server" |
/// "config"`). Without any of `rpm`, `itpm`, `otpm`, `tpm` the model learns them from the
/// server ([`LimitPolicy::Discover`], placeholders of the wire's style meanwhile);
/// pinning needs them.
fn model_limits(path: &str, m: &RawModel, wire: Wire) -> Result<(Limits, LimitPolicy), Problem> {
    let pinned = match m.limits.as_deref() {
        None | Some("server") => false,
        Some("config") => true,
        Some(other) => {
            return Err(Problem::new(
                format!("{path}.limits"),
                format!("must be \"server\" or \"config\", not {other:?}"),
            ))
        }
    };
    let none = m.rpm.is_none() && m.itpm.is_none() && m.otpm.is_none() && m.tpm.is_none();
    if none && pinned {
        return Err(Problem::new(
            format!("{path}.limits"),
            "is \"config\", which pins the configured limits, but rpm and itpm/otpm (or tpm) are not set",
        ));
    }
    if none {
        let u = UNKNOWN_LIMIT;
        let placeholder = match wire {
            Wire::OpenAi | Wire::Responses => Limits::Combined { rpm: u, tpm: u },
            _ => Limits::Split {
                rpm: u,
                itpm: u,
                otpm: u,
            },
        };
        return Ok((placeholder, LimitPolicy::Discover));
    }
    let limits = limits(path, m.rpm, m.itpm, m.otpm, m.tpm)?;
    Ok((
        limits,
        if pinned {
            LimitPolicy::Pinned
        } else {
            LimitPolicy::Learn
        },
    ))
}

/// A model's prices per million tokens; `None` without both main prices (the cost is
/// then unknown: cache prices alone do not make one). Cache prices default to the
/// vendors' multipliers of the input price (read ×0.1, 5-minute write ×1.25, 1-hour
/// write ×2); web searches to Anthropic's $10 per 1,000.
fn prices(path: &str, m: &RawModel) -> Result<Option<Prices>, Problem> {
    let price = |field: &str, v: Option<f64>| -> Result<Option<f64>, Problem> {
        v.map(|v| non_negative(&format!("{path}.{field}"), v))
            .transpose()
    };
    let input = price("input_price", m.input_price)?;
    let output = price("output_price", m.output_price)?;
    let cache_read = price("cache_read_price", m.cache_read_price)?;
    let cache_write = price("cache_write_price", m.cache_write_price)?;
    let cache_write_1h = price("cache_write_1h_price", m.cache_write_1h_price)?;
    let web_search = price("web_search_price", m.web_search_price)?;
    Ok(match (input, output) {
        (Some(input), Some(output)) => Some(Prices {
            input,
            output,
            cache_read: cache_read.unwrap_or(input * 0.1),
            cache_write: cache_write.unwrap_or(input * 1.25),
            cache_write_1h: cache_write_1h.unwrap_or(input * 2.0),
            web_search: web_search.unwrap_or(Prices::WEB_SEARCH_PER_1K),
        }),
        _ => None,
    })
}

/// The parameter rules a model names (`params = "PRESET"`), or its family's default preset.
fn param_rules(
    path: &str,
    preset: Option<String>,
    presets: &BTreeMap<String, ParamRules>,
    wire: Wire,
    wire_model: &str,
) -> Result<ParamRules, Problem> {
    Ok(match preset {
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
            .get(super::super::params::default_preset(wire, wire_model))
            .cloned()
            .unwrap_or_default(),
    })
}
