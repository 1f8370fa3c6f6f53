//! Paused-time tests of the fallback ladder and the circuit breaker, against the embedded
//! simulator with exhausted quotas and injected faults.

use crate::common;

use quotaswarm::broker::{BrokerError, CircuitState};
use quotaswarm::config::{Fault, FaultKind, Limits};
use quotaswarm::provider::ProviderError;
use quotaswarm::swarm::Swarm;
use quotaswarm::{CompletionRequest, Config};
use std::time::Duration;
use tokio::time::Instant;

fn config(extra: &str) -> Config {
    let mut c = Config::from_toml_str_over_previous_defaults(
        &format!("[sim]\nlatency_ms = 20\n{extra}"),
        "test",
    )
    .expect("config");
    for m in c.models.values_mut() {
        m.limits = m.limits.scaled(10.0);
    }
    c
}

fn tiny() -> Limits {
    Limits::Split {
        rpm: 1.0,
        itpm: 100_000.0,
        otpm: 100_000.0,
    }
}

fn ask(i: usize) -> CompletionRequest {
    CompletionRequest::prompt("claude", format!("Question {i}: which rung answers?")).max_tokens(50)
}

/// Uses up a model's one request a minute in the simulator.
async fn exhaust(swarm: &Swarm, wire_model: &str, model: &str) {
    let sim = quotaswarm_sim::of(swarm).unwrap();
    assert!(sim.set_limits(wire_model, tiny()));
    let _ = swarm
        .handle()
        .complete(CompletionRequest::prompt(model, "use up the quota"))
        .await;
}

/// A swarm on the embedded simulator with `config(extra)`, the given (wire model, model)
/// pairs exhausted.
async fn start(extra: &str, exhausted: &[(&str, &str)]) -> Swarm {
    let swarm = Swarm::start(config(extra), quotaswarm_sim::embedded())
        .await
        .unwrap();
    for (wire_model, model) in exhausted {
        exhaust(&swarm, wire_model, model).await;
    }
    swarm
}

const OPUS: (&str, &str) = ("claude-opus-4-6", "opus");
const SONNET: (&str, &str) = ("claude-sonnet-4-6", "sonnet");

#[tokio::test(start_paused = true)]
async fn with_opus_and_sonnet_exhausted_ladder_requests_complete_on_haiku() {
    let swarm = start("", &[OPUS, SONNET]).await;
    let h = swarm.handle();
    for i in 0..5 {
        let c = h.complete(ask(i)).await.unwrap();
        assert_eq!(
            c.model, "haiku",
            "the completion names the model that answered"
        );
        assert_eq!(c.provider_model, "claude-haiku-4-5");
    }
    let stats = h.stats().await.unwrap();
    let fell: u64 = stats.fallbacks.values().sum();
    println!("fallbacks: {:?}", stats.fallbacks);
    assert!(fell >= 5, "{:?}", stats.fallbacks);
}

#[tokio::test(start_paused = true)]
async fn with_a_floor_at_sonnet_requests_wait_instead_of_going_to_haiku() {
    let swarm = start("", &[OPUS, SONNET]).await;
    let h = swarm.handle();
    let start = Instant::now();
    let mut req = ask(1);
    req.options.floor = Some(1);
    let c = h.complete(req).await.unwrap();
    assert_ne!(c.model, "haiku");
    assert!(
        start.elapsed() >= Duration::from_secs(10),
        "it waited: {:?}",
        start.elapsed()
    );
    let lane = h.stats().await.unwrap();
    assert_eq!(lane.lane("haiku").unwrap().requests, 0);
}

#[tokio::test(start_paused = true)]
async fn when_every_rung_fails_the_error_lists_each_cause_in_order() {
    let swarm = start("[broker]\nmax_attempts = 2\nbackoff_base_secs = 0.2\n[[sim.faults]]\nstatus = 500\nrate = 1.0\n", &[]).await;
    let err = swarm.handle().complete(ask(1)).await.unwrap_err();
    let BrokerError::AllRungsFailed(rungs) = &err else {
        panic!("{err:?}")
    };
    let models: Vec<&str> = rungs.iter().map(|r| r.model.as_str()).collect();
    assert_eq!(models, ["opus", "sonnet", "haiku"]);
    assert!(
        rungs.iter().all(|r| matches!(
            &r.error,
            BrokerError::Provider {
                error: ProviderError::Server { status: 500, .. },
                model,
            } if *model == r.model
        )),
        "{err:?}"
    );
    assert!(
        rungs.iter().all(|r| r.error.to_string().contains("500")),
        "{err}"
    );
    println!("{err}");
}

#[tokio::test(start_paused = true)]
async fn a_failing_model_opens_its_circuit_shifts_traffic_down_and_a_probe_closes_it() {
    let swarm = start(
        "[ladders]\nfast = [\"sonnet\", \"haiku\"]\n\
         [broker]\ncircuit_threshold = 3\ncircuit_cooldown_secs = 30\nbackoff_base_secs = 0.1\n\
         [[sim.faults]]\nmodel = \"sonnet\"\nstatus = 503\nrate = 1.0\n",
        &[],
    )
    .await;
    let h = swarm.handle();
    let sim = quotaswarm_sim::of(&swarm).unwrap().clone();
    let fast = |i: usize| CompletionRequest::prompt("fast", format!("q{i}")).max_tokens(20);
    for i in 0..10 {
        let c = h.complete(fast(i)).await.unwrap();
        assert_eq!(c.model, "haiku");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let s = h.stats().await.unwrap();
    let sonnet = s.lane("sonnet").unwrap();
    assert_eq!(sonnet.circuit, CircuitState::Open);
    assert_eq!(sonnet.circuit_opened, 1);
    assert_eq!(
        sonnet.requests, 3,
        "after the threshold, sonnet gets no traffic"
    );
    assert_eq!(s.lane("haiku").unwrap().completions, 10);

    // The faults stop; after the cool-down one probe closes the circuit.
    sim.set_faults(Vec::<Fault>::new());
    tokio::time::sleep(Duration::from_secs(30)).await;
    let c = h.complete(fast(100)).await.unwrap();
    assert_eq!(c.model, "sonnet", "the probe went to sonnet and succeeded");
    let s = h.stats().await.unwrap();
    assert_eq!(s.lane("sonnet").unwrap().circuit, CircuitState::Closed);
    assert_eq!(s.lane("sonnet").unwrap().requests, 4);
    let _ = FaultKind::Status(503);
}

#[tokio::test(start_paused = true)]
async fn a_request_queued_on_a_lane_that_pauses_moves_down_after_its_max_wait() {
    let swarm = start("[broker]\nmax_in_flight = 1\n", &[OPUS]).await;
    let h = swarm.handle();
    let start = Instant::now();
    let ask_with_wait = |i| {
        let mut r = ask(i);
        r.options.max_wait = Some(Duration::from_secs(2));
        r
    };
    // A is sent to opus and gets a 429 (opus then pauses for its retry-after); B queues
    // behind A on opus and must not wait out the pause.
    let (a, b) = tokio::join!(h.complete(ask_with_wait(1)), h.complete(ask_with_wait(2)));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.model, "opus");
    assert_ne!(b.model, "opus");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn on_its_last_rung_a_request_with_max_wait_waits_as_long_as_it_takes() {
    let swarm = start("[broker]\nmax_in_flight = 1\n", &[OPUS]).await;
    let h = swarm.handle();
    let with_wait =
        |i| CompletionRequest::prompt("opus", format!("q{i}")).max_wait(Duration::from_secs(2));
    let (a, b) = tokio::join!(h.complete(with_wait(1)), h.complete(with_wait(2)));
    assert_eq!(a.unwrap().model, "opus");
    assert_eq!(b.unwrap().model, "opus");
}

#[tokio::test(start_paused = true)]
async fn answers_from_a_lower_rung_are_counted_apart_from_the_moves_that_led_there() {
    let swarm = start("", &[OPUS, SONNET]).await;
    let h = swarm.handle();
    for i in 0..5 {
        assert_eq!(h.complete(ask(i)).await.unwrap().model, "haiku");
    }
    let stats = h.stats().await.unwrap();
    println!(
        "moves {:?}, at admission {:?}",
        stats.fallbacks, stats.fallbacks_at_admission
    );
    assert_eq!(stats.fallback_answers, 5, "five answers from haiku");
    assert_eq!(
        stats.completed, 7,
        "two to use up quotas, five on the ladder"
    );
    let moves: u64 = stats.fallbacks.values().sum();
    assert!(moves >= 5, "each request moved at least once: {moves}");
    for (path, n) in &stats.fallbacks_at_admission {
        assert!(stats.fallbacks.get(path).is_some_and(|all| n <= all));
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_that_moves_down_and_still_fails_is_a_move_but_no_fallback_answer() {
    use common::*;
    use std::sync::Arc;
    let c = one_model_config(
        "[models.m2]\nprovider = \"anthropic\"\nmodel = \"claude-haiku-4-5\"\n\
         rpm = 1000\nitpm = 100000\notpm = 100000\n[ladders]\nl = [\"m\", \"m2\"]\n",
    );
    let script = Scripted::new(vec![
        anthropic_error(429, "rate_limit_error", &[("retry-after", "1")]),
        anthropic_error(400, "invalid_request_error", &[]),
    ]);
    let eps = endpoints_over(&c, Arc::new(script.clone()));
    let b = quotaswarm::broker::start(c, eps, Default::default())
        .await
        .unwrap();
    let err = b
        .handle
        .complete(CompletionRequest::prompt("l", "hello"))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::AllRungsFailed(_)), "{err:?}");
    let stats = b.handle.stats().await.unwrap();
    assert_eq!(stats.fallbacks.get("m->m2"), Some(&1), "it moved down once");
    assert!(
        stats.fallbacks_at_admission.is_empty(),
        "after a 429, not at admission"
    );
    assert_eq!(stats.fallback_answers, 0, "and got no answer there");
    assert_eq!((stats.completed, stats.failed), (0, 1));
}

/// A ladder whose first rung names a model the provider does not know (retired, or a
/// typo) and a simulator that answers it 404 `not_found_error`.
async fn swarm_with_a_retired_first_rung() -> (quotaswarm::broker::Broker, quotaswarm_sim::Simulator)
{
    let config = config(
        "[models.retired]\nprovider = \"anthropic\"\nmodel = \"claude-3-opus-20240229\"\n\
         rpm = 50\nitpm = 30000\notpm = 8000\n\
         [ladders]\nold-first = [\"retired\", \"sonnet\"]\n\
         [broker]\ncircuit_cooldown_secs = 30\n",
    );
    start_with_retired(config, &["retired"]).await
}

/// A broker on `config` whose simulator serves every model but the `retired` ones.
async fn start_with_retired(
    mut config: Config,
    retired: &[&str],
) -> (quotaswarm::broker::Broker, quotaswarm_sim::Simulator) {
    config.use_embedded_sim();
    let mut served = config.clone();
    for m in retired {
        served.models.remove(*m);
    }
    served.ladders.clear();
    let sim = quotaswarm_sim::Simulator::new(&served);
    let endpoints = quotaswarm::swarm::endpoints(&config, Some(sim.transport())).unwrap();
    let broker = quotaswarm::broker::start(config, endpoints, Default::default())
        .await
        .unwrap();
    (broker, sim)
}

#[tokio::test(start_paused = true)]
async fn a_ladder_whose_first_rung_answers_404_is_served_by_the_second() {
    let (broker, sim) = swarm_with_a_retired_first_rung().await;
    let h = &broker.handle;
    let ask = |i: usize| CompletionRequest::prompt("old-first", format!("q{i}")).max_tokens(20);
    let c = h.complete(ask(0)).await.unwrap();
    assert_eq!(c.model, "sonnet");
    assert_eq!(c.provider_model, "claude-sonnet-4-6");
    let s = h.stats().await.unwrap();
    let retired = s.lane("retired").unwrap();
    assert_eq!(retired.status.get("404"), Some(&1));
    assert_eq!(retired.retries, 0, "a 404 is not retried");
    assert_eq!(
        retired.circuit,
        CircuitState::Open,
        "one 404 opens the circuit"
    );
    assert_eq!(s.fallbacks.get("retired->sonnet"), Some(&1));
    assert_eq!(s.fallback_answers, 1);

    // The next requests skip the retired rung without sending to it.
    for i in 1..4 {
        assert_eq!(h.complete(ask(i)).await.unwrap().model, "sonnet");
    }
    let s = h.stats().await.unwrap();
    assert_eq!(s.lane("retired").unwrap().requests, 1);
    assert_eq!(sim.stats().total.status(404), 1);

    // A request to the retired model alone fails with the provider's 404, once.
    let err = h
        .complete(CompletionRequest::prompt("retired", "hello").max_tokens(20))
        .await
        .unwrap_err();
    assert!(
        matches!(
            common::provider_error(&err),
            Some(ProviderError::NotFound { .. })
        ),
        "{err:?}"
    );
    println!("{err}");
    broker.stop();
}

/// The built-in ladders name the vendors' current models (Claude Opus, Sonnet and Haiku
/// 5.5; GPT-6.2 Sol and GPT-6 Luna), and when a vendor retires a rung (the simulator no
/// longer serves it: a 404) the ladder moves down as it always did.
#[tokio::test(start_paused = true)]
async fn the_default_ladders_are_current_and_move_down_past_a_retired_rung() {
    let config = Config::default();
    let wire = |c: &Config, ladder: &str| -> Vec<String> {
        let rungs = c.rungs(ladder).unwrap();
        rungs
            .iter()
            .map(|m| c.model(m).unwrap().model.clone())
            .collect()
    };
    assert_eq!(
        wire(&config, "claude"),
        ["claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5"]
    );
    assert_eq!(wire(&config, "gpt"), ["gpt-6.2-sol", "gpt-6-luna"]);
    // The vendors retire each ladder's first rung.
    let (broker, sim) = start_with_retired(config, &["opus", "sol"]).await;
    let h = &broker.handle;
    for (ladder, model, provider_model) in [
        ("claude", "sonnet", "claude-sonnet-5-5"),
        ("gpt", "luna", "gpt-6-luna"),
    ] {
        for i in 0..3 {
            let req = CompletionRequest::prompt(ladder, format!("q{i}")).max_tokens(2000);
            let c = h.complete(req).await.unwrap();
            assert_eq!(
                (c.model.as_str(), c.provider_model.as_str()),
                (model, provider_model)
            );
        }
    }
    let s = h.stats().await.unwrap();
    assert!(s.fallbacks.contains_key("opus->sonnet") && s.fallbacks.contains_key("sol->luna"));
    // Only the first request reaches each retired model; the open circuit skips it after.
    assert_eq!(
        sim.stats().total.status(404),
        2,
        "one 404 per retired model"
    );
    assert_eq!(s.lane("opus").unwrap().requests, 1);
    broker.stop();
}
