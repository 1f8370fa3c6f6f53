//! `quotaswarm serve` and `quotaswarm sim` driven by the official Python SDKs (`openai`,
//! `anthropic`, in the virtual environment `.ci/run` makes; outside CI a test returns
//! early, saying so, when it is missing, and in CI it fails), in one test binary. `harness` starts the processes and
//! runs the scripts of this folder. The load test is `gateway_load`, a binary of its own.
//!
//! | module | shows |
//! |---|---|
//! | `access_log` | The access log |
//! | `drain` | SIGTERM with 50 requests in flight through `quotaswarm serve` |
//! | `refusals` | What clients hear when the gateway refuses, through the official Python SDKs |
//! | `responses_sdk` | The official OpenAI Python SDK's `client.responses.create` against `quotaswarm sim` (a process, over HTTP) |
//! | `streamed_blocks` | Nothing is lost on the gateway's stream: thinking, a server tool's call and result and citations streamed give the plain answer's content |
//! | `sdk` | The official Python SDKs (`anthropic`, `openai`) pointed at `quotaswarm serve` in front of `quotaswarm sim` |

mod access_log;
#[path = "../common/mod.rs"]
mod common;
mod drain;
#[path = "harness.rs"]
mod gateway;
mod refusals;
mod responses_sdk;
mod sdk;
mod streamed_blocks;
