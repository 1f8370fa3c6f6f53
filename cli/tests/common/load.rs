//! The load the multi-process tests give `quotaswarm run` processes on one key: the
//! limits (client and simulator alike), the simulator's config, each process's scripted
//! scenario, and the simulator's stats. Included with `#[path]` by the tests that use all
//! of it (`multi_process.rs`, `realtime/chaos.rs`), so the other tests sharing `common` carry none.

pub const RPM: f64 = 1200.0;
pub const ITPM: f64 = 120_000.0;
pub const OTPM: f64 = 60_000.0;
pub const PROCESSES: usize = 3;
/// Agents in each process.
pub const AGENTS: usize = 8;

/// Model `m`'s limits and prices, for the `[models.m]` table.
pub fn limits() -> String {
    format!("rpm = {RPM}\nitpm = {ITPM}\notpm = {OTPM}\nburst_secs = 2\ninput_price = 3.0\noutput_price = 15.0\n")
}

/// A `quotaswarm run` process's config: model `m` on the simulator at `url`, the key
/// read from `key_env`, the quota's `namespace`, and the defaults for everything else
/// (the local share while Redis is down, backoff, retries, the patience with 429s),
/// which are what the tests are about.
pub fn client_config(url: &str, namespace: &str, key_env: &str) -> String {
    format!(
        "replace_defaults = true\n[providers.anthropic]\nkind = \"anthropic\"\n\
         base_url = \"{url}\"\napi_key_env = \"{key_env}\"\n\
         [models.m]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\n{}\
         [quota]\nnamespace = \"{namespace}\"\n",
        limits()
    )
}

/// The simulator's config, with `extra` (e.g. `[[sim.faults]]` tables) at the end.
pub fn sim_config(extra: &str) -> String {
    format!(
        "replace_defaults = true\n[providers.anthropic]\nkind = \"anthropic\"\n\
         [models.m]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\n{}\
         [sim]\nburst_secs = 2\nlatency_ms = 30\nper_token_ms = 1\n{extra}",
        limits()
    )
}

fn words(i: usize, n: usize) -> String {
    let mut s = format!("Question {i}:");
    for w in 0..n {
        s.push_str([" queue", " bucket", " refill", " token", " agent"][(w * 7 + i) % 5]);
    }
    s
}

/// `AGENTS` scripted agents, `turns` one-shot turns each of about 400 input tokens,
/// distinct for each `process`.
pub fn scenario(process: usize, turns: usize, deadline_secs: u64) -> String {
    let turns: Vec<serde_json::Value> = (0..turns)
        .map(|t| {
            serde_json::json!({"oneshot": {
                "system": "Answer briefly.",
                "user": words(process * 100 + t, 380),
                "max_tokens": 120
            }})
        })
        .collect();
    serde_json::json!({
        "name": format!("process {process}"),
        "deadline_secs": deadline_secs,
        "agents": [{
            "name": "agent", "kind": "scripted", "model": "m", "copies": AGENTS,
            "coalesce": false, "max_tokens": 120, "turns": turns
        }]
    })
    .to_string()
}
