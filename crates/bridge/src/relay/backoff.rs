//! Capped, jittered exponential backoff for reconnecting to the upstream.

use std::time::Duration;

use rand::Rng;

/// Delays between reconnect attempts: 100 ms doubling up to `cap`, each with
/// ±25 % jitter so that many daemons restarted together do not retry in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    cap: Duration,
}

impl Backoff {
    pub const INITIAL: Duration = Duration::from_millis(100);

    pub fn new(cap: Duration) -> Self {
        Self {
            next: Self::INITIAL.min(cap),
            cap,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let delay = jittered(self.next);
        self.next = (self.next * 2).min(self.cap);
        delay
    }
}

/// `base` ±25 %.
pub fn jittered(base: Duration) -> Duration {
    let factor = rand::rng().random_range(0.75..=1.25);
    base.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_stays_under_the_cap_with_jitter() {
        let cap = Duration::from_secs(2);
        let mut b = Backoff::new(cap);
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(75) && first <= Duration::from_millis(125));
        let later: Vec<_> = (0..20).map(|_| b.next_delay()).collect();
        assert!(later.iter().all(|d| *d <= cap.mul_f64(1.25)));
        assert!(later.last().copied().unwrap_or_default() >= cap.mul_f64(0.75));
    }
}
