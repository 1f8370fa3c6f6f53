//! The prompt-caching scenario (`cli/src/scenario/caching.json` over `caching.toml`), run
//! through the same core `quotaswarm run --scenario ... --config ...` calls, on the
//! in-process simulator in paused time: the report table shows the cache-hit share and
//! the `--json` totals carry `cache_read_tokens` and `cache_write_tokens`.

use quotaswarm::swarm::report_table;
use quotaswarm::Config;
use quotaswarm_cli::scenario::{RunOptions, Scenario};
use std::path::PathBuf;

fn file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/scenario")
        .join(name)
}

#[tokio::test(start_paused = true)]
async fn the_caching_scenario_reports_its_cache_hits_in_the_table_and_the_json() {
    let scenario = Scenario::load(&file("caching.json")).expect("the scenario parses");
    let config = Config::load(&file("caching.toml")).expect("its config loads");
    let agents: usize = scenario.agents.iter().map(|a| a.names().len()).sum();
    assert_eq!(agents, 4);
    let report = scenario
        .run(config, quotaswarm_sim::embedded(), RunOptions::default())
        .await
        .expect("the scenario runs");
    let table = report_table(&report);
    println!("{table}");
    let t = &report.totals;
    assert_eq!(t.agents_finished, 4, "{:?}", report.agents);
    assert_eq!(t.errors, 0);
    assert_eq!(t.completions, 48, "4 analysts x 12 turns");
    assert_eq!(t.rate_limited, 0);
    assert!(table.contains("prompt cache: hit "), "{table}");
    assert!(table.contains("cache hit "), "the lane line: {table}");

    let json: serde_json::Value = serde_json::from_str(&serde_json::to_string(t).unwrap()).unwrap();
    let reads = json["cache_read_tokens"]
        .as_u64()
        .expect("cache_read_tokens");
    let writes = json["cache_write_tokens"]
        .as_u64()
        .expect("cache_write_tokens");
    let share = json["cache_hit_share"].as_f64().expect("cache_hit_share");
    println!("{json}");
    assert!(reads > 0 && writes > 0, "reads {reads}, writes {writes}");
    assert!(share >= 0.4, "cache reads {:.1}% of input", share * 100.0);
    assert!(json["cache_saved_usd"].as_f64().unwrap() > 0.0);
}
