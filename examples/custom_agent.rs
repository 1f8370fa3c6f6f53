//! A custom agent: the state is the struct, `on_start` reacts to the start, the `Ctx`
//! asks the broker (here on a ladder, with a max wait before falling back) and finishes,
//! returning a typed result; then a swarm of two runs on the simulator and the results
//! are read from its report. The README shows this file whole, minus this header and the
//! `// README:` marker lines.
//!
//! ```sh
//! cargo run --example custom_agent
//! ```

// README: custom agent
use quotaswarm::agent::{Agent, AgentResult, Ask, Ctx, History};
use std::time::Duration;

/// Asks its topics in one conversation; every reply joins the history.
struct Tutor {
    topics: Vec<String>,
    history: History,
}

/// What a tutor returns: each topic with the model that answered it.
#[derive(Debug, serde::Serialize)]
struct Lesson(Vec<(String, String)>);

impl Agent<Lesson> for Tutor {
    type Msg = ();
    async fn on_start(&mut self, ctx: &mut Ctx<(), Lesson>) -> AgentResult {
        let ask = Ask::new("claude") // opus → sonnet → haiku
            .max_tokens(200)
            .max_wait(Duration::from_secs(5)) // then a lower rung
            .trim(8_000); // keep the history under ~8k input tokens
        let mut lesson = Vec::new();
        for topic in std::mem::take(&mut self.topics) {
            let reply = ctx.chat(&ask, &mut self.history, &topic).await?;
            lesson.push((topic, reply.model));
        }
        ctx.finish_with(Lesson(lesson)); // in this agent's report
        Ok(())
    }
}
// README: end

use quotaswarm::swarm::{report_table, SwarmBuilder, SwarmReport};
use quotaswarm::Config;

fn tutor(topics: &[&str]) -> Tutor {
    Tutor {
        topics: topics.iter().map(|t| t.to_string()).collect(),
        history: History::with_system("You are a concise tutor."),
    }
}

pub async fn run() -> anyhow::Result<SwarmReport> {
    let report = SwarmBuilder::new(Config::default())
        .backend(quotaswarm_sim::loopback()) // or quotaswarm_sim::auto(): real APIs whose key is set
        .agent("tutor-1", tutor(&["queues", "backoff"]))
        .agent("tutor-2", tutor(&["token buckets"]))
        .deadline(Duration::from_secs(60))
        .run()
        .await?;
    for agent in &report.agents {
        if let Some(Lesson(lesson)) = agent.output::<Lesson>() {
            println!("{}: {lesson:?}", agent.name);
        }
    }
    print!("{}", report_table(&report));
    Ok(report)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run().await.map(|_| ())
}
