//! Automatic prompt caching, end to end on the embedded simulator in paused time: a
//! long-history Anthropic swarm (4 agents, 12 turns each, a shared system prompt of more
//! than 1,500 tokens, a document in every turn) run twice, with the broker's automatic
//! cache breakpoints on and off. The simulator caches the prefixes up to each breakpoint
//! per key, reports cache reads and writes in `usage`, and charges input tokens per
//! minute without the reads; the limits are tier 1's for Sonnet, with requests per
//! minute and output raised so that input tokens per minute bind.
//!
//! With caching on, cache reads must be at least 40 % of the input tokens, the makespan
//! shorter and the cost lower than with caching off; and neither run may see a 429.

use quotaswarm::swarm::Swarm;
use quotaswarm::tokens::Encoding;
use quotaswarm::types::ContentBlock;
use quotaswarm::{BrokerHandle, CompletionRequest, Config, Message};
use std::time::Duration;
use tokio::time::Instant;

const AGENTS: usize = 4;
const TURNS: usize = 12;

/// The shared system prompt: a long, stable rule book (about 2,400 tokens).
fn system_prompt() -> String {
    let topics = [
        "revenue",
        "churn",
        "latency",
        "headcount",
        "inventory",
        "freight",
        "refunds",
        "licences",
        "energy use",
        "support tickets",
    ];
    let mut s = String::from(
        "You are an analyst on a review team. Follow the rule book below exactly, cite the \
         rule you apply, and answer in at most three sentences.\n",
    );
    for i in 0..90 {
        let a = topics[i % topics.len()];
        let b = topics[(i * 7 + 3) % topics.len()];
        s.push_str(&format!(
            "Rule {i}: when a document reports {a}, compare it with the {b} figures of the \
             same quarter and flag any change above {} percent as material.\n",
            i % 13 + 2
        ));
    }
    s
}

/// The document of one turn (about 250 tokens), different for every agent and turn.
fn document(agent: usize, turn: usize) -> String {
    let mut d = format!("Quarterly note {turn} from region {agent}.\n");
    for line in 0..12 {
        d.push_str(&format!(
            "Item {line}: the region logged {} units against a plan of {}, with {} open \
             issues and a cost of {} thousand.\n",
            (agent + 3) * (turn + 5) * (line + 7) % 997,
            (agent + 11) * (turn + 2) * (line + 3) % 991,
            (line * 3 + turn) % 17,
            (agent * 31 + turn * 17 + line * 5) % 503
        ));
    }
    d
}

/// Sonnet at tier 1's input limit (30,000 ITPM), with requests and output raised so
/// input tokens bind; prices as the defaults (cache reads 0.1×, writes 1.25×).
fn config(auto_cache: bool) -> Config {
    Config::from_toml_str_over_previous_defaults(
        &format!(
            "[models.sonnet]\nrpm = 1000\nitpm = 30000\notpm = 40000\nauto_cache = {auto_cache}\n"
        ),
        "test",
    )
    .expect("config")
}

/// One agent: a conversation of `TURNS` turns, each with a new document.
async fn agent(h: BrokerHandle, system: String, a: usize) {
    let mut history: Vec<Message> = Vec::new();
    for turn in 0..TURNS {
        history.push(Message::user(format!(
            "{}\nWhich rule applies to item {}, and is the change material?",
            document(a, turn),
            turn % 12
        )));
        let req = CompletionRequest::new("sonnet")
            .system(system.clone())
            .messages(history.clone())
            .max_tokens(200);
        let c = h.complete(req).await.expect("every turn is answered");
        history.push(c.to_message());
    }
}

#[derive(Debug)]
struct Figures {
    makespan: Duration,
    input: u64,
    cache_read: u64,
    cache_write: u64,
    hit_share: f64,
    saved_tokens: u64,
    saved_usd: f64,
    cost: f64,
    rate_limited: u64,
    sim_429: u64,
    completions: u64,
}

async fn run(auto_cache: bool) -> Figures {
    let swarm = embedded_swarm(config(auto_cache)).await;
    let h = swarm.handle();
    let system = system_prompt();
    let t0 = Instant::now();
    let agents: Vec<_> = (0..AGENTS)
        .map(|a| tokio::spawn(agent(h.clone(), system.clone(), a)))
        .collect();
    for a in agents {
        a.await.expect("agent task");
    }
    let makespan = t0.elapsed();
    let s = h.stats().await.expect("stats");
    let sim = quotaswarm_sim::of(&swarm).expect("simulator stats").stats();
    let f = Figures {
        makespan,
        input: s.input_tokens,
        cache_read: s.cache_read_tokens,
        cache_write: s.cache_write_tokens,
        hit_share: s.cache_hit_share,
        saved_tokens: s.cache_saved_tokens,
        saved_usd: s.cache_saved_usd,
        cost: s.cost_usd,
        rate_limited: s.rate_limited,
        sim_429: sim.total.status(429),
        completions: s.completed,
    };
    swarm.shutdown().await;
    f
}

/// The system prompt and `history` so far, for `target`.
fn next_turn(target: &str, history: &[Message]) -> CompletionRequest {
    CompletionRequest::new(target)
        .system(system_prompt())
        .messages(history.to_vec())
        .max_tokens(100)
}

/// A swarm on the embedded simulator.
async fn embedded_swarm(config: Config) -> Swarm {
    Swarm::start(config, quotaswarm_sim::embedded())
        .await
        .expect("swarm")
}

/// The defaults under `toml`.
fn over_defaults(toml: &str) -> Config {
    Config::from_toml_str_over_previous_defaults(toml, "test").expect("config")
}

#[tokio::test(start_paused = true)]
async fn automatic_caching_reads_most_input_from_the_cache_and_finishes_sooner_for_less() {
    let system = system_prompt();
    let system_tokens = Encoding::for_model("claude-sonnet-4-6").count(&system);
    assert!(
        system_tokens >= 1500,
        "system prompt of {system_tokens} tokens"
    );

    let on = run(true).await;
    let off = run(false).await;
    eprintln!("system prompt: {system_tokens} tokens (tiktoken); {AGENTS} agents x {TURNS} turns");
    for (name, f) in [("caching on ", &on), ("caching off", &off)] {
        eprintln!(
            "{name}: makespan {:.1}s  input {} + cache read {} + cache write {}  hit {:.1}%  \
             saved {} tokens ${:.4}  cost ${:.4}  429s {} (sim {})",
            f.makespan.as_secs_f64(),
            f.input,
            f.cache_read,
            f.cache_write,
            f.hit_share * 100.0,
            f.saved_tokens,
            f.saved_usd,
            f.cost,
            f.rate_limited,
            f.sim_429
        );
    }
    let expected = (AGENTS * TURNS) as u64;
    assert_eq!((on.completions, off.completions), (expected, expected));
    assert!(
        on.hit_share >= 0.40,
        "cache reads {:.1}% of input",
        on.hit_share * 100.0
    );
    assert_eq!(
        on.saved_tokens, on.cache_read,
        "reads are free against ITPM"
    );
    assert!(on.saved_usd > 0.0);
    assert_eq!(
        (off.cache_read, off.cache_write),
        (0, 0),
        "no breakpoints, no caching"
    );
    assert!(
        on.makespan < off.makespan,
        "{:?} vs {:?}",
        on.makespan,
        off.makespan
    );
    assert!(on.cost < off.cost, "${} vs ${}", on.cost, off.cost);
    assert_eq!((on.rate_limited, on.sim_429), (0, 0), "no 429 with caching");
    assert_eq!((off.rate_limited, off.sim_429), (0, 0), "no 429 without");
}

#[tokio::test(start_paused = true)]
async fn breakpoints_go_on_the_system_prompt_and_the_user_turns_only_for_anthropic() {
    let swarm = embedded_swarm(config(true)).await;
    let h = swarm.handle();
    let req = CompletionRequest::new("sonnet")
        .system(system_prompt())
        .user(document(0, 0))
        .assistant("Rule 3 applies.")
        .user(document(0, 1));
    let p = h.prepare(req.clone()).expect("prepare");
    let sent = p.request_for(0);
    assert!(
        sent.system[0].cache_control().is_some(),
        "the stable prefix"
    );
    let marked: Vec<bool> = sent
        .messages
        .iter()
        .map(|m| m.content.iter().any(|b| b.cache_control().is_some()))
        .collect();
    assert_eq!(marked, [true, false, true], "both user turns");
    assert!(
        p.request.system[0].cache_control().is_none(),
        "the caller's request is left as it was"
    );
    // Opting out per request, and OpenAI models (whose caching is automatic), get none.
    let off = h.prepare(req.clone().auto_cache(false)).expect("prepare");
    assert!(off.rungs[0].request.is_none());
    let mut gpt = req;
    gpt.target = "gpt-4o".into();
    assert!(h.prepare(gpt).expect("prepare").rungs[0].request.is_none());
    // A caller's own breakpoint is kept.
    let own = CompletionRequest::new("sonnet")
        .system_cached(system_prompt(), quotaswarm::CacheControl::one_hour())
        .user(document(1, 0));
    let p = h.prepare(own).expect("prepare");
    let sent = p.request_for(0);
    assert_eq!(
        sent.system[0].cache_control(),
        Some(quotaswarm::CacheControl::one_hour())
    );
    assert!(matches!(
        sent.messages[0].content[0],
        ContentBlock::Text {
            cache_control: Some(_),
            ..
        }
    ));
    swarm.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn openai_automatic_caching_is_reported_the_same_way_but_saves_no_quota() {
    let swarm = embedded_swarm(config(true)).await;
    let h = swarm.handle();
    let mut history: Vec<Message> = Vec::new();
    for turn in 0..3 {
        history.push(Message::user(document(0, turn)));
        let req = next_turn("gpt-4o-mini", &history);
        let p = h.prepare(req.clone()).expect("prepare");
        assert!(p.rungs[0].request.is_none(), "no breakpoints on OpenAI");
        let c = h.complete(req).await.expect("answer");
        history.push(c.to_message());
    }
    let s = h.stats().await.expect("stats");
    let lane = s.lane("gpt-4o-mini").expect("lane");
    eprintln!(
        "gpt-4o-mini: input {} cached {} hit {:.1}% saved {} tokens ${:.5}",
        lane.input_tokens,
        lane.cache_read_tokens,
        lane.cache_hit_share * 100.0,
        lane.cache_saved_tokens,
        lane.cache_saved_usd
    );
    assert!(
        lane.cache_read_tokens > 0,
        "cached_tokens reported as reads"
    );
    assert!(lane.cache_hit_share > 0.0);
    assert_eq!(
        lane.cache_saved_tokens, 0,
        "cached tokens still count toward TPM"
    );
    assert!(lane.cache_saved_usd > 0.0, "but cost the cached price");
    assert_eq!(s.cache_read_tokens, lane.cache_read_tokens);
    swarm.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_model_set_to_one_hour_gets_one_hour_breakpoints_and_short_prefixes_none() {
    let swarm = embedded_swarm(over_defaults(
        "[models.sonnet]\ncache_ttl = \"1h\"\n[models.haiku]\nmin_cache_tokens = 100000\n",
    ))
    .await;
    let h = swarm.handle();
    let req = |target: &str| {
        CompletionRequest::new(target)
            .system(system_prompt())
            .user(document(2, 0))
    };
    let p = h.prepare(req("sonnet")).expect("prepare");
    let sent = p.request_for(0);
    assert_eq!(
        sent.system[0].cache_control(),
        Some(quotaswarm::CacheControl::one_hour())
    );
    // Below haiku's (here raised) minimum nothing would be cached: no breakpoint.
    let p = h.prepare(req("haiku")).expect("prepare");
    assert!(p.rungs[0].request.is_none());
    swarm.shutdown().await;
}

/// One conversation on Sonnet at 6,000 input tokens per minute, until its history is
/// larger than a minute of input quota; returns the estimate of the last request and its
/// outcome.
async fn long_conversation(auto_cache: bool) -> (u64, Result<(), quotaswarm::BrokerError>) {
    let swarm = embedded_swarm(over_defaults(&format!(
        "[models.sonnet]\nrpm = 1000\nitpm = 6000\notpm = 40000\nauto_cache = {auto_cache}\n"
    )))
    .await;
    let h = swarm.handle();
    let mut history: Vec<Message> = Vec::new();
    let mut last = (0, Ok(()));
    for turn in 0..12 {
        history.push(Message::user(document(5, turn)));
        let req = next_turn("sonnet", &history);
        let est = h.prepare(req.clone()).expect("prepare").rungs[0].est_input;
        match h.complete(req).await {
            Ok(c) => {
                history.push(c.to_message());
                last = (est, Ok(()));
            }
            Err(e) => {
                last = (est, Err(e));
                break;
            }
        }
    }
    let s = h.stats().await.expect("stats");
    assert_eq!(s.rate_limited, 0, "no 429s");
    swarm.shutdown().await;
    last
}

#[tokio::test(start_paused = true)]
async fn a_history_larger_than_a_minute_of_input_quota_is_served_while_it_is_cached() {
    let (est, outcome) = long_conversation(true).await;
    eprintln!("caching on: last request estimated at {est} input tokens: {outcome:?}");
    assert!(
        est > 6000,
        "the history outgrew a minute of input quota: {est}"
    );
    assert!(outcome.is_ok(), "{outcome:?}");
    // Without caching every input token counts: the broker refuses what can never fit.
    let (est, outcome) = long_conversation(false).await;
    eprintln!("caching off: stopped at a request estimated at {est} tokens: {outcome:?}");
    assert!(
        matches!(outcome, Err(quotaswarm::BrokerError::NeverFits { .. })),
        "{outcome:?}"
    );
}
