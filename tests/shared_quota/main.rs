//! The quota shared through Redis (127.0.0.1:6379, or `QUOTASWARM_TEST_REDIS`; each test
//! in a key namespace of its own), in one test binary: the store's Lua script, and
//! brokers sharing one key.
//!
//! | module | shows |
//! |---|---|
//! | `shared` | Brokers sharing one quota through Redis (127.0.0.1:6379, or `QUOTASWARM_TEST_REDIS`), over loopback HTTP against one simulator, in real time (sockets |
//! | `store` | The shared quota's Lua script against a real Redis (127.0.0.1:6379, or the URL in `QUOTASWARM_TEST_REDIS`), each test under a namespace of its own |

#[path = "../common/mod.rs"]
mod common;
mod shared;
mod store;
