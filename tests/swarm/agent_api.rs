//! The agent API: asks in flight together (joined, or from spawned tasks through an
//! `Asker`) and streams all count in the agent's report; `?` turns any error into the
//! agent's failure while broker errors stay matchable; agents talk through `Addr`, which
//! fails once the agent has stopped; a second start is ignored.

use crate::common;

use common::run_alone;
use quotaswarm_sim::embedded;

use futures_util::StreamExt;
use quotaswarm::agent::{
    spawn_agent, Addr, Agent, AgentError, AgentOutput, AgentReport, AgentResult, Ask, Ctx,
};
use quotaswarm::broker::StreamItem;
use quotaswarm::config::Config;
use quotaswarm::swarm::{Swarm, SwarmBuilder, SwarmReport};
use quotaswarm::{BrokerError, CompletionRequest};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

async fn run_one<A: Agent<O>, O: AgentOutput>(agent: A) -> SwarmReport {
    run_alone(Config::default(), embedded(), "agent", agent, 600).await
}

/// Runs `agent` alone and checks that it finished; returns the swarm's report and the
/// agent's.
async fn run_finished<A: Agent<O>, O: AgentOutput>(agent: A) -> (SwarmReport, AgentReport) {
    let report = run_one(agent).await;
    let a = report.agents[0].clone();
    assert!(a.finished, "{a:?}");
    (report, a)
}

fn haiku() -> Ask {
    Ask::new("haiku").max_tokens(40)
}

/// One ask alone, then three joined: the three take about as long as the one. Returns
/// both times.
struct Joiner {
    alone: Duration,
}

impl Agent<(Duration, Duration)> for Joiner {
    type Msg = ();
    async fn on_start(&mut self, ctx: &mut Ctx<(), (Duration, Duration)>) -> AgentResult {
        let ask = haiku();
        let t0 = Instant::now();
        ctx.ask(&ask, "warm up").await?;
        self.alone = t0.elapsed();
        let t1 = Instant::now();
        let (a, b, c) = tokio::join!(
            ctx.ask(&ask, "q1"),
            ctx.ask(&ask, "q2"),
            ctx.ask(&ask, "q3")
        );
        let together = t1.elapsed();
        for r in [a, b, c] {
            r?;
        }
        ctx.finish_with((self.alone, together));
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn joined_asks_are_in_flight_together_and_all_counted() {
    let (report, a) = run_finished(Joiner {
        alone: Duration::ZERO,
    })
    .await;
    let timings = report.output::<(Duration, Duration)>("agent").copied();
    assert_eq!(a.completions, 4);
    assert_eq!(a.errors, 0);
    assert!(a.output_tokens > 0);
    let (alone, together) = timings.expect("timings");
    assert!(
        together < alone * 2,
        "three joined asks took {together:?}, one alone {alone:?}"
    );
}

/// Fans its asks out to spawned tasks, each with a clone of the agent's `Asker`.
struct Fanout;

impl Agent for Fanout {
    type Msg = ();
    async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult {
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let asker = ctx.asker();
                tokio::spawn(async move { asker.ask(&haiku(), format!("task {i}")).await })
            })
            .collect();
        for t in tasks {
            t.await??;
        }
        ctx.finish();
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn an_asker_in_spawned_tasks_counts_into_the_agents_report() {
    let (report, a) = run_finished(Fanout).await;
    assert_eq!(a.completions, 4);
    assert_eq!(report.totals.answers, 4);
}

/// Streams one answer to its end, then asks for a stream the broker refuses. Returns
/// the text printed from the deltas and the completion's.
struct Streamer;

impl Agent<(String, String)> for Streamer {
    type Msg = ();
    async fn on_start(&mut self, ctx: &mut Ctx<(), (String, String)>) -> AgentResult {
        let req = CompletionRequest::prompt("haiku", "Stream me something.").max_tokens(40);
        let mut stream = ctx.stream(req).await?;
        let (mut printed, mut done) = (String::new(), String::new());
        while let Some(item) = stream.next().await {
            match item? {
                StreamItem::Done(c) => done = c.text(),
                StreamItem::Event(e) => {
                    if let quotaswarm::provider::StreamEvent::TextDelta { text, .. } = e {
                        printed.push_str(&text);
                    }
                }
            }
        }
        let refused = ctx.stream(CompletionRequest::new("haiku")).await;
        assert!(matches!(refused, Err(BrokerError::InvalidRequest(_))));
        ctx.finish_with((printed, done));
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_streamed_completion_and_a_refused_stream_are_counted() {
    let (_, a) = run_finished(Streamer).await;
    assert_eq!(a.completions, 1);
    assert!(a.output_tokens > 0);
    assert_eq!(a.errors, 1);
    assert!(a
        .last_error
        .as_deref()
        .unwrap_or_default()
        .contains("messages is empty"));
    let (printed, done) = a.output::<(String, String)>().cloned().expect("texts");
    assert!(!done.is_empty());
    assert_eq!(printed, done);
}

/// Starts a stream and drops it unread: cancelled, counted as neither.
struct Dropper;

impl Agent for Dropper {
    type Msg = ();
    async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult {
        let stream = ctx
            .stream(CompletionRequest::prompt("haiku", "Never mind."))
            .await?;
        drop(stream);
        ctx.finish();
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_stream_dropped_before_its_end_is_not_counted() {
    let (_, a) = run_finished(Dropper).await;
    assert_eq!((a.completions, a.errors), (0, 0));
}

/// Fails with `?` on an I/O error.
struct Reader;

impl Agent for Reader {
    type Msg = ();
    async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult {
        let prompts = std::fs::read_to_string("/no/such/quotaswarm/prompts.txt")?;
        ctx.ask(&haiku(), prompts).await?;
        ctx.finish();
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn an_io_error_with_the_question_mark_is_the_agents_failure() {
    let report = run_one(Reader).await;
    let a = &report.agents[0];
    assert!(!a.finished);
    let expected = std::fs::read_to_string("/no/such/quotaswarm/prompts.txt").unwrap_err();
    assert_eq!(a.failure.as_deref(), Some(expected.to_string().as_str()));
    assert_eq!(report.totals.agents_failed, 1);
}

/// Asks an unknown target through a helper that uses `?`, and matches the broker error.
struct Matcher {
    matched: Arc<AtomicUsize>,
}

async fn ask_unknown(ctx: &Ctx<()>) -> AgentResult<String> {
    let reply = ctx.ask(&Ask::new("no-such-model"), "hello").await?;
    Ok(reply.text())
}

impl Agent for Matcher {
    type Msg = ();
    async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult {
        match ask_unknown(ctx).await {
            Err(AgentError::Broker(BrokerError::UnknownTarget(t))) if t == "no-such-model" => {
                self.matched.fetch_add(1, Ordering::SeqCst);
            }
            other => return Err(AgentError::other(format!("unexpected: {other:?}"))),
        }
        ctx.finish();
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn broker_errors_stay_matchable_after_the_question_mark() {
    let matched = Arc::new(AtomicUsize::new(0));
    let (_, a) = run_finished(Matcher {
        matched: matched.clone(),
    })
    .await;
    assert_eq!(matched.load(Ordering::SeqCst), 1);
    assert_eq!(a.errors, 1);
}

/// Counts its starts and the words it hears; finishes on "bye".
struct Listener {
    starts: Arc<AtomicUsize>,
    heard: Arc<AtomicUsize>,
}

impl Agent for Listener {
    type Msg = String;
    async fn on_start(&mut self, _ctx: &mut Ctx<String>) -> AgentResult {
        self.starts.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn on_message(&mut self, ctx: &mut Ctx<String>, msg: String) -> AgentResult {
        self.heard.fetch_add(1, Ordering::SeqCst);
        if msg == "bye" {
            ctx.finish();
        }
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn an_addr_delivers_messages_until_the_agent_stops_and_a_second_start_is_ignored() {
    let swarm = Swarm::start(Config::default(), quotaswarm_sim::embedded())
        .await
        .unwrap();
    let (starts, heard) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let listener = Listener {
        starts: starts.clone(),
        heard: heard.clone(),
    };
    let h = spawn_agent("listener", listener, swarm.handle())
        .await
        .unwrap();
    let addr: Addr<String> = h.addr();
    assert_eq!(addr.name(), "listener");
    h.start().unwrap();
    h.start().unwrap();
    addr.send("hello".into()).unwrap();
    addr.clone().send("bye".into()).unwrap();
    let report = h.wait().await;
    assert!(report.finished, "{report:?}");
    assert_eq!(starts.load(Ordering::SeqCst), 1);
    assert_eq!(heard.load(Ordering::SeqCst), 2);
    let err = addr.send("anyone?".into()).unwrap_err();
    assert_eq!(err.agent(), "listener");
    assert!(err.to_string().contains("listener has stopped"), "{err}");
    swarm.shutdown().await;
}

/// Pings its peer with its own address; the peer answers through that address.
enum Ping {
    Peer(Addr<Ping>),
    Hello(Addr<Ping>),
    Pong,
}

struct Pinger {
    peer: Option<Addr<Ping>>,
    first: bool,
}

impl Agent for Pinger {
    type Msg = Ping;
    async fn on_start(&mut self, ctx: &mut Ctx<Ping>) -> AgentResult {
        if let (true, Some(peer)) = (self.first, &self.peer) {
            ctx.send(peer, Ping::Hello(ctx.myself()))?;
        }
        Ok(())
    }

    async fn on_message(&mut self, ctx: &mut Ctx<Ping>, msg: Ping) -> AgentResult {
        match msg {
            Ping::Peer(addr) => self.peer = Some(addr),
            Ping::Hello(from) => {
                ctx.send(&from, Ping::Pong)?;
                ctx.finish();
            }
            Ping::Pong => ctx.finish(),
        }
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn agents_message_each_other_through_their_addresses() {
    let report = SwarmBuilder::new(Config::default())
        .backend(quotaswarm_sim::embedded())
        .agents_with(|swarm| {
            Box::pin(async move {
                let a = swarm
                    .spawn_idle(
                        "a",
                        Pinger {
                            peer: None,
                            first: true,
                        },
                    )
                    .await?;
                let b = swarm
                    .spawn_idle(
                        "b",
                        Pinger {
                            peer: None,
                            first: false,
                        },
                    )
                    .await?;
                a.addr().send(Ping::Peer(b.addr()))?;
                Ok(vec![a.erase(), b.erase()])
            })
        })
        .deadline(Duration::from_secs(10))
        .run()
        .await
        .unwrap();
    assert!(!report.timed_out);
    assert!(
        report.agents.iter().all(|a| a.finished),
        "{:?}",
        report.agents
    );
}
