//! Failed-login limits: at most N failures per account and 3N per client
//! address in a sliding window; more attempts are refused before the password
//! is even checked. Pure (the clock comes in), so it is tested directly.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Failures per key within `window_ms`.
pub struct Limiter<K> {
    max: usize,
    window_ms: i64,
    failures: HashMap<K, VecDeque<i64>>,
}

impl<K: Eq + Hash + Clone> Limiter<K> {
    pub fn new(max: usize, window_ms: i64) -> Limiter<K> {
        Limiter {
            max,
            window_ms,
            failures: HashMap::new(),
        }
    }

    /// `Err(ms until the next attempt is allowed)` when `key` is over its limit.
    pub fn check(&mut self, key: &K, now: i64) -> Result<(), i64> {
        let Some(q) = self.failures.get_mut(key) else {
            return Ok(());
        };
        while q.front().is_some_and(|t| now - t >= self.window_ms) {
            q.pop_front();
        }
        if q.len() >= self.max {
            Err(q.front().map_or(0, |t| t + self.window_ms - now).max(1))
        } else {
            Ok(())
        }
    }

    pub fn fail(&mut self, key: &K, now: i64) {
        self.failures.entry(key.clone()).or_default().push_back(now);
        // Keep memory bounded under a spray of different keys.
        if self.failures.len() > 100_000 {
            let w = self.window_ms;
            self.failures
                .retain(|_, q| q.back().is_some_and(|t| now - t < w));
        }
    }

    pub fn clear(&mut self, key: &K) {
        self.failures.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_max_failures_until_the_window_passes() {
        let mut l = Limiter::new(3, 1000);
        for t in 0..3 {
            assert!(l.check(&"ana", t).is_ok());
            l.fail(&"ana", t);
        }
        assert_eq!(l.check(&"ana", 10), Err(990));
        assert!(l.check(&"bob", 10).is_ok());
        assert!(l.check(&"ana", 1000).is_ok(), "oldest failure aged out");
        l.clear(&"ana");
        assert!(l.check(&"ana", 1001).is_ok());
    }
}
