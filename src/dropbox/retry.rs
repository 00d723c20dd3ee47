//! The retry policy of one request, apart from the HTTP that feeds it (in
//! the manner of cargo's `util/network/retry.rs`): the transport sends one
//! attempt and says how it failed; `Retry` charges the failure to the
//! request's budgets and decides what comes next: wait and repeat, renew the
//! token and repeat, or give up with the error to report. 429s wait for
//! `Retry-After` and draw on a cap of total waiting; 5xx and network failures
//! back off exponentially with full jitter and draw on the attempts;
//! timeouts also draw on a budget of time spent timing out. Pure: no clock,
//! no I/O, randomness passed in, so every decision is unit-tested here.

use std::time::Duration;

use rand::Rng;

use super::auth::tokens::Renewal;
use super::error::ApiError;

/// The longest exponential back-off step.
const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// Token refreshes one request may trigger (each for a newer token), so a
/// server that refuses every token cannot loop us.
const MAX_REFRESHES: u32 = 3;
/// Upper bound of the jitter added to a 429's wait, so that callers told
/// the same `Retry-After` do not all come back in the same instant.
const RATE_LIMIT_JITTER_MS: u64 = 250;

/// The limits one request retries within (from `TransportConfig`).
#[derive(Debug, Clone, Copy)]
pub(super) struct RetryPolicy {
    /// First back-off step for 5xx and network errors.
    pub retry_base: Duration,
    /// Attempts that failed on 5xx, network errors or timeouts, all told.
    pub max_attempts: u32,
    /// Cap on the total time one request may spend waiting on 429s.
    pub max_rate_limit_wait: Duration,
    /// Time one request may spend on attempts that timed out, all told.
    pub timeout_budget: Duration,
}

/// How one attempt failed, as the transport classified it.
#[derive(Debug)]
pub(super) enum AttemptFailure {
    /// A 429, with the seconds the server asked to wait (its header first,
    /// then its body) if it said.
    RateLimited { retry_after: Option<u64> },
    /// 5xx, whose body is quoted by its first line.
    Server {
        status: u16,
        first_line: String,
        retry_after: Option<u64>,
    },
    /// A dropped or refused connection; the message to report.
    Network(String),
    /// A connect, read or whole-attempt timeout; the message to report.
    TimedOut(String),
    /// An answer that repeating will not change, save a refused token.
    Rejected(ApiError),
}

/// What to do after a failed attempt.
#[derive(Debug)]
pub(super) enum Decision {
    /// Wait `wait`, then repeat the request. `note` says why, for the log.
    Wait { wait: Duration, note: String },
    /// The token was refused: renew it, then ask `after_renewal`.
    Renew(ApiError),
    /// Repeat at once (with a renewed token). `note` says why.
    Repeat { note: String },
    /// Stop, and report this error.
    GiveUp(ApiError),
}

/// What one request has used of its budgets.
pub(super) struct Retry<'a> {
    policy: RetryPolicy,
    route: &'a str,
    attempt: u32,
    error_attempts: u32,
    rate_limit_waited: Duration,
    timed_out_for: Duration,
    refreshes: u32,
}

impl<'a> Retry<'a> {
    pub fn new(policy: RetryPolicy, route: &'a str) -> Self {
        Self {
            policy,
            route,
            attempt: 0,
            error_attempts: 0,
            rate_limit_waited: Duration::ZERO,
            timed_out_for: Duration::ZERO,
            refreshes: 0,
        }
    }

    /// Counts the attempt about to be sent; its number, from 1.
    pub fn next_attempt(&mut self) -> u32 {
        self.attempt += 1;
        self.attempt
    }

    /// Charges the failed attempt (which took `elapsed`) to its budget and
    /// decides what comes next.
    pub fn decide(
        &mut self,
        failure: AttemptFailure,
        elapsed: Duration,
        rng: &mut impl Rng,
    ) -> Decision {
        match failure {
            AttemptFailure::Rejected(err) if self.may_renew(&err) => Decision::Renew(err),
            AttemptFailure::Rejected(err) => Decision::GiveUp(err),
            AttemptFailure::RateLimited { retry_after } => self.rate_limited(retry_after, rng),
            AttemptFailure::Server {
                status,
                first_line,
                retry_after,
            } => {
                let backoff = self.backoff(rng);
                let wait = retry_after.map_or(backoff, |s| backoff.max(Duration::from_secs(s)));
                self.charge_error(wait, format!("HTTP {status}: {first_line}"), None)
            }
            AttemptFailure::Network(note) => {
                let wait = self.backoff(rng);
                self.charge_error(wait, note, None)
            }
            AttemptFailure::TimedOut(note) => {
                let wait = self.backoff(rng);
                self.charge_error(wait, note, Some(elapsed))
            }
        }
    }

    /// After `Decision::Renew(err)`: repeat unless there was nothing to
    /// renew the token with. Only this request's own refreshes count: a
    /// token renewed by another caller is simply used.
    pub fn after_renewal(&mut self, err: ApiError, renewal: Renewal) -> Decision {
        match renewal {
            Renewal::Impossible => Decision::GiveUp(err),
            Renewal::Refreshed => {
                self.refreshes += 1;
                Decision::Repeat {
                    note: err.to_string(),
                }
            }
            Renewal::ByAnother => Decision::Repeat {
                note: err.to_string(),
            },
        }
    }

    fn may_renew(&self, err: &ApiError) -> bool {
        let refused = matches!(
            err,
            ApiError::ExpiredToken { .. } | ApiError::InvalidToken { .. }
        );
        refused && self.refreshes < MAX_REFRESHES
    }

    /// A 429 waits what the server asked (at least a second), plus jitter;
    /// it uses no attempt, only the cap on total waiting.
    fn rate_limited(&mut self, retry_after: Option<u64>, rng: &mut impl Rng) -> Decision {
        let seconds = retry_after.unwrap_or(1).max(1);
        let jitter = Duration::from_millis(rng.gen_range(0..=RATE_LIMIT_JITTER_MS));
        let wait = Duration::from_secs(seconds) + jitter;
        let note = format!("HTTP 429 (retry after {seconds} s)");
        self.rate_limit_waited += wait;
        if self.rate_limit_waited > self.policy.max_rate_limit_wait {
            return Decision::GiveUp(ApiError::Exhausted {
                route: self.route.into(),
                attempts: self.attempt,
                last: format!(
                    "{note}; rate limited for over {} s in total",
                    self.policy.max_rate_limit_wait.as_secs()
                ),
            });
        }
        Decision::Wait { wait, note }
    }

    /// A 5xx, network failure or timeout uses an attempt; a timeout also
    /// uses the time it took (`timed_out`) from the timeout budget.
    fn charge_error(
        &mut self,
        wait: Duration,
        note: String,
        timed_out: Option<Duration>,
    ) -> Decision {
        self.error_attempts += 1;
        if let Some(elapsed) = timed_out {
            self.timed_out_for += elapsed;
            if self.timed_out_for >= self.policy.timeout_budget {
                return Decision::GiveUp(ApiError::TimedOut {
                    route: self.route.into(),
                    attempts: self.attempt,
                    last: note,
                });
            }
        }
        if self.error_attempts >= self.policy.max_attempts {
            return Decision::GiveUp(ApiError::Exhausted {
                route: self.route.into(),
                attempts: self.attempt,
                last: note,
            });
        }
        Decision::Wait { wait, note }
    }

    /// Full jitter: a random wait in `[0, min(cap, base * 2^n)]`, `n` the
    /// attempts already failed.
    fn backoff(&self, rng: &mut impl Rng) -> Duration {
        let ceiling = self
            .policy
            .retry_base
            .saturating_mul(1u32 << self.error_attempts.min(16))
            .min(BACKOFF_CAP);
        let millis = ceiling.as_millis() as u64;
        Duration::from_millis(rng.gen_range(0..=millis))
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::mock::StepRng;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    const ROUTE: &str = "team/get_info";

    fn policy() -> RetryPolicy {
        RetryPolicy {
            retry_base: Duration::from_secs(1),
            max_attempts: 8,
            max_rate_limit_wait: Duration::from_secs(600),
            timeout_budget: Duration::from_secs(180),
        }
    }

    /// Always draws 0: the shortest wait in every range.
    fn low() -> StepRng {
        StepRng::new(0, 0)
    }

    fn server_error() -> AttemptFailure {
        AttemptFailure::Server {
            status: 503,
            first_line: "<html>".into(),
            retry_after: None,
        }
    }

    fn expired() -> AttemptFailure {
        AttemptFailure::Rejected(ApiError::ExpiredToken {
            route: ROUTE.into(),
        })
    }

    fn wait_of(decision: Decision) -> (Duration, String) {
        match decision {
            Decision::Wait { wait, note } => (wait, note),
            other => panic!("expected a wait, got {other:?}"),
        }
    }

    fn error_of(decision: Decision) -> ApiError {
        match decision {
            Decision::GiveUp(err) => err,
            other => panic!("expected to give up, got {other:?}"),
        }
    }

    #[test]
    fn server_errors_wait_and_give_up_on_the_eighth_naming_status_and_body() {
        let mut retry = Retry::new(policy(), ROUTE);
        for attempt in 1..8 {
            assert_eq!(retry.next_attempt(), attempt);
            let (_, note) = wait_of(retry.decide(server_error(), Duration::ZERO, &mut low()));
            assert_eq!(note, "HTTP 503: <html>");
        }
        retry.next_attempt();
        let err = error_of(retry.decide(server_error(), Duration::ZERO, &mut low()));
        assert_eq!(
            err.to_string(),
            "team/get_info: gave up after 8 attempts; last: HTTP 503: <html>"
        );
    }

    #[test]
    fn backoff_doubles_from_the_base_with_full_jitter_up_to_the_cap() {
        let mut rng = StdRng::seed_from_u64(7);
        let policy = RetryPolicy {
            max_attempts: 100,
            ..policy()
        };
        let mut retry = Retry::new(policy, ROUTE);
        for failed in 0..10u32 {
            let ceiling = Duration::from_secs(1 << failed).min(BACKOFF_CAP);
            let (wait, _) = wait_of(retry.decide(
                AttemptFailure::Network("network error: reset".into()),
                Duration::ZERO,
                &mut rng,
            ));
            assert!(wait <= ceiling, "{wait:?} > {ceiling:?} after {failed}");
        }
        let mut fresh = Retry::new(policy, ROUTE);
        let (wait, _) = wait_of(fresh.decide(server_error(), Duration::ZERO, &mut low()));
        assert_eq!(wait, Duration::ZERO, "full jitter reaches zero");
    }

    #[test]
    fn a_server_error_waits_at_least_its_retry_after() {
        let mut retry = Retry::new(policy(), ROUTE);
        let failure = AttemptFailure::Server {
            status: 503,
            first_line: "busy".into(),
            retry_after: Some(30),
        };
        let (wait, _) = wait_of(retry.decide(failure, Duration::ZERO, &mut low()));
        assert_eq!(wait, Duration::from_secs(30));
    }

    #[test]
    fn rate_limits_wait_retry_after_plus_jitter_and_use_no_attempt() {
        let mut rng = StdRng::seed_from_u64(1);
        let policy = RetryPolicy {
            max_attempts: 1,
            ..policy()
        };
        let mut retry = Retry::new(policy, ROUTE);
        for _ in 0..20 {
            let failure = AttemptFailure::RateLimited {
                retry_after: Some(15),
            };
            let (wait, note) = wait_of(retry.decide(failure, Duration::ZERO, &mut rng));
            assert!(wait >= Duration::from_secs(15));
            assert!(wait <= Duration::from_millis(15_250));
            assert_eq!(note, "HTTP 429 (retry after 15 s)");
        }
        // The one attempt the policy allows is still there.
        let err = error_of(retry.decide(server_error(), Duration::ZERO, &mut low()));
        assert!(matches!(err, ApiError::Exhausted { .. }));
    }

    #[test]
    fn a_rate_limit_without_retry_after_waits_one_second() {
        let mut retry = Retry::new(policy(), ROUTE);
        for retry_after in [None, Some(0)] {
            let failure = AttemptFailure::RateLimited { retry_after };
            let (wait, note) = wait_of(retry.decide(failure, Duration::ZERO, &mut low()));
            assert_eq!(wait, Duration::from_secs(1));
            assert_eq!(note, "HTTP 429 (retry after 1 s)");
        }
    }

    #[test]
    fn rate_limit_waits_past_the_cap_give_up() {
        let policy = RetryPolicy {
            max_rate_limit_wait: Duration::from_secs(20),
            ..policy()
        };
        let mut retry = Retry::new(policy, ROUTE);
        let failure = || AttemptFailure::RateLimited {
            retry_after: Some(10),
        };
        retry.next_attempt();
        wait_of(retry.decide(failure(), Duration::ZERO, &mut low()));
        retry.next_attempt();
        // 20 s in total is not over the cap.
        wait_of(retry.decide(failure(), Duration::ZERO, &mut low()));
        retry.next_attempt();
        let err = error_of(retry.decide(failure(), Duration::ZERO, &mut low()));
        assert_eq!(
            err.to_string(),
            "team/get_info: gave up after 3 attempts; last: HTTP 429 (retry after 10 s); \
             rate limited for over 20 s in total"
        );
    }

    #[test]
    fn timeouts_give_up_when_their_time_budget_is_spent() {
        let mut retry = Retry::new(policy(), ROUTE);
        let timed_out = || AttemptFailure::TimedOut("timed out after 60 s waiting".into());
        retry.next_attempt();
        wait_of(retry.decide(timed_out(), Duration::from_secs(90), &mut low()));
        // Other failures spend no time from the budget.
        retry.next_attempt();
        wait_of(retry.decide(server_error(), Duration::from_secs(500), &mut low()));
        retry.next_attempt();
        let err = error_of(retry.decide(timed_out(), Duration::from_secs(90), &mut low()));
        assert!(matches!(err, ApiError::TimedOut { attempts: 3, .. }));
        assert_eq!(
            err.to_string(),
            "timed out after 60 s waiting (3 attempts); giving up"
        );
    }

    #[test]
    fn timeouts_also_use_attempts() {
        let policy = RetryPolicy {
            max_attempts: 2,
            ..policy()
        };
        let mut retry = Retry::new(policy, ROUTE);
        let timed_out = || AttemptFailure::TimedOut("timed out".into());
        retry.next_attempt();
        wait_of(retry.decide(timed_out(), Duration::from_secs(1), &mut low()));
        retry.next_attempt();
        let err = error_of(retry.decide(timed_out(), Duration::from_secs(1), &mut low()));
        assert!(matches!(err, ApiError::Exhausted { attempts: 2, .. }));
    }

    #[test]
    fn other_rejections_give_up_at_once() {
        let mut retry = Retry::new(policy(), ROUTE);
        let failure = AttemptFailure::Rejected(ApiError::BadRequest {
            route: ROUTE.into(),
            text: "bad".into(),
        });
        let err = error_of(retry.decide(failure, Duration::ZERO, &mut low()));
        assert!(matches!(err, ApiError::BadRequest { .. }));
    }

    #[test]
    fn a_refused_token_is_renewed_at_most_three_times_by_this_request() {
        let mut retry = Retry::new(policy(), ROUTE);
        for _ in 0..MAX_REFRESHES {
            let Decision::Renew(err) = retry.decide(expired(), Duration::ZERO, &mut low()) else {
                panic!("expected a renewal");
            };
            let decision = retry.after_renewal(err, Renewal::Refreshed);
            assert!(matches!(decision, Decision::Repeat { ref note } if note.contains("expired")));
        }
        let err = error_of(retry.decide(expired(), Duration::ZERO, &mut low()));
        assert!(matches!(err, ApiError::ExpiredToken { .. }));
    }

    #[test]
    fn a_token_renewed_by_another_caller_does_not_count() {
        let mut retry = Retry::new(policy(), ROUTE);
        for _ in 0..10 {
            let invalid = AttemptFailure::Rejected(ApiError::InvalidToken {
                route: ROUTE.into(),
            });
            let Decision::Renew(err) = retry.decide(invalid, Duration::ZERO, &mut low()) else {
                panic!("expected a renewal");
            };
            let decision = retry.after_renewal(err, Renewal::ByAnother);
            assert!(matches!(decision, Decision::Repeat { .. }));
        }
    }

    #[test]
    fn a_fixed_token_that_is_refused_gives_up() {
        let mut retry = Retry::new(policy(), ROUTE);
        let Decision::Renew(err) = retry.decide(expired(), Duration::ZERO, &mut low()) else {
            panic!("expected a renewal");
        };
        let err = error_of(retry.after_renewal(err, Renewal::Impossible));
        assert!(matches!(err, ApiError::ExpiredToken { .. }));
    }
}
