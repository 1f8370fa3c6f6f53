//! The `--json` report: one JSON object on stdout. The run's totals stay at the top level
//! (as scripts already read them), and two sections follow, as the table shows them:
//! `per_agent` (each agent's report, in the order the agents were added) and `per_model`
//! (each model that was sent requests, with its limits in effect per minute and their
//! `limit_source`: `config`, `server` or `unknown`). Money (every field whose name has `usd`) is
//! rounded to a millionth of a dollar: the digits past it are float noise, not cost.

use quotaswarm::swarm::{lane_limits, SwarmReport};
use serde_json::{json, Map, Value};

/// The report as `quotaswarm run --json` prints it.
pub fn json_report(report: &SwarmReport) -> Result<Value, serde_json::Error> {
    let mut out = match serde_json::to_value(&report.totals)? {
        Value::Object(map) => map,
        other => {
            let mut map = Map::new();
            map.insert("totals".into(), other);
            map
        }
    };
    out.insert("per_agent".into(), serde_json::to_value(&report.agents)?);
    let per_model: Vec<Value> = report
        .stats
        .iter()
        .flat_map(|s| s.lanes.iter())
        .filter(|l| l.requests > 0)
        .map(|l| {
            json!({
                "model": l.model,
                "provider_model": l.provider_model,
                "attempts": l.requests,
                "completions": l.completions,
                "retries": l.retries,
                "rate_limited": l.rate_limited,
                "overloaded": l.overloaded,
                "input_tokens": l.input_tokens,
                "output_tokens": l.output_tokens,
                "cache_hit_share": l.cache_hit_share,
                "queue_wait_p50_secs": l.queue_wait_p50_secs,
                "queue_wait_p95_secs": l.queue_wait_p95_secs,
                "limit_source": l.limit_source,
                "limits": lane_limits(l).into_iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<Map<String, Value>>(),
                // `null` when the model has no prices: unknown, not free.
                "cost_usd": l.priced.then_some(l.cost_usd),
            })
        })
        .collect();
    out.insert("per_model".into(), Value::Array(per_model));
    let mut value = Value::Object(out);
    round_money(&mut value);
    Ok(value)
}

/// Rounds every number under a key naming dollars (`cost_usd`, `merged_usd_saved`, ...)
/// to a millionth of a dollar, at any depth.
fn round_money(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (key, val) in map.iter_mut() {
                if key.contains("usd") {
                    if let Some(x) = val.as_f64() {
                        let rounded = (x * 1e6).round() / 1e6;
                        if let Some(n) = serde_json::Number::from_f64(rounded) {
                            *val = Value::Number(n);
                        }
                        continue;
                    }
                }
                round_money(val);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(round_money),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_rounded_at_any_depth_and_nothing_else_is() {
        let mut v = json!({
            "cost_usd": 0.012_345_678_9,
            "cache_hit_share": 0.123_456_789,
            "per_model": [{"cost_usd": 1.000_000_4, "cost_burn_usd_per_min": 2.5e-9}],
            "wasted_usd": 0,
            "note": "usd",
        });
        round_money(&mut v);
        assert_eq!(v["cost_usd"], json!(0.012346));
        assert_eq!(v["cache_hit_share"], json!(0.123_456_789));
        assert_eq!(v["per_model"][0]["cost_usd"], json!(1.0));
        assert_eq!(v["per_model"][0]["cost_burn_usd_per_min"], json!(0.0));
        assert_eq!(v["wasted_usd"], json!(0.0));
        assert_eq!(v["note"], json!("usd"));
    }
}
