//! Retry policy, pure: what to do after a failed attempt. Deciding is separate from doing;
//! the broker acts on the [`Decision`].
//!
//! The server's `retry-after(-ms)` is used when given (capped); otherwise exponential
//! backoff with full jitter (`U × min(cap, base × 2^retries)`), which spreads a swarm's
//! retries instead of synchronising them into waves.
//!
//! A rate-limit answer (429, or 529/503 overloaded) is a wait, not a failure: the
//! request is retried for as long as its patience allows (the broker's
//! `rate_limit_patience`, or the request's `max_wait` if longer), whatever `max_attempts` says; `max_attempts` bounds
//! only real failures (5xx, timeouts, transport errors). Across processes sharing a key
//! without the shared store, 429s are expected, and each is answered by waiting.
//!
//! Retrying helps an endpoint that was healthy and stumbles; it cannot help one that
//! nothing has ever answered at. A connection refused (or an unknown host) from an
//! endpoint with no answer yet is a wrong `base_url` or a server not started: the request
//! fails at once, naming the URL, instead of after `max_attempts` backoffs and circuit
//! cool-downs ([`fails_fast`]).

use super::time::secs_f64;
use crate::config::BrokerConfig;
use crate::provider::ProviderError;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Send again on the same lane after this delay.
    Retry(Duration),
    /// Try the next rung of the ladder now.
    MoveDown,
    /// Nothing more to try.
    GiveUp,
    /// Rate-limited for longer than the request's patience: nothing more to try.
    OutOfPatience,
}

/// What a request has spent on its current rung, for [`decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spent {
    /// Attempts sent on the rung, the failed one included (1-based).
    pub(crate) attempts: u32,
    /// Of those, the ones answered with a rate limit ([`is_rate_limit`]), which do not
    /// count against `max_attempts`.
    pub(crate) rate_limited: u32,
    /// Time since the request was queued on the rung.
    pub(crate) waited: Duration,
    /// How long the request waits through rate limits.
    pub(crate) patience: Duration,
}

impl Spent {
    /// The attempts that count against `max_attempts`.
    fn counted(&self) -> u32 {
        self.attempts.saturating_sub(self.rate_limited)
    }
}

/// Whether `err` is a rate-limit answer: a 429 (with or without `retry-after`), or a
/// 529/503 overload. A spend cap (`QuotaExhausted`) is not: waiting does not lift it.
pub(crate) fn is_rate_limit(err: &ProviderError) -> bool {
    match err {
        ProviderError::MidStream {
            error,
            deltas_delivered: 0,
            ..
        } => is_rate_limit(error),
        ProviderError::RateLimited { .. } | ProviderError::Overloaded { .. } => true,
        _ => false,
    }
}

/// The delay before retry number `retries` (0 for the first retry). `u` is uniform in [0, 1).
pub(crate) fn delay(err: &ProviderError, retries: u32, cfg: &BrokerConfig, u: f64) -> Duration {
    if let Some(ra) = err.retry_after() {
        if !ra.is_zero() {
            return ra.min(cfg.retry_after_cap);
        }
    }
    let exp = cfg
        .backoff_base
        .saturating_mul(1u32 << retries.min(20))
        .min(cfg.backoff_cap);
    // `Duration::mul_f64` panics on NaN or overflow; a NaN draw counts as 0.
    let u = if u.is_nan() { 0.0 } else { u.clamp(0.0, 1.0) };
    secs_f64(exp.as_secs_f64() * u).min(exp)
}

/// Whether `err` says nothing listens at an endpoint that has never `answered` (any HTTP
/// response counts as an answer): then retrying is pointless, and the failure does not
/// count toward the lane's circuit either (there is no healthy lane to protect).
pub(crate) fn fails_fast(err: &ProviderError, answered: bool) -> bool {
    !answered && matches!(err.underlying(), ProviderError::Unreachable { .. })
}

/// Whether `err` says the rung's model cannot serve anything: a 404 (Anthropic
/// `not_found_error`, OpenAI `model_not_found`: an unknown or retired model, or a wrong
/// base URL), or a 400 / other 4xx whose body says the model is deprecated, retired or
/// does not exist. Waiting cannot help, but a lower rung (another model, maybe another
/// endpoint) can: a ladder moves down at once, and the rung's circuit opens so the next
/// requests skip it until a probe after the cool-down.
pub(crate) fn model_unavailable(err: &ProviderError) -> bool {
    let message = match err.underlying() {
        ProviderError::NotFound { .. } => return true,
        ProviderError::BadRequest { message } | ProviderError::Rejected { message, .. } => {
            message.to_ascii_lowercase()
        }
        _ => return false,
    };
    let about_model = message.contains("model");
    let gone = [
        "model_not_found",
        "not_found_error",
        "deprecated",
        "retired",
        "decommissioned",
        "end of life",
        "does not exist",
        "no longer available",
    ];
    about_model && gone.iter().any(|g| message.contains(g))
}

/// What to do after `err`, given what the request has `spent` on its rung; `lower_rung`
/// tells whether the ladder (and its floor) allows moving down; `answered`, whether the
/// rung's endpoint has ever answered (see [`fails_fast`]).
///
/// A rate-limit answer moves a ladder down at once; on the last rung it is retried
/// after its backoff as long as the wait stays within `spent.patience`. Any other
/// retryable failure is retried until `max_attempts` of them.
pub(crate) fn decide(
    err: &ProviderError,
    spent: Spent,
    lower_rung: bool,
    answered: bool,
    cfg: &BrokerConfig,
    u: f64,
) -> Decision {
    if fails_fast(err, answered) {
        // A lower rung may live on another endpoint.
        return if lower_rung {
            Decision::MoveDown
        } else {
            Decision::GiveUp
        };
    }
    // A stream that failed before any delta reached the caller is as good as a failed
    // request: judge its underlying error. After a delta, never retry (no duplicated
    // output).
    if let ProviderError::MidStream {
        error,
        deltas_delivered: 0,
        ..
    } = err
    {
        return decide(error, spent, lower_rung, answered, cfg, u);
    }
    let moves_down_at_once = matches!(
        err,
        ProviderError::RateLimited { .. }
            | ProviderError::Overloaded { .. }
            | ProviderError::QuotaExhausted { .. }
            | ProviderError::TooLarge { .. }
    ) || model_unavailable(err);
    if lower_rung && moves_down_at_once {
        return Decision::MoveDown;
    }
    if is_rate_limit(err) {
        let backoff = delay(err, spent.rate_limited.saturating_sub(1), cfg, u);
        // Giving up now rather than after a backoff that ends past the patience: the
        // answer would come too late anyway, and the caller learns it sooner.
        return if spent.waited.saturating_add(backoff) <= spent.patience {
            Decision::Retry(backoff)
        } else {
            Decision::OutOfPatience
        };
    }
    let attempt = spent.counted();
    if err.is_retryable() && attempt < cfg.max_attempts {
        return Decision::Retry(delay(err, attempt.saturating_sub(1), cfg, u));
    }
    if lower_rung && err.is_retryable() {
        return Decision::MoveDown;
    }
    Decision::GiveUp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BrokerConfig {
        BrokerConfig::default()
    }

    /// `attempts` failed attempts, none of them rate limits, at once.
    fn at(attempts: u32) -> Spent {
        Spent {
            attempts,
            rate_limited: 0,
            waited: Duration::ZERO,
            patience: Duration::from_secs(300),
        }
    }

    /// The decision after `attempts` failed attempts ending in `e`, at an endpoint that
    /// has answered before, with (`lower`) or without a lower rung.
    fn after(e: &ProviderError, attempts: u32, lower: bool) -> Decision {
        decide(e, at(attempts), lower, true, &cfg(), 0.1)
    }

    fn server(status: u16) -> ProviderError {
        ProviderError::Server {
            status,
            retry_after: None,
            message: String::new(),
        }
    }

    fn limited(secs: u64) -> ProviderError {
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(secs)),
            message: String::new(),
        }
    }

    #[test]
    fn honours_retry_after_capped() {
        assert_eq!(delay(&limited(7), 0, &cfg(), 0.5), Duration::from_secs(7));
        assert_eq!(
            delay(&limited(600), 0, &cfg(), 0.5),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn backs_off_exponentially_with_full_jitter_capped_at_30s() {
        let e = ProviderError::Timeout;
        assert_eq!(delay(&e, 0, &cfg(), 1.0), Duration::from_millis(500));
        assert_eq!(delay(&e, 3, &cfg(), 1.0), Duration::from_secs(4));
        assert_eq!(delay(&e, 3, &cfg(), 0.5), Duration::from_secs(2));
        assert_eq!(delay(&e, 30, &cfg(), 1.0), Duration::from_secs(30));
    }

    #[test]
    fn a_nan_draw_or_a_huge_cap_does_not_panic() {
        let e = ProviderError::Timeout;
        assert_eq!(delay(&e, 3, &cfg(), f64::NAN), Duration::ZERO);
        let mut huge = cfg();
        huge.backoff_base = Duration::MAX;
        huge.backoff_cap = Duration::MAX;
        assert!(delay(&e, 30, &huge, 1.0) > Duration::from_secs(3600));
    }

    #[test]
    fn never_retries_a_bad_request_or_a_spend_cap() {
        let bad = ProviderError::BadRequest {
            message: String::new(),
        };
        assert_eq!(after(&bad, 1, false), Decision::GiveUp);
        let cap = ProviderError::QuotaExhausted {
            message: String::new(),
        };
        assert_eq!(after(&cap, 1, false), Decision::GiveUp);
    }

    #[test]
    fn retries_until_max_attempts_then_gives_up() {
        // Was asserted of a 529; since rate limits stopped counting as attempts, of a 500.
        let e = server(500);
        assert!(matches!(after(&e, 1, false), Decision::Retry(_)));
        assert_eq!(after(&e, 5, false), Decision::GiveUp);
    }

    fn overloaded() -> ProviderError {
        ProviderError::Overloaded {
            status: 529,
            retry_after: None,
            message: String::new(),
        }
    }

    /// `n` attempts, all answered with rate limits, over `waited` seconds.
    fn rate_limited(n: u32, waited: u64) -> Spent {
        Spent {
            attempts: n,
            rate_limited: n,
            waited: Duration::from_secs(waited),
            patience: Duration::from_secs(300),
        }
    }

    #[test]
    fn a_rate_limit_is_a_wait_not_an_attempt() {
        // Far past max_attempts (5), within the patience: retried.
        for e in [
            limited(7),
            overloaded(),
            ProviderError::RateLimited {
                retry_after: None,
                message: String::new(),
            },
        ] {
            assert!(
                matches!(
                    decide(&e, rate_limited(40, 100), false, true, &cfg(), 0.5),
                    Decision::Retry(_)
                ),
                "{e}"
            );
        }
        assert_eq!(
            decide(&limited(7), rate_limited(40, 100), false, true, &cfg(), 0.5),
            Decision::Retry(Duration::from_secs(7))
        );
        // 429s do not use up the attempts of real failures either.
        let spent = Spent {
            attempts: 12,
            rate_limited: 8,
            ..rate_limited(0, 10)
        };
        assert!(matches!(
            decide(&ProviderError::Timeout, spent, false, true, &cfg(), 0.5),
            Decision::Retry(_)
        ));
        let spent = Spent {
            attempts: 13,
            rate_limited: 8,
            ..rate_limited(0, 10)
        };
        assert_eq!(
            decide(&ProviderError::Timeout, spent, false, true, &cfg(), 0.5),
            Decision::GiveUp
        );
    }

    #[test]
    fn a_rate_limit_past_the_patience_runs_out_of_it() {
        // Waited 295 s of 300: a 7 s retry-after would end past the patience.
        assert_eq!(
            decide(&limited(7), rate_limited(3, 295), false, true, &cfg(), 0.5),
            Decision::OutOfPatience
        );
        assert_eq!(
            decide(&limited(5), rate_limited(3, 295), false, true, &cfg(), 0.5),
            Decision::Retry(Duration::from_secs(5))
        );
        let none = Spent {
            patience: Duration::ZERO,
            ..rate_limited(1, 0)
        };
        assert_eq!(
            decide(&overloaded(), none, false, true, &cfg(), 0.5),
            Decision::OutOfPatience
        );
        assert!(is_rate_limit(&overloaded()));
        assert!(!is_rate_limit(&ProviderError::QuotaExhausted {
            message: String::new()
        }));
        assert!(!is_rate_limit(&ProviderError::Timeout));
    }

    #[test]
    fn a_mid_stream_failure_is_retried_only_before_any_delta() {
        let mid = |deltas| ProviderError::MidStream {
            error: Box::new(ProviderError::Overloaded {
                status: 529,
                retry_after: None,
                message: String::new(),
            }),
            deltas_delivered: deltas,
            partial_usage: Default::default(),
        };
        assert!(matches!(after(&mid(0), 1, false), Decision::Retry(_)));
        assert_eq!(after(&mid(3), 1, false), Decision::GiveUp);
        assert_eq!(after(&mid(3), 1, true), Decision::GiveUp);
    }

    fn refused(answered: bool, attempt: u32, lower: bool) -> Decision {
        let e = ProviderError::Unreachable {
            provider: "anthropic".into(),
            base_url: "http://127.0.0.1:9".into(),
            reason: "connection refused".into(),
        };
        decide(&e, at(attempt), lower, answered, &cfg(), 0.1)
    }

    #[test]
    fn an_endpoint_that_never_answered_fails_at_once_when_nothing_listens() {
        assert_eq!(refused(false, 1, false), Decision::GiveUp);
        assert_eq!(
            refused(false, 1, true),
            Decision::MoveDown,
            "another rung may answer"
        );
        // Any other failure of a silent endpoint is retried as usual.
        assert!(matches!(
            decide(&ProviderError::Timeout, at(1), false, false, &cfg(), 0.1),
            Decision::Retry(_)
        ));
    }

    #[test]
    fn an_endpoint_that_has_answered_is_retried_when_it_stops_listening() {
        assert!(matches!(refused(true, 1, false), Decision::Retry(_)));
        assert!(matches!(refused(true, 4, true), Decision::Retry(_)));
        assert_eq!(refused(true, 5, false), Decision::GiveUp);
        assert_eq!(refused(true, 5, true), Decision::MoveDown);
        assert!(!fails_fast(&ProviderError::Timeout, false));
    }

    #[test]
    fn a_missing_or_retired_model_moves_down_at_once_and_ends_on_the_last_rung() {
        let not_found = ProviderError::NotFound {
            message: "not_found_error: model: claude-3-opus-20240229".into(),
        };
        assert!(model_unavailable(&not_found));
        assert_eq!(after(&not_found, 1, true), Decision::MoveDown);
        assert_eq!(after(&not_found, 1, false), Decision::GiveUp);
        let deprecated = ProviderError::BadRequest {
            message:
                "invalid_request_error/model_deprecated: The model `gpt-4-0314` has been deprecated"
                    .into(),
        };
        assert!(model_unavailable(&deprecated));
        let other = ProviderError::BadRequest {
            message: "invalid_request_error: messages: tool `lookup` does not exist".into(),
        };
        assert!(!model_unavailable(&other), "not about the model");
        assert_eq!(after(&other, 1, true), Decision::GiveUp);
    }

    #[test]
    fn a_429_or_529_moves_down_the_ladder_at_once() {
        assert_eq!(after(&limited(3), 1, true), Decision::MoveDown);
        let e = server(503);
        assert!(matches!(after(&e, 1, true), Decision::Retry(_)));
        assert_eq!(after(&e, 5, true), Decision::MoveDown);
    }
}
