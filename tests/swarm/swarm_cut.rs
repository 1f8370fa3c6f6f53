//! Deadlines, stops and interrupts cut agents: their asks fail with
//! `BrokerError::Cancelled`, their handler ends, an agent that ignores the cut is killed
//! after the grace period, and the report names the agents cut. All in paused time over
//! the in-process simulator.

use quotaswarm::agent::{Agent, AgentResult, Ask, Ctx, Cut, Ending, DEFAULT_GRACE};
use quotaswarm::config::Config;
use quotaswarm::swarm::{BuiltSwarm, SwarmBuilder, SwarmReport};
use quotaswarm::BrokerError;
use quotaswarm_agents::{ScriptedAgent, Turn};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

const DEADLINE: Duration = Duration::from_secs(5);

fn oneshots(n: usize) -> Vec<Turn> {
    (0..n)
        .map(|i| Turn::Oneshot {
            system: None,
            user: format!("question {i}"),
            max_tokens: Some(20),
        })
        .collect()
}

/// A swarm over the in-process simulator with the default config.
fn default_swarm() -> SwarmBuilder {
    SwarmBuilder::new(Config::default()).backend(quotaswarm_sim::embedded())
}

/// Runs `swarm` with the [`DEADLINE`].
async fn run_to_deadline(swarm: SwarmBuilder) -> SwarmReport {
    swarm.deadline(DEADLINE).run().await.expect("run")
}

/// One model, `slow`, that takes one request a minute: a second ask waits in the
/// broker's queue for about a minute.
fn one_request_a_minute() -> Config {
    Config::from_toml_str(
        "[providers.anthropic]\nkind = \"sim\"\nwire = \"anthropic\"\n\
         [models.slow]\nprovider = \"anthropic\"\nmodel = \"claude-haiku-4-5\"\nrpm = 1\nitpm = 100000\notpm = 100000\n",
        "test",
    )
    .expect("test config")
}

#[tokio::test(start_paused = true)]
async fn a_deadline_cuts_an_agent_looping_a_thousand_completions() {
    let t0 = Instant::now();
    let looper = ScriptedAgent::new("haiku", oneshots(1000));
    let report = run_to_deadline(default_swarm().agent("looper", looper)).await;
    let took = t0.elapsed();
    let a = &report.agents[0];
    println!("{a:?} in {took:?}");
    assert_eq!(a.cut, Some(Cut::Deadline));
    assert_eq!(a.ending(), Ending::Cut(Cut::Deadline));
    assert!(!a.killed, "it stops at its pending ask: no kill needed");
    assert!(
        a.completions > 0 && a.completions < 200,
        "far fewer than 1,000: {}",
        a.completions
    );
    assert_eq!(a.errors, 0, "the cancelled ask is not an error");
    let failure = a.failure.as_deref().unwrap_or_default();
    assert_eq!(
        failure,
        format!("cut at the deadline after {} completions", a.completions)
    );
    assert!(report.timed_out);
    assert_eq!(report.totals.agents_cut, 1);
    assert_eq!(report.totals.agents_finished, 0);
    assert!(report.totals.timed_out);
    // It ends at the deadline, not a grace period later.
    assert!(
        report.makespan_secs < DEADLINE.as_secs_f64() + 0.1,
        "{}",
        report.makespan_secs
    );
    assert!(took < DEADLINE + DEFAULT_GRACE, "{took:?}");
}

/// Sleeps in its handler forever, never looking at the cancellation.
struct Sleeper;

impl Agent for Sleeper {
    type Msg = ();
    async fn on_start(&mut self, _ctx: &mut Ctx<()>) -> AgentResult {
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_agent_ignoring_the_cut_is_killed_after_the_grace_period() {
    let t0 = Instant::now();
    let quick = ScriptedAgent::new("haiku", oneshots(2));
    let report = run_to_deadline(
        default_swarm()
            .agent("sleeper", Sleeper)
            .agent("quick", quick),
    )
    .await;
    let took = t0.elapsed();
    let (sleeper, quick) = (&report.agents[0], &report.agents[1]);
    assert_eq!(sleeper.cut, Some(Cut::Deadline));
    assert!(sleeper.killed, "{sleeper:?}");
    let failure = sleeper.failure.as_deref().unwrap_or_default();
    assert!(
        failure.starts_with("cut at the deadline after 0 completions; killed"),
        "{failure}"
    );
    assert_eq!(quick.ending(), Ending::Finished, "{quick:?}");
    let ends = (DEADLINE + DEFAULT_GRACE).as_secs_f64();
    assert!(
        (ends..ends + 0.1).contains(&report.makespan_secs),
        "killed at deadline + grace: {}",
        report.makespan_secs
    );
    assert!(took < DEADLINE + DEFAULT_GRACE + Duration::from_millis(500));
    assert_eq!(report.totals.agents_cut, 1);
    assert_eq!(report.totals.agents_finished, 1);
}

/// Catches every error and asks again after a pause, as a naive retry loop would.
struct Stubborn;

impl Agent for Stubborn {
    type Msg = ();
    async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult {
        let ask = Ask::new("haiku").max_tokens(20);
        loop {
            if ctx.ask(&ask, "again").await.is_err() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_agent_that_catches_the_cancellation_and_goes_on_is_killed() {
    let stubborn = default_swarm().agent("stubborn", Stubborn);
    let report = run_to_deadline(stubborn.grace(Duration::from_secs(1))).await;
    let a = &report.agents[0];
    assert_eq!(a.cut, Some(Cut::Deadline));
    assert!(a.killed, "{a:?}");
    assert_eq!(a.errors, 0, "cancelled asks are not errors: {a:?}");
    assert!(
        (6.0..6.1).contains(&report.makespan_secs),
        "a 1 s grace: {}",
        report.makespan_secs
    );
}

/// Long local work that watches `ctx.cancelled()`.
struct Thinker;

impl Agent for Thinker {
    type Msg = ();
    async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult {
        tokio::select! {
            () = ctx.cancelled() => {
                assert!(ctx.is_cancelled());
                Ok(())
            }
            () = tokio::time::sleep(Duration::from_secs(3600)) => {
                ctx.finish();
                Ok(())
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn long_local_work_watching_ctx_cancelled_ends_at_the_deadline() {
    let report = run_to_deadline(default_swarm().agent("thinker", Thinker)).await;
    let a = &report.agents[0];
    assert_eq!(a.cut, Some(Cut::Deadline));
    assert!(!a.killed);
    assert!(report.makespan_secs < DEADLINE.as_secs_f64() + 0.1);
}

/// Asks once on `slow`, then asks again (or, with `stream`, streams the second ask);
/// records how the second ask ended.
#[derive(Clone, Default)]
struct TwoAsks {
    stream: bool,
    second: Arc<Mutex<Option<Result<(), BrokerError>>>>,
}

impl Agent for TwoAsks {
    type Msg = ();
    async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult {
        let ask = Ask::new("slow").max_tokens(20);
        ctx.ask(&ask, "first").await?;
        let second = if self.stream {
            let stream = ctx.stream(ask.clone().user("second")).await?;
            stream.collect_completion().await.map(|_| ())
        } else {
            ctx.ask(&ask, "second").await.map(|_| ())
        };
        *self.second.lock().unwrap() = Some(second.clone());
        second?;
        ctx.finish();
        Ok(())
    }
}

/// A swarm of [`one_request_a_minute`] running `agent`, named `name`, a second after
/// its start.
async fn a_second_into(
    name: &str,
    agent: TwoAsks,
) -> (quotaswarm::swarm::Swarm, quotaswarm::agent::AgentHandle<()>) {
    let swarm = quotaswarm::swarm::Swarm::start(one_request_a_minute(), quotaswarm_sim::embedded())
        .await
        .expect("swarm");
    let agent = swarm.spawn(name, agent).await.expect("spawn");
    tokio::time::sleep(Duration::from_secs(1)).await;
    (swarm, agent)
}

#[tokio::test(start_paused = true)]
async fn stopping_an_agent_cancels_its_pending_ask() {
    let two = TwoAsks::default();
    let (swarm, agent) = a_second_into("two", two.clone()).await;
    assert!(!agent.is_done(), "the second ask waits a minute");
    let t = Instant::now();
    agent.stop("enough");
    let report = agent.wait().await;
    let took = t.elapsed();
    assert!(took < Duration::from_millis(100), "{took:?}");
    assert_eq!(
        *two.second.lock().unwrap(),
        Some(Err(BrokerError::Cancelled)),
        "the pending ask returns the typed error"
    );
    assert_eq!(report.cut, Some(Cut::Stopped));
    assert_eq!(report.completions, 1);
    assert_eq!(report.errors, 0);
    assert_eq!(
        report.failure.as_deref(),
        Some("cut by a stop after 1 completion")
    );
    swarm.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_cut_ends_a_waiting_stream_with_the_typed_error() {
    let streamer = TwoAsks {
        stream: true,
        ..TwoAsks::default()
    };
    let (swarm, agent) = a_second_into("streamer", streamer.clone()).await;
    let report = agent.cut(Cut::Deadline, DEFAULT_GRACE).await;
    assert_eq!(
        *streamer.second.lock().unwrap(),
        Some(Err(BrokerError::Cancelled))
    );
    assert_eq!(report.cut, Some(Cut::Deadline));
    assert!(!report.killed);
    assert_eq!((report.completions, report.errors), (1, 0));
    swarm.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_interrupt_cuts_every_running_agent_and_the_report_says_so() {
    let BuiltSwarm {
        swarm,
        crew,
        deadline,
        ..
    } = SwarmBuilder::new(one_request_a_minute())
        .backend(quotaswarm_sim::embedded())
        .agent("a", ScriptedAgent::new("slow", oneshots(5)))
        .agent("b", ScriptedAgent::new("slow", oneshots(5)))
        .build()
        .await
        .expect("build");
    let interrupter = crew.interrupter();
    let started = crew.start();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        interrupter.interrupt();
    });
    let outcome = crew.wait(started, deadline).await;
    let report = swarm.report(outcome, started.elapsed()).await;
    swarm.shutdown().await;
    assert!(report.interrupted && report.totals.interrupted);
    assert!(!report.timed_out);
    assert_eq!(report.totals.agents_cut, 2);
    assert!(report.makespan_secs < 2.1, "{}", report.makespan_secs);
    for a in &report.agents {
        assert_eq!(a.cut, Some(Cut::Interrupted), "{a:?}");
    }
    // One request a minute: both first questions (identical, so merged) were answered
    // by the one request; the second ones were waiting when the interrupt came.
    assert_eq!(report.totals.completions, 1);
    assert_eq!(report.totals.answers, 2);
    let table = quotaswarm::swarm::report_table(&report);
    assert!(table.contains("2 cut"), "{table}");
    assert!(table.contains("(interrupted)"), "{table}");
    assert!(table.contains("cut by an interrupt after"), "{table}");
}

#[tokio::test(start_paused = true)]
async fn an_agent_whose_every_request_fails_has_finished_with_errors() {
    let mut config = Config::default();
    // The in-process simulator accepts only this key; the swarm sends its own.
    config.sim.api_keys = vec!["right".into()];
    let report = SwarmBuilder::new(config)
        .backend(quotaswarm_sim::embedded())
        .agent("denied", ScriptedAgent::new("haiku", oneshots(3)))
        .run()
        .await
        .expect("run");
    let a = &report.agents[0];
    assert!(a.finished);
    assert_eq!((a.completions, a.errors), (0, 3), "{a:?}");
    assert_eq!(a.ending(), Ending::FinishedWithErrors);
    let t = &report.totals;
    assert_eq!(
        (
            t.agents_finished,
            t.agents_finished_with_errors,
            t.agents_failed
        ),
        (0, 1, 0)
    );
    assert!(!t.is_clean());
}

#[tokio::test(start_paused = true)]
async fn wait_all_reports_agents_done_before_the_deadline_and_cuts_the_rest() {
    let swarm = quotaswarm::swarm::Swarm::start(one_request_a_minute(), quotaswarm_sim::embedded())
        .await
        .expect("swarm");
    let quick = swarm
        .spawn("quick", ScriptedAgent::new("slow", oneshots(1)))
        .await
        .expect("spawn");
    let slow = swarm
        .spawn("slow", ScriptedAgent::new("slow", oneshots(3)))
        .await
        .expect("spawn");
    let t0 = Instant::now();
    let (reports, timed_out) = quotaswarm::swarm::wait_all(vec![quick, slow], Some(DEADLINE)).await;
    assert!(timed_out);
    assert!(t0.elapsed() < DEADLINE + Duration::from_millis(100));
    assert_eq!(reports[0].ending(), Ending::Finished, "{:?}", reports[0]);
    assert_eq!(reports[1].cut, Some(Cut::Deadline), "{:?}", reports[1]);
    swarm.shutdown().await;
}
