//! What each client did: requests, errors by status, tokens, cost, and the gateway's
//! refusals by reason, labelled with the client's configured name (never its key). The
//! broker's stats know models, not clients; these sit beside them in `/stats` and
//! `/metrics`.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

#[derive(Debug, Default, Serialize)]
struct Counters {
    requests: u64,
    errors: BTreeMap<u16, u64>,
    input_tokens: u64,
    output_tokens: u64,
    cost_usd: f64,
    refusals: BTreeMap<&'static str, u64>,
}

/// One counter of a client, as a sample value.
type Reading = fn(&Counters) -> f64;

/// The counters of every client seen so far, by name.
#[derive(Debug, Default)]
pub struct Usage(Mutex<BTreeMap<String, Counters>>);

impl Usage {
    fn with(&self, client: &str, f: impl FnOnce(&mut Counters)) {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(all.entry(client.to_string()).or_default());
    }

    /// One request of `client` arrived (answered or not).
    pub fn request(&self, client: &str) {
        self.with(client, |c| c.requests += 1);
    }

    /// One request of `client` completed, with its tokens and cost.
    pub fn completed(&self, client: &str, input: u64, output: u64, usd: f64) {
        self.with(client, |c| {
            c.input_tokens += input;
            c.output_tokens += output;
            c.cost_usd += usd;
        });
    }

    /// One request of `client` failed with `status`; `refusal` names why when the
    /// gateway itself refused it.
    pub fn failed(&self, client: &str, status: u16, refusal: Option<&'static str>) {
        self.with(client, |c| {
            *c.errors.entry(status).or_default() += 1;
            if let Some(r) = refusal {
                *c.refusals.entry(r).or_default() += 1;
            }
        });
    }

    /// The `clients` section of `/stats`.
    pub fn json(&self) -> Value {
        let all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        serde_json::to_value(&*all).unwrap_or(Value::Null)
    }

    /// The per-client families in Prometheus text format 0.0.4.
    pub fn prometheus(&self) -> String {
        let all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        let simple: [(&str, &str, Reading); 4] = [
            (
                "requests_total",
                "Requests per gateway client, answered or not.",
                |c| c.requests as f64,
            ),
            (
                "input_tokens_total",
                "Input tokens of completed requests per gateway client.",
                |c| c.input_tokens as f64,
            ),
            (
                "output_tokens_total",
                "Output tokens of completed requests per gateway client.",
                |c| c.output_tokens as f64,
            ),
            (
                "cost_usd_total",
                "Cost in USD of completed requests per gateway client.",
                |c| c.cost_usd,
            ),
        ];
        for (name, help, value) in simple {
            family(&mut out, name, help);
            for (client, c) in all.iter() {
                let _ = writeln!(
                    out,
                    "quotaswarm_gateway_client_{name}{{client=\"{}\"}} {}",
                    escape(client),
                    value(c)
                );
            }
        }
        let errors = Family {
            name: "errors_total",
            help: "Failed requests per gateway client and HTTP status.",
            label: "status",
        };
        errors.write(&mut out, &all, |c| &c.errors);
        let refusals = Family {
            name: "refusals_total",
            help: "Requests the gateway itself refused, per client and reason.",
            label: "reason",
        };
        refusals.write(&mut out, &all, |c| &c.refusals);
        out
    }
}

/// A family with a second label: one sample per client and key of one of its maps.
struct Family {
    name: &'static str,
    help: &'static str,
    /// What the map's keys are, as a label name.
    label: &'static str,
}

impl Family {
    fn write<K: std::fmt::Display>(
        &self,
        out: &mut String,
        all: &BTreeMap<String, Counters>,
        map: impl Fn(&Counters) -> &BTreeMap<K, u64>,
    ) {
        let Family { name, help, label } = self;
        family(out, name, help);
        for (client, c) in all {
            for (key, n) in map(c) {
                let _ = writeln!(
                    out,
                    "quotaswarm_gateway_client_{name}{{client=\"{}\",{label}=\"{key}\"}} {n}",
                    escape(client)
                );
            }
        }
    }
}

fn family(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP quotaswarm_gateway_client_{name} {help}");
    let _ = writeln!(out, "# TYPE quotaswarm_gateway_client_{name} counter");
}

/// A label value as the text format requires (client names come from the config).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_kept_per_client_and_rendered_in_both_formats() {
        let u = Usage::default();
        u.request("alice");
        u.completed("alice", 10, 20, 0.5);
        u.request("bob");
        u.failed("bob", 429, Some("client_rate_limit"));
        let j = u.json();
        assert_eq!(j["alice"]["output_tokens"], 20);
        assert_eq!(j["bob"]["errors"]["429"], 1);
        assert_eq!(j["bob"]["refusals"]["client_rate_limit"], 1);
        let m = u.prometheus();
        assert!(m.contains("quotaswarm_gateway_client_requests_total{client=\"alice\"} 1\n"));
        assert!(m.contains(
            "quotaswarm_gateway_client_refusals_total{client=\"bob\",reason=\"client_rate_limit\"} 1\n"
        ));
    }
}
