//! Where password hashes run: threads of their own, one per core, behind a bounded
//! queue.
//!
//! Each Argon2 run takes a core and 19 MiB for its whole length. On tokio's blocking
//! pool, a burst of sign-ups (a load test makes hundreds at once) spread over its many
//! threads left hundreds of MiB resident in the allocator's per-thread arenas and
//! starved the other requests of CPU; here hashes queue and memory stays bounded.
//!
//! The queue is bounded too, since anyone can ask for a hash (a login costs one even
//! for an unknown user): when it is full the request is refused at once (503 with
//! `Retry-After`) rather than waiting behind work that would outlast it. And a job
//! whose request is gone (the client gave up, the deadline passed) is dropped when its
//! turn comes instead of being hashed for nobody: otherwise a hundred abandoned logins
//! keep the cores busy for seconds after their clients have left. A hash already running cannot
//! be stopped, so a cancelled request costs at most the hash it had started.
//!
//! What the bound counts is requests still waiting for a hash (a permit each, given
//! back the moment the request is dropped), not entries in the channel: an abandoned
//! job stays in the channel until a thread is free to skip it, and counting it would
//! refuse the next real login for as long as the threads are busy with hashes started
//! before the abandonment. The channel itself is bounded as well, a few times wider,
//! so even skipped jobs cannot pile up without limit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, LazyLock, Mutex};

use tokio::sync::Semaphore;

/// Jobs that may wait per hashing thread. About 50 ms a hash (optimised) makes a full
/// queue at most a couple of seconds' work, and room enough for the reference spike of
/// 50 users signing up at once.
pub const QUEUE_PER_THREAD: usize = 32;
/// The smallest queue, whatever the number of cores.
pub const MIN_QUEUE: usize = 64;
/// What a client refused because the queue is full is told to wait.
pub const RETRY_AFTER_SECS: u64 = 2;
/// Channel entries (waiting or abandoned jobs) per permitted request.
const CHANNEL_PER_PERMIT: usize = 4;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HashingError {
    #[error("the password hashing queue is full")]
    Busy,
    #[error("the password hashing threads have stopped")]
    Stopped,
}

pub struct HashingPool {
    /// One per request waiting for its hash or being hashed.
    permits: Semaphore,
    jobs: SyncSender<Job>,
    skipped: Arc<AtomicU64>,
}

impl HashingPool {
    /// `threads` hashing threads, and at most `queue` requests waiting or hashed at once.
    pub fn start(threads: usize, queue: usize) -> Self {
        let (jobs, rx) = sync_channel::<Job>(queue * CHANNEL_PER_PERMIT);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || work(&rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        HashingPool {
            permits: Semaphore::new(queue),
            jobs,
            skipped: Arc::default(),
        }
    }

    /// Runs `f` on a hashing thread, unless this future is dropped before its turn.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashingError> {
        // Held until this future ends: completed, or dropped with its request.
        let _permit = self.permits.try_acquire().map_err(|_| HashingError::Busy)?;
        let (done, result) = tokio::sync::oneshot::channel();
        let skipped = self.skipped.clone();
        let job: Job = Box::new(move || {
            if done.is_closed() {
                skipped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let _ = done.send(f());
        });
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => HashingError::Busy,
            TrySendError::Disconnected(_) => HashingError::Stopped,
        })?;
        result.await.map_err(|_| HashingError::Stopped)
    }

    /// Jobs dropped because nobody waited for them any more.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }
}

fn work(rx: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job, never while hashing.
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// The process's pool: cores are per process, so is the hashing.
pub fn pool() -> &'static HashingPool {
    static POOL: LazyLock<HashingPool> = LazyLock::new(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        HashingPool::start(threads, (threads * QUEUE_PER_THREAD).max(MIN_QUEUE))
    });
    &POOL
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    use futures::FutureExt;

    use super::*;

    /// A pool of one thread, held busy until the returned sender is dropped.
    async fn blocked_pool(queue: usize) -> (Arc<HashingPool>, std::sync::mpsc::Sender<()>) {
        let pool = Arc::new(HashingPool::start(1, queue));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel();
        let blocker = pool.clone();
        tokio::spawn(async move {
            blocker
                .run(move || {
                    let _ = started.send(());
                    let _ = wait.recv();
                })
                .await
        });
        running.await.unwrap();
        (pool, release)
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        // The running blocker holds one of the three permits.
        let (pool, release) = blocked_pool(3).await;
        // Polled once, each job is queued and waits for its result.
        let mut first = Box::pin(pool.run(|| 1));
        let mut second = Box::pin(pool.run(|| 2));
        assert!((&mut first).now_or_never().is_none());
        assert!((&mut second).now_or_never().is_none());
        assert_eq!(pool.run(|| 3).now_or_never(), Some(Err(HashingError::Busy)));
        drop(release);
        assert_eq!(first.await, Ok(1));
        assert_eq!(second.await, Ok(2));
    }

    #[tokio::test]
    async fn a_job_whose_caller_left_is_skipped_and_frees_its_place_at_once() {
        let (pool, release) = blocked_pool(2).await;
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let mut abandoned = Box::pin(pool.run(move || flag.store(true, Ordering::SeqCst)));
        assert!((&mut abandoned).now_or_never().is_none());
        assert_eq!(pool.run(|| 0).now_or_never(), Some(Err(HashingError::Busy)));
        drop(abandoned);
        // Its place is free while the thread is still busy; its job is still queued.
        let mut later = Box::pin(pool.run(|| 7));
        assert!((&mut later).now_or_never().is_none());
        drop(release);
        let later = tokio::time::timeout(Duration::from_secs(5), later).await;
        assert_eq!(later.unwrap(), Ok(7));
        assert!(!ran.load(Ordering::SeqCst), "the abandoned job ran");
        assert_eq!(pool.skipped(), 1);
    }
}
