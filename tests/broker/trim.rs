//! A history that grows past 80,000 tokens keeps working: trimmed to its budget, always a
//! valid conversation (the simulator rejects orphaned tool results), trimmed tokens counted.

use quotaswarm::swarm::Swarm;
use quotaswarm::trim::check_valid;
use quotaswarm::types::{ContentBlock, Message, Role};
use quotaswarm::{CompletionRequest, Config};
use serde_json::json;

const BUDGET: u64 = 20_000;

fn long_text(turn: usize) -> String {
    let mut s = format!("Turn {turn}. Here are the notes for this turn:");
    for i in 0..700 {
        s.push_str(
            [
                " the broker",
                " admitted",
                " a request",
                " after",
                " refill",
            ][(i + turn) % 5],
        );
    }
    s
}

/// A swarm on the embedded simulator with every model's limits twenty times the default.
async fn roomy_swarm() -> Swarm {
    let mut config = Config::default();
    for m in config.models.values_mut() {
        m.limits = m.limits.scaled(20.0);
    }
    Swarm::start(config, quotaswarm_sim::embedded())
        .await
        .unwrap()
}

/// Twelve long turns (each answered by `noted(turn)`) and a question, to be trimmed to
/// 6,000 tokens with a summary.
fn to_summarise(noted: impl Fn(usize) -> String) -> CompletionRequest {
    let history: Vec<Message> = (0..12)
        .flat_map(|t| [Message::user(long_text(t)), Message::assistant(noted(t))])
        .chain([Message::user("What did we note first?")])
        .collect();
    CompletionRequest::new("claude")
        .messages(history)
        .max_tokens(100)
        .trim_with_summary(6_000)
}

#[tokio::test(start_paused = true)]
async fn a_history_past_80k_tokens_keeps_working_within_its_budget() {
    let swarm = roomy_swarm().await;
    let h = swarm.handle();
    let mut history: Vec<Message> = Vec::new();
    let mut history_tokens = 0u64;
    let mut max_input = 0u64;
    for turn in 0..70 {
        history.push(Message::user(long_text(turn)));
        let req = CompletionRequest::new("claude")
            .system("You keep long notes.")
            .messages(history.clone())
            .max_tokens(200)
            .trim(BUDGET);
        let reply = h
            .complete(req)
            .await
            .unwrap_or_else(|e| panic!("turn {turn}: {e}"));
        max_input = max_input.max(reply.usage.total_input());
        history.push(reply.to_message());
        if turn % 7 == 3 {
            // A tool exchange in the middle of the history.
            let id = format!("toolu_{turn}");
            history.push(Message::user("look it up"));
            history.push(Message {
                role: Role::Assistant,
                content: vec![ContentBlock::ToolUse {
                    id: id.clone(),
                    name: "lookup".into(),
                    input: json!({"turn": turn}),
                }],
            });
            history.push(Message {
                role: Role::User,
                content: vec![ContentBlock::tool_result(id, long_text(turn + 1000))],
            });
            history.push(Message::assistant("Noted the lookup result."));
        }
        history_tokens = h.estimator().raw_input(
            quotaswarm::tokens::Encoding::Cl100k,
            &CompletionRequest::new("x").messages(history.clone()),
        );
        assert!(check_valid(&quotaswarm::trim::normalise(&history)).is_ok());
    }
    let stats = h.stats().await.unwrap();
    let sim = quotaswarm_sim::of(&swarm).unwrap().stats();
    println!(
        "history {history_tokens} tokens; largest request {max_input} input tokens (budget {BUDGET}); trimmed {} tokens; sim 400s: {}",
        stats.trimmed_tokens,
        sim.total.status(400)
    );
    assert!(
        history_tokens > 80_000,
        "the history grew past 80k: {history_tokens}"
    );
    assert!(
        max_input <= BUDGET,
        "a request exceeded its budget: {max_input}"
    );
    assert_eq!(sim.total.status(400), 0, "the simulator never answered 400");
    assert!(
        stats.trimmed_tokens > 100_000,
        "trimmed tokens are counted: {}",
        stats.trimmed_tokens
    );
    assert_eq!(stats.failed, 0);
}

#[tokio::test(start_paused = true)]
async fn trimmed_turns_can_be_replaced_by_a_summary_from_the_cheapest_rung() {
    let swarm = roomy_swarm().await;
    let h = swarm.handle();
    let req = to_summarise(|t| format!("noted {t}"));
    let reply = h.complete(req).await.unwrap();
    assert!(
        reply.usage.total_input() <= 6_000,
        "{}",
        reply.usage.total_input()
    );
    let stats = h.stats().await.unwrap();
    let haiku = stats.lane("haiku").unwrap();
    assert_eq!(
        haiku.completions, 1,
        "the summary was made on the cheapest rung"
    );
    assert!(stats.trimmed_tokens > 0);
    let sim = quotaswarm_sim::of(&swarm).unwrap().stats();
    assert_eq!(sim.total.status(400), 0);
    assert_eq!(sim.total.requests, 2, "one summary, one answer");
}

#[tokio::test(start_paused = true)]
async fn a_summary_is_counted_as_a_summary_not_as_a_callers_completion() {
    let swarm = roomy_swarm().await;
    let h = swarm.handle();
    let req = to_summarise(|_| "noted".to_string());
    h.complete(req).await.unwrap();
    let stats = h.stats().await.unwrap();
    assert_eq!(stats.completed, 1, "the caller's one answer");
    assert_eq!(stats.summaries, 1, "the summary the broker asked for");
    let sim = quotaswarm_sim::of(&swarm).unwrap().stats();
    assert_eq!(sim.total.status(200), stats.completed + stats.summaries);
}
