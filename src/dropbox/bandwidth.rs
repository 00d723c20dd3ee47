//! `-bandwidth-kb`: one token bucket shared by every request of a run,
//! charged with response bytes as they arrive, so the whole run stays under
//! the limit however many requests are in flight.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

pub struct Bandwidth {
    bytes_per_second: f64,
    state: Mutex<Bucket>,
}

struct Bucket {
    /// Bytes that may be read now; negative when in debt.
    available: f64,
    refilled_at: Instant,
}

impl Bandwidth {
    /// A limit of `kb_per_second` KiB/s (at least 1).
    pub fn new(kb_per_second: u64) -> Self {
        let bytes_per_second = (kb_per_second.max(1) * 1024) as f64;
        Self {
            bytes_per_second,
            state: Mutex::new(Bucket {
                // One second's worth up front, so small calls do not wait.
                available: bytes_per_second,
                refilled_at: Instant::now(),
            }),
        }
    }

    /// Takes `bytes` from the bucket, waiting as long as the limit needs;
    /// returns the wait (which no read timeout should count).
    pub async fn consume(&self, bytes: usize) -> Duration {
        let wait = {
            let mut bucket = self.state.lock().await;
            let now = Instant::now();
            let refill =
                now.duration_since(bucket.refilled_at).as_secs_f64() * self.bytes_per_second;
            bucket.available = (bucket.available + refill).min(self.bytes_per_second);
            bucket.refilled_at = now;
            bucket.available -= bytes as f64;
            if bucket.available >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-bucket.available / self.bytes_per_second)
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn reading_past_the_burst_waits_for_the_rate() {
        let limit = Bandwidth::new(10); // 10 KiB/s, 10 KiB burst
        let start = tokio::time::Instant::now();
        limit.consume(10 * 1024).await;
        assert!(start.elapsed() < Duration::from_millis(10));
        limit.consume(20 * 1024).await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(1990) && waited <= Duration::from_millis(2100),
            "{waited:?}"
        );
    }
}
