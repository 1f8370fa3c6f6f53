//! The broker's integration tests, one module per concern, in one test binary (one link
//! instead of sixteen; the modules run side by side). Most run in paused time against the
//! embedded simulator; `coalesce` and `stream` over real loopback HTTP.
//!
//! | module | shows |
//! |---|---|
//! | `admission` | Paused-time tests of admission against the embedded simulator (the real simulator, called in-process so a minute of quota takes no real minute) |
//! | `caching` | Automatic prompt caching, end to end on the embedded simulator in paused time |
//! | `coalesce` | Coalescing over real loopback HTTP |
//! | `ladder` | Paused-time tests of the fallback ladder and the circuit breaker, against the embedded simulator with exhausted quotas and injected faults |
//! | `learned_limits` | Paused-time tests of limits learned from the server's `-limit` headers |
//! | `patience` | Paused-time tests that a rate limit is a wait, not a failure |
//! | `policy` | The parameter policy, through the public API against the embedded simulator |
//! | `props` | Property test: whatever options a request carries, the broker answers and settles it |
//! | `refusals` | Requests that can never be sent are refused at once, and the message says which part is too large (the input estimate, or the `max_tokens` output reservation), with the numbers, and what to change |
//! | `reliability` | Paused-time tests that nothing a caller, a provider or a deadline does can stop the broker, hang a caller or leave work behind |
//! | `retry` | Paused-time broker tests of retries, over a scripted transport (exact failure sequences) — the broker, wire code and classification are the real ones |
//! | `spill` | Paused-time tests of spill scheduling: a ladder request goes to the rung projected to finish it first |
//! | `stream` | Streaming through the broker over real loopback HTTP against the simulator |
//! | `stuck` | Paused-time tests that an attempt whose transport never returns cannot hold its lane slot |
//! | `trim` | A history that grows past 80,000 tokens keeps working |
//! | `wasted` | `wasted_usd`: what failed attempts cost |

mod admission;
mod caching;
mod coalesce;
#[path = "../common/mod.rs"]
mod common;
mod ladder;
mod learned_limits;
mod patience;
mod policy;
mod props;
mod refusals;
mod reliability;
mod retry;
mod spill;
mod stream;
mod stuck;
mod trim;
mod wasted;
