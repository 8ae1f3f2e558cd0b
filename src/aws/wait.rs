//! The one polling primitive: probe, back off with jitter, give up at a deadline.
//!
//! The SDK's own waiters start at fixed delays (15 s for a load balancer) and cannot report
//! what they see, so modu polls through this instead: the first probe is immediate, the
//! delay doubles up to a cap, and the clock is injected so tests never sleep.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::stop::Stop;

/// Time as the poller sees it.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The real clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// How a poll goes on.
#[derive(Debug, Clone)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    /// Give up after this long.
    pub timeout: Duration,
    /// A stop asked for ends the wait at once.
    pub stop: Stop,
}

impl Backoff {
    pub fn with_timeout(timeout: Duration) -> Self {
        Backoff {
            first: Duration::from_millis(250),
            max: Duration::from_secs(15),
            timeout,
            stop: Stop::default(),
        }
    }

    /// The same, ended by `stop`.
    pub fn stopping_on(self, stop: Stop) -> Self {
        Backoff { stop, ..self }
    }

    /// The delay before attempt `n` (0-based), before jitter.
    fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(16));
        self.first.saturating_mul(factor).min(self.max)
    }
}

/// What one probe saw.
#[derive(Debug)]
pub enum Poll<T> {
    Ready(T),
    /// Not yet; the text says what it is doing (shown in progress and in a timeout error).
    Pending(String),
}

/// The time left for the resource being converged: `--timeout` bounds a resource's whole
/// convergence (its create, every wait after it, a rollout), not each wait on its own.
#[derive(Debug, Clone, Copy)]
struct Budget {
    deadline: Instant,
    total: Duration,
}

tokio::task_local! {
    static BUDGET: Budget;
}

/// Runs `work` (one resource's convergence) with `total` to spend on all its waits, from
/// now on `clock`.
pub async fn within_budget<F: Future>(
    clock: &Arc<dyn Clock>,
    total: Duration,
    work: F,
) -> F::Output {
    let budget = Budget {
        deadline: clock.now() + total,
        total,
    };
    BUDGET.scope(budget, work).await
}

/// Probes until it answers `Ready`, fails, or `backoff.timeout` passes (or the budget of
/// the resource being converged runs out, see [`within_budget`]).
pub async fn until<T, F, Fut>(
    clock: &Arc<dyn Clock>,
    what: &str,
    backoff: &Backoff,
    mut on_pending: impl FnMut(&str),
    mut probe: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
{
    let started = clock.now();
    // Whichever ends first: this wait's own limit, or what is left of the resource's budget.
    let (limit, reported) = match BUDGET.try_with(|b| *b) {
        Ok(budget) if budget.deadline.saturating_duration_since(started) < backoff.timeout => (
            budget.deadline.saturating_duration_since(started),
            budget.total,
        ),
        _ => (backoff.timeout, backoff.timeout),
    };
    let mut attempt = 0;
    loop {
        let state = match probe().await? {
            Poll::Ready(value) => return Ok(value),
            Poll::Pending(state) => state,
        };
        on_pending(&state);
        let elapsed = clock.now().saturating_duration_since(started);
        if elapsed >= limit {
            return Err(Error::Timeout {
                what: what.to_string(),
                after: reported,
                last_state: state,
            });
        }
        let delay = jitter(backoff.delay(attempt)).min(limit - elapsed);
        tokio::select! {
            () = clock.sleep(delay) => {}
            () = backoff.stop.wait() => {
                return Err(Error::Interrupted {
                    what: format!("waiting for {what} (last seen: {state})"),
                });
            }
        }
        attempt += 1;
    }
}

/// Spreads retries of many concurrent pollers: a delay between 80% and 120% of `delay`.
fn jitter(delay: Duration) -> Duration {
    let factor: f64 = 0.8 + rand::random::<f64>() * 0.4;
    delay.mul_f64(factor)
}

#[cfg(test)]
pub mod testing {
    //! A clock that advances only when slept on.
    use super::*;
    use std::sync::Mutex;

    #[derive(Debug)]
    pub struct FakeClock {
        start: Instant,
        pub elapsed: Mutex<Duration>,
        pub sleeps: Mutex<Vec<Duration>>,
    }

    impl FakeClock {
        pub fn new() -> Arc<Self> {
            Arc::new(FakeClock {
                start: Instant::now(),
                elapsed: Mutex::new(Duration::ZERO),
                sleeps: Mutex::new(Vec::new()),
            })
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Instant {
            self.start + *self.elapsed.lock().unwrap()
        }
        fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
            *self.elapsed.lock().unwrap() += duration;
            self.sleeps.lock().unwrap().push(duration);
            Box::pin(std::future::ready(()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::FakeClock;
    use super::*;

    #[tokio::test]
    async fn ready_on_first_probe_never_sleeps() {
        let fake = FakeClock::new();
        let clock: Arc<dyn Clock> = fake.clone();
        let got = until(
            &clock,
            "x",
            &Backoff::with_timeout(Duration::from_secs(5)),
            |_| {},
            || async { Ok(Poll::Ready(7)) },
        )
        .await
        .unwrap();
        assert_eq!(got, 7);
        assert!(fake.sleeps.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn waits_of_one_resource_share_its_budget() {
        let fake = FakeClock::new();
        let clock: Arc<dyn Clock> = fake.clone();
        let backoff = Backoff {
            first: Duration::from_secs(10),
            max: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            stop: Stop::default(),
        };
        let busy = || async { Ok::<_, Error>(Poll::<()>::Pending("busy".into())) };
        let err = within_budget(&clock, Duration::from_secs(100), async {
            // The first wait ends at its own limit, 60 s into the budget...
            let first = until(&clock, "first", &backoff, |_| {}, busy).await;
            assert!(matches!(first, Err(Error::Timeout { after, .. }) if after.as_secs() == 60));
            // ...so the second has 40 s left, not 60, and says the budget ran out.
            until(&clock, "second", &backoff, |_| {}, busy).await
        })
        .await
        .unwrap_err();
        let spent: Duration = fake.sleeps.lock().unwrap().iter().sum();
        assert_eq!(spent, Duration::from_secs(100));
        assert!(
            matches!(&err, Error::Timeout { what, after, .. } if what == "second" && after.as_secs() == 100),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_stop_ends_a_wait_at_once() {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let stop = Stop::default();
        let backoff = Backoff::with_timeout(Duration::from_secs(3600)).stopping_on(stop.clone());
        let started = Instant::now();
        let busy = || async { Ok::<_, Error>(Poll::<()>::Pending("deploying".into())) };
        let (result, ()) = tokio::join!(
            until(&clock, "the distribution", &backoff, |_| {}, busy),
            async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                stop.request(2);
            }
        );
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(
            matches!(&result, Err(Error::Interrupted { what }) if what.contains("deploying")),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn backs_off_exponentially_up_to_the_cap() {
        let fake = FakeClock::new();
        let clock: Arc<dyn Clock> = fake.clone();
        let mut left = 6;
        let backoff = Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(4),
            timeout: Duration::from_secs(600),
            stop: Stop::default(),
        };
        until(
            &clock,
            "x",
            &backoff,
            |_| {},
            || {
                left -= 1;
                let done = left == 0;
                async move {
                    Ok(if done {
                        Poll::Ready(())
                    } else {
                        Poll::Pending("busy".into())
                    })
                }
            },
        )
        .await
        .unwrap();
        let sleeps = fake.sleeps.lock().unwrap().clone();
        let nominal = [1.0, 2.0, 4.0, 4.0, 4.0];
        assert_eq!(sleeps.len(), nominal.len());
        for (slept, want) in sleeps.iter().zip(nominal) {
            let s = slept.as_secs_f64();
            assert!(
                s >= want * 0.8 - 1e-9 && s <= want * 1.2 + 1e-9,
                "{s} vs {want}"
            );
        }
    }

    #[tokio::test]
    async fn times_out_with_the_last_state() {
        let fake = FakeClock::new();
        let clock: Arc<dyn Clock> = fake.clone();
        let err = until(
            &clock,
            "load balancer web-lb",
            &Backoff::with_timeout(Duration::from_secs(30)),
            |_| {},
            || async { Ok(Poll::<()>::Pending("provisioning".into())) },
        )
        .await
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("30s"), "{text}");
        assert!(text.contains("load balancer web-lb"), "{text}");
        assert!(text.contains("provisioning"), "{text}");
        assert!(*fake.elapsed.lock().unwrap() <= Duration::from_secs(30));
    }
}
