//! The gateway's errors and how each vendor's SDK expects to read them: status, body
//! shape and `retry-after`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use quotaswarm::provider::ProviderError;
use quotaswarm::BrokerError;
use std::time::Duration;

/// Which vendor's wire a client speaks: decides the error shape and the overload status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Anthropic,
    OpenAi,
}

/// Why the gateway did not answer a request with a completion.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The body is not a valid request of the client's wire.
    #[error("{0}")]
    BadRequest(String),
    /// The request asks for something the other wire cannot express.
    #[error("cannot translate: {0}")]
    Untranslatable(String),
    /// No client key, or one no client has.
    #[error("invalid x-api-key or bearer token: no client of this gateway has it")]
    Unauthorized,
    /// The model names no config model, ladder or provider model.
    #[error(
        "model {0:?} not found: use a model or ladder of the gateway's config (GET /v1/models)"
    )]
    UnknownModel(String),
    /// The client went over its own requests or tokens per minute.
    #[error("client {client} is over its {limit} limit; retry after {}s", retry_secs(.retry_after))]
    ClientRateLimited {
        client: String,
        limit: &'static str,
        retry_after: Duration,
    },
    /// The client has spent its budget.
    #[error("client {client} has spent its budget of ${budget:.2}")]
    BudgetSpent { client: String, budget: f64 },
    /// The request would wait longer than its `x-quotaswarm-max-wait`.
    #[error("{message}")]
    WouldWait {
        message: String,
        retry_after: Duration,
    },
    /// The gateway's queue is full, or the upstream is overloaded or its circuit open.
    #[error("{message}")]
    Overloaded {
        message: String,
        retry_after: Duration,
    },
    /// Every rung answered an error the broker could not hide.
    #[error("{message}")]
    Upstream { status: u16, message: String },
    /// The body is larger than the gateway accepts.
    #[error("request body over the gateway's limit of {0} bytes")]
    TooLarge(usize),
}

fn retry_secs(d: &Duration) -> u64 {
    d.as_secs_f64().ceil().max(1.0) as u64
}

impl GatewayError {
    /// The broker's final answer, in the client's terms.
    pub fn from_broker(e: BrokerError) -> GatewayError {
        match &e {
            BrokerError::InvalidRequest(_)
            | BrokerError::NeverFits { .. }
            | BrokerError::ContextTooLarge { .. } => GatewayError::BadRequest(e.to_string()),
            BrokerError::UnknownTarget(t) => GatewayError::UnknownModel(t.clone()),
            BrokerError::WaitedTooLong { max_wait, .. } => GatewayError::WouldWait {
                message: e.to_string(),
                retry_after: *max_wait,
            },
            BrokerError::CircuitOpen { retry_in, .. } => GatewayError::Overloaded {
                message: e.to_string(),
                retry_after: *retry_in,
            },
            BrokerError::Provider { error, .. } => from_provider(error, e.to_string()),
            BrokerError::AllRungsFailed(rungs) => {
                // The last rung's failure decides the shape; the message lists them all.
                match rungs
                    .last()
                    .map(|r| GatewayError::from_broker(r.error.clone()))
                {
                    Some(GatewayError::WouldWait { retry_after, .. }) => GatewayError::WouldWait {
                        message: e.to_string(),
                        retry_after,
                    },
                    Some(GatewayError::Overloaded { retry_after, .. }) => {
                        GatewayError::Overloaded {
                            message: e.to_string(),
                            retry_after,
                        }
                    }
                    Some(GatewayError::Upstream { status, .. }) => GatewayError::Upstream {
                        status,
                        message: e.to_string(),
                    },
                    _ => GatewayError::Upstream {
                        status: 502,
                        message: e.to_string(),
                    },
                }
            }
            BrokerError::BrokerStopped => GatewayError::Overloaded {
                message: "the gateway is shutting down".into(),
                retry_after: Duration::from_secs(1),
            },
            _ => GatewayError::Upstream {
                status: 500,
                message: e.to_string(),
            },
        }
    }

    /// Why the gateway itself refused the request (its label in the per-client
    /// counters), or `None` for a bad request or a failure upstream.
    pub fn refusal(&self) -> Option<&'static str> {
        match self {
            GatewayError::Unauthorized => Some("unauthorized"),
            GatewayError::TooLarge(_) => Some("too_large"),
            GatewayError::ClientRateLimited { .. } => Some("client_rate_limit"),
            GatewayError::BudgetSpent { .. } => Some("budget"),
            GatewayError::WouldWait { .. } => Some("max_wait"),
            GatewayError::Overloaded { .. } => Some("overloaded"),
            GatewayError::BadRequest(_)
            | GatewayError::Untranslatable(_)
            | GatewayError::UnknownModel(_)
            | GatewayError::Upstream { .. } => None,
        }
    }

    pub fn status(&self, wire: Wire) -> StatusCode {
        let overloaded = match wire {
            Wire::Anthropic => 529,
            Wire::OpenAi => 503,
        };
        let code = match self {
            GatewayError::BadRequest(_) | GatewayError::Untranslatable(_) => 400,
            GatewayError::Unauthorized => 401,
            GatewayError::UnknownModel(_) => 404,
            GatewayError::TooLarge(_) => 413,
            GatewayError::ClientRateLimited { .. }
            | GatewayError::BudgetSpent { .. }
            | GatewayError::WouldWait { .. } => 429,
            GatewayError::Overloaded { .. } => overloaded,
            GatewayError::Upstream { status, .. } => *status,
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            GatewayError::ClientRateLimited { retry_after, .. }
            | GatewayError::WouldWait { retry_after, .. }
            | GatewayError::Overloaded { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// Anthropic's `error.type`.
    fn anthropic_type(&self) -> &'static str {
        match self {
            GatewayError::BadRequest(_) | GatewayError::Untranslatable(_) => {
                "invalid_request_error"
            }
            GatewayError::Unauthorized => "authentication_error",
            GatewayError::UnknownModel(_) => "not_found_error",
            GatewayError::TooLarge(_) => "request_too_large",
            GatewayError::ClientRateLimited { .. } | GatewayError::WouldWait { .. } => {
                "rate_limit_error"
            }
            // Anthropic reports an exhausted spend limit as a 429 rate_limit_error whose
            // message names the limit; the SDK maps it to RateLimitError.
            GatewayError::BudgetSpent { .. } => "rate_limit_error",
            GatewayError::Overloaded { .. } => "overloaded_error",
            GatewayError::Upstream { status, .. } => match status {
                400 => "invalid_request_error",
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                429 => "rate_limit_error",
                _ => "api_error",
            },
        }
    }

    /// OpenAI's `error.type` and `error.code`.
    fn openai_type_code(&self) -> (&'static str, Option<&'static str>) {
        match self {
            GatewayError::BadRequest(_) | GatewayError::Untranslatable(_) => {
                ("invalid_request_error", None)
            }
            GatewayError::Unauthorized => ("invalid_request_error", Some("invalid_api_key")),
            GatewayError::UnknownModel(_) => ("invalid_request_error", Some("model_not_found")),
            GatewayError::TooLarge(_) => ("invalid_request_error", Some("request_too_large")),
            GatewayError::ClientRateLimited { limit, .. } => (
                if *limit == "tokens" {
                    "tokens"
                } else {
                    "requests"
                },
                Some("rate_limit_exceeded"),
            ),
            GatewayError::WouldWait { .. } => ("requests", Some("rate_limit_exceeded")),
            GatewayError::BudgetSpent { .. } => ("insufficient_quota", Some("insufficient_quota")),
            GatewayError::Overloaded { .. } => ("server_error", Some("overloaded")),
            GatewayError::Upstream { .. } => ("server_error", None),
        }
    }

    /// The error body (JSON) in `wire`'s shape.
    pub fn body(&self, wire: Wire) -> serde_json::Value {
        match wire {
            Wire::Anthropic => serde_json::json!({
                "type": "error",
                "error": {"type": self.anthropic_type(), "message": self.to_string()},
            }),
            Wire::OpenAi => {
                let (kind, code) = self.openai_type_code();
                serde_json::json!({
                    "error": {"message": self.to_string(), "type": kind, "param": null, "code": code},
                })
            }
        }
    }

    /// The whole HTTP response in `wire`'s shape.
    pub fn into_response(self, wire: Wire) -> Response {
        let mut resp = (self.status(wire), axum::Json(self.body(wire))).into_response();
        if let Some(after) = self.retry_after() {
            if let Ok(v) = HeaderValue::from_str(&retry_secs(&after).to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            if let Ok(v) = HeaderValue::from_str(&after.as_millis().max(1).to_string()) {
                resp.headers_mut().insert("retry-after-ms", v);
            }
        }
        // The SDKs retry 429s and 5xx on their own; a gateway that already waited as long
        // as the client allowed tells them not to hammer it.
        if matches!(self, GatewayError::BudgetSpent { .. }) {
            resp.headers_mut()
                .insert("x-should-retry", HeaderValue::from_static("false"));
        }
        resp
    }
}

fn from_provider(error: &ProviderError, message: String) -> GatewayError {
    match error {
        ProviderError::RateLimited { retry_after, .. } => GatewayError::WouldWait {
            message,
            retry_after: retry_after.unwrap_or(Duration::from_secs(1)),
        },
        ProviderError::Overloaded { retry_after, .. } => GatewayError::Overloaded {
            message,
            retry_after: retry_after.unwrap_or(Duration::from_secs(1)),
        },
        ProviderError::QuotaExhausted { .. } => GatewayError::Upstream {
            status: 429,
            message,
        },
        ProviderError::BadRequest { .. } | ProviderError::TooLarge { .. } => {
            GatewayError::BadRequest(message)
        }
        _ => GatewayError::Upstream {
            status: 502,
            message,
        },
    }
}
