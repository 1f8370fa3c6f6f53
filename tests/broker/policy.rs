//! The parameter policy, through the public API against the embedded simulator: a
//! request with a parameter its model refuses is refused in the caller's task before any
//! HTTP (the simulator sees nothing), or, with `on_unsupported = "drop"`, sent without it
//! (asserted on the bodies the simulator received, recorded by a transport around it).

use crate::common;

use futures_util::future::BoxFuture;
use quotaswarm::broker::{BrokerError, InvalidRequest};
use quotaswarm::config::{Param, Transport as TransportKind};
use quotaswarm::provider::{HttpRequest, HttpResponse, Transport, TransportError};
use quotaswarm::{BrokerHandle, CompletionRequest, Config};
use quotaswarm_sim::{EmbeddedTransport, Simulator};
use std::sync::{Arc, Mutex};

/// The simulator in-process, keeping every request body it is sent.
#[derive(Clone)]
struct Recording {
    inner: EmbeddedTransport,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Recording {
    fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().unwrap().clone()
    }
}

impl Transport for Recording {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        if let Ok(v) = serde_json::from_slice(&request.body) {
            self.bodies.lock().unwrap().push(v);
        }
        self.inner.send(request)
    }
}

/// The defaults plus an OpenAI reasoning model, `o4-mini`; `extra` overlays them.
fn config(extra: &str) -> Config {
    let mut c = Config::from_toml_str_over_previous_defaults(
        &format!("[models.o4-mini]\nprovider = \"openai\"\nrpm = 500\ntpm = 200000\n{extra}"),
        "test",
    )
    .expect("config");
    for p in c.providers.values_mut() {
        p.transport = TransportKind::Embedded;
    }
    c
}

async fn start(config: Config) -> (BrokerHandle, Simulator, Recording) {
    let sim = Simulator::new(&config);
    let rec = Recording {
        inner: EmbeddedTransport { sim: sim.clone() },
        bodies: Arc::default(),
    };
    let broker = common::start_over(config, Arc::new(rec.clone())).await;
    (broker.handle, sim, rec)
}

/// Three requests, each with a parameter its model refuses (by default), and the model
/// and parameter named in the refusal: top_p with temperature on sonnet, temperature on
/// o4-mini, five stop sequences on gpt-4o.
fn refusable() -> [(CompletionRequest, (&'static str, Param)); 3] {
    let mut five_stops = CompletionRequest::prompt("gpt-4o", "hi");
    five_stops.stop = (1..=5).map(|i| format!("STOP{i}")).collect();
    [
        (
            CompletionRequest::prompt("sonnet", "hi")
                .temperature(0.2)
                .top_p(0.9),
            ("sonnet", Param::TopP),
        ),
        (
            CompletionRequest::prompt("o4-mini", "hi").temperature(0.2),
            ("o4-mini", Param::Temperature),
        ),
        (five_stops, ("gpt-4o", Param::Stop)),
    ]
}

/// `prompt` "think" to `model` with these `max_tokens` and thinking `budget`.
fn think(model: &str, max_tokens: u32, budget: u32) -> CompletionRequest {
    CompletionRequest::prompt(model, "think")
        .max_tokens(max_tokens)
        .thinking(budget)
}

fn refused_param(err: &BrokerError) -> (String, Param) {
    match err {
        BrokerError::InvalidRequest(InvalidRequest::UnsupportedParameter {
            model, param, ..
        }) => (model.clone(), *param),
        other => panic!("expected an unsupported parameter, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn refused_parameters_never_reach_the_provider() {
    let (h, sim, rec) = start(config("")).await;
    for (req, (model, param)) in refusable() {
        let err = h.complete(req).await.unwrap_err();
        assert_eq!(refused_param(&err), (model.to_string(), param));
        let text = err.to_string();
        println!("{text}");
        assert!(text.contains(&format!("`{param}`")), "{text}");
        assert!(text.contains("on_unsupported = \"drop\""), "{text}");
    }
    assert_eq!(sim.stats().total.requests, 0, "nothing was sent");
    assert!(rec.bodies().is_empty());
    assert_eq!(h.stats().await.unwrap().requests, 0, "nor queued");
}

#[tokio::test(start_paused = true)]
async fn with_the_drop_setting_they_are_sent_without_the_parameter() {
    let drop = "on_unsupported = \"drop\"\n";
    let (h, sim, rec) = start(config(&format!(
        "{drop}[models.sonnet]\n{drop}[models.gpt-4o]\n{drop}"
    )))
    .await;
    for (req, (model, _)) in refusable() {
        assert_eq!(h.complete(req).await.unwrap().model, model);
    }
    assert_eq!(sim.stats().total.status(200), 3);
    let bodies = rec.bodies();
    assert_eq!(bodies.len(), 3);
    let (s, o, g) = (&bodies[0], &bodies[1], &bodies[2]);
    assert_eq!(
        s["temperature"].as_f64().map(|t| (t * 10.0).round()),
        Some(2.0)
    );
    assert!(s.get("top_p").is_none(), "top_p dropped: {s}");
    assert!(o.get("temperature").is_none(), "temperature dropped: {o}");
    assert!(g.get("stop").is_none(), "stop dropped: {g}");
}

#[tokio::test(start_paused = true)]
async fn a_ladder_is_checked_on_every_rung_it_may_use() {
    let (h, sim, _) = start(config("[ladders]\nopen = [\"gpt-4o\", \"o4-mini\"]\n")).await;
    let req = || CompletionRequest::prompt("open", "hi").temperature(0.2);
    // o4-mini, the second rung, refuses temperature 0.2: the whole request is refused,
    // whichever rung would have been free.
    let err = h.complete(req()).await.unwrap_err();
    assert_eq!(refused_param(&err), ("o4-mini".into(), Param::Temperature));
    assert_eq!(sim.stats().total.requests, 0);
    // With its floor on the first rung, o4-mini is out of reach: it is sent.
    let c = h.complete(req().floor(0)).await.unwrap();
    assert_eq!(c.model, "gpt-4o");
}

#[tokio::test(start_paused = true)]
async fn a_thinking_budget_must_fit_below_max_tokens() {
    let (h, sim, _) = start(config("")).await;
    let err = h.complete(think("sonnet", 2000, 2048)).await.unwrap_err();
    assert!(
        matches!(
            err,
            BrokerError::InvalidRequest(InvalidRequest::ThinkingBudget {
                budget: 2048,
                max_tokens: 2000
            })
        ),
        "{err:?}"
    );
    let err = h.complete(think("sonnet", 4000, 512)).await.unwrap_err();
    assert!(err.to_string().contains("at least 1024"), "{err}");
    // Thinking on an OpenAI model is refused like any parameter it does not take.
    let err = h.complete(think("gpt-4o", 4000, 2048)).await.unwrap_err();
    assert_eq!(refused_param(&err), ("gpt-4o".into(), Param::Thinking));
    assert_eq!(sim.stats().total.requests, 0);
}
