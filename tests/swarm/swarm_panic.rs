//! A panicking agent is reported in the final report, and the others finish.

use quotaswarm::agent::{Agent, AgentResult, Ctx};
use quotaswarm::config::Config;
use quotaswarm::swarm::SwarmBuilder;
use quotaswarm_agents::ScriptedAgent;

/// Fails on start: after one answer by panicking, or at once with an error.
enum Broken {
    Panics,
    Fails,
}

impl Agent for Broken {
    type Msg = ();
    async fn on_start(&mut self, ctx: &mut Ctx<()>) -> AgentResult {
        match self {
            Broken::Panics => {
                ctx.ask(&quotaswarm::agent::Ask::new("haiku"), "one answer first")
                    .await?;
                panic!("on purpose");
            }
            Broken::Fails => Err(quotaswarm::agent::AgentError::other("gave up")),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_agent_is_reported_and_the_others_finish() {
    let mut b = SwarmBuilder::new(Config::default()).backend(quotaswarm_sim::embedded());
    b = b.agent("panicker", Broken::Panics);
    for i in 0..3 {
        b = b.agent(
            format!("chat-{i}"),
            ScriptedAgent::chat("claude", &["hello", "and again"]),
        );
    }
    let report = b.run().await.expect("run");
    let panicker = &report.agents[0];
    assert_eq!(panicker.name, "panicker");
    assert!(!panicker.finished);
    assert_eq!(panicker.completions, 1);
    let failure = panicker.failure.as_deref().unwrap_or_default();
    assert!(failure.contains("panicked: on purpose"), "{failure}");
    for a in &report.agents[1..] {
        assert!(a.finished, "{a:?}");
        assert_eq!(a.completions, 2);
    }
    assert_eq!(report.totals.agents_failed, 1);
    assert_eq!(report.totals.agents_finished, 3);
}

#[tokio::test(start_paused = true)]
async fn an_agent_returning_an_error_is_reported_and_the_others_finish() {
    let report = SwarmBuilder::new(Config::default())
        .backend(quotaswarm_sim::embedded())
        .agent("failer", Broken::Fails)
        .agent("chat", ScriptedAgent::chat("haiku", &["hi"]))
        .run()
        .await
        .expect("run");
    assert_eq!(report.agents[0].failure.as_deref(), Some("gave up"));
    assert!(report.agents[1].finished);
}
