//! Retry timing shared by the producer's network calls: exponential backoff with full jitter,
//! bounded by a deadline (so a tick always ends, and what is still undelivered then is
//! dead-lettered rather than retried forever).

use std::time::{Duration, Instant};

use rand::Rng;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// How long one operation may keep retrying.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            deadline: Duration::from_secs(30),
        }
    }
}

/// One operation's retry state.
pub struct Backoff {
    policy: RetryPolicy,
    started: Instant,
    attempt: u32,
}

impl Backoff {
    pub fn new(policy: RetryPolicy) -> Backoff {
        Backoff {
            policy,
            started: Instant::now(),
            attempt: 0,
        }
    }

    /// The delay before the next attempt, or `None` when the deadline would pass.
    pub fn next_delay(&mut self) -> Option<Duration> {
        let cap = self
            .policy
            .base_delay
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.policy.max_delay);
        self.attempt += 1;
        // Full jitter: spreads retries of many producers hitting the same throttled shard.
        let delay = cap.mul_f64(rand::rng().random_range(0.0..=1.0));
        (self.started.elapsed() + delay <= self.policy.deadline).then_some(delay)
    }

    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_within_the_cap_and_stop_at_the_deadline() {
        let mut b = Backoff::new(RetryPolicy {
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            deadline: Duration::from_secs(3600),
        });
        for _ in 0..20 {
            assert!(b.next_delay().unwrap() <= Duration::from_millis(40));
        }
        let mut b = Backoff::new(RetryPolicy {
            base_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(10),
            deadline: Duration::ZERO,
        });
        // A zero deadline allows no wait at all (unless the jitter drew exactly zero).
        assert!((0..10).any(|_| b.next_delay().is_none()));
    }
}
