//! Time as delivery sees it: when to retry, when an endpoint has failed for too long. The
//! running service uses the system clock; tests drive a manual one through days of retries in
//! milliseconds.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use time::OffsetDateTime;
use tokio::sync::watch;

pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;
    /// Resolves once [`Clock::now`] has reached `t`.
    fn sleep_until(&self, t: OffsetDateTime) -> Sleep;
}

/// The system's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        crate::store::now()
    }

    fn sleep_until(&self, t: OffsetDateTime) -> Sleep {
        let wait = (t - self.now()).max(time::Duration::ZERO);
        let wait = std::time::Duration::try_from(wait).unwrap_or_default();
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that moves only when told to (tests).
pub struct ManualClock {
    now: Mutex<OffsetDateTime>,
    moved: watch::Sender<OffsetDateTime>,
}

impl ManualClock {
    pub fn new(start: OffsetDateTime) -> ManualClock {
        ManualClock {
            now: Mutex::new(start),
            moved: watch::Sender::new(start),
        }
    }

    /// Moves the clock forward by `d`, waking whatever sleeps until a time now passed.
    pub fn advance(&self, d: time::Duration) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now += d;
        self.moved.send_replace(*now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sleep_until(&self, t: OffsetDateTime) -> Sleep {
        let mut moved = self.moved.subscribe();
        Box::pin(async move {
            while *moved.borrow_and_update() < t {
                if moved.changed().await.is_err() {
                    // The clock is gone: nothing will ever wake this.
                    std::future::pending::<()>().await;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_wakes_sleepers_only_when_it_passes_their_time() {
        let start = crate::store::now();
        let clock = std::sync::Arc::new(ManualClock::new(start));
        let c = clock.clone();
        let sleeper =
            tokio::spawn(async move { c.sleep_until(start + time::Duration::hours(5)).await });
        clock.advance(time::Duration::hours(4));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!sleeper.is_finished());
        clock.advance(time::Duration::hours(1));
        tokio::time::timeout(std::time::Duration::from_secs(5), sleeper)
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(clock.now(), start + time::Duration::hours(5));
    }
}
