//! A `base_url` where nothing listens fails the run's requests within seconds, naming the
//! URL and the setting to fix, instead of retrying through backoffs and circuit
//! cool-downs (about 75 s per request before).

use crate::common;
use std::time::{Duration, Instant};

#[test]
fn a_base_url_where_nothing_listens_fails_fast_and_names_the_url() {
    // A port that was free a moment ago: connecting to it is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base_url = format!("http://127.0.0.1:{port}");
    let dir = std::env::temp_dir().join(format!("quotaswarm-unreachable-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[providers.anthropic]\nkind = \"anthropic\"\nbase_url = \"{base_url}\"\n\
             api_key_env = \"QUOTASWARM_TEST_KEY\"\n"
        ),
    )
    .unwrap();
    let scenario = dir.join("scenario.json");
    std::fs::write(
        &scenario,
        r#"{"name": "wrong url", "agents": [{"name": "a", "model": "sonnet",
            "turns": [{"user": "one"}, {"user": "two"}]}]}"#,
    )
    .unwrap();

    let t0 = Instant::now();
    let out = common::run_scenario(&[], &scenario, &config);
    let elapsed = t0.elapsed();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{elapsed:?}\n{all}");
    // Well under the ~75 s of backoffs before, with room for a loaded machine.
    assert!(
        elapsed < Duration::from_secs(30),
        "two turns failed in {elapsed:?}"
    );
    assert!(
        all.contains(&format!(
            "nothing answers at {base_url} (connection refused)"
        )),
        "{all}"
    );
    assert!(all.contains("check providers.anthropic.base_url"), "{all}");
    // Requests ended in errors: the documented failures code.
    assert_eq!(out.status.code(), Some(1), "{all}");
}
