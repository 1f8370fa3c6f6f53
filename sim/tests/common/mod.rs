//! Raw HTTP calls to a served simulator, shared by its loopback tests.
#![allow(dead_code)]

use quotaswarm_sim::SimStats;
use reqwest::{Client, Response};
use serde_json::Value;

pub async fn messages(client: &Client, base: &str, key: &str, body: &Value) -> Response {
    client
        .post(format!("{base}/v1/messages"))
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap()
}

pub async fn chat(client: &Client, base: &str, key: &str, body: &Value) -> Response {
    client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// `GET /_stats`, parsed.
pub async fn sim_stats(client: &Client, base: &str) -> SimStats {
    client
        .get(format!("{base}/_stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The JSON body of `r`, once its status is checked to be `status`.
pub async fn body_of(r: Response, status: u16) -> Value {
    assert_eq!(r.status(), status);
    r.json().await.unwrap()
}
