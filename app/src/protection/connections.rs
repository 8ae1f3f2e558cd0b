//! The accept loop and each connection's deadlines. `axum::serve` takes no options, and
//! hyper's own `header_read_timeout` starts when it waits for a request head, which on
//! a kept-alive connection includes the idle time between requests: one value cannot be
//! both short for a client dribbling its headers and longer than the load balancer's
//! idle timeout (the balancer reuses idle connections, and one the service has just
//! closed turns the next request into a 502). So each connection tracks its own phase:
//!
//! - a request head is arriving (from connecting, or from the first byte after an idle
//!   spell): the whole head within `header_read_timeout`;
//! - idle between requests: closed after `idle_timeout`;
//! - a request is being answered: closed when neither side has moved a byte for
//!   `stall_timeout` (a client that never reads its response); handlers themselves are
//!   bounded by the request deadline, which `stall_timeout` is never below.
//!
//! At most `max_connections` are served at once: a slot is taken before `accept`, so
//! further clients wait in the kernel's listen backlog (their connect succeeds, their
//! request is answered once a slot frees) instead of being refused. Only HTTP/1.1 is
//! served: the load balancer, CloudFront and browsers all speak it to this origin, and
//! none uses cleartext HTTP/2.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::configuration::Settings;

#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub stall_timeout: Duration,
    pub max_connections: usize,
}

impl ConnectionLimits {
    pub fn from_settings(settings: &Settings) -> Self {
        let idle_timeout = Duration::from_secs(settings.idle_timeout_secs);
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(settings.header_read_timeout_secs),
            idle_timeout,
            // A handler may be silent for up to the request deadline (waiting on the
            // database, say) without the client being at fault.
            stall_timeout: idle_timeout.max(Duration::from_secs(settings.request_timeout_secs + 1)),
            max_connections: settings.max_connections as usize,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting (the
/// listener is closed), lets every open connection finish its request in flight, and
/// returns once all have closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopped) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    'accepting: loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break 'accepting,
        };
        let (tcp, peer) = loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => break accepted,
                    Err(e) => pause_after_accept_error(e).await,
                },
                () = &mut shutdown => break 'accepting,
            }
        };
        // Responses are written whole; Nagle's algorithm would only delay them.
        let _ = tcp.set_nodelay(true);
        tokio::spawn(serve_connection(
            tcp,
            peer,
            router.clone(),
            limits,
            stopped.clone(),
            slot,
        ));
    }
    drop(listener);
    stop.send_replace(true);
    // Each connection holds its slot until it closes: all slots back means all closed.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok(())
}

/// A refused handshake concerns one client only; anything else (out of file
/// descriptors, most likely) clears only when connections close, so wait a little
/// rather than spin.
async fn pause_after_accept_error(e: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if !matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        tracing::warn!(error = %e, "cannot accept a connection; retrying in 1 s");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    mut stopped: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new(limits));
    let io = TokioIo::new(Watched {
        inner: tcp,
        activity: activity.clone(),
    });
    let watched = activity.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let router = router.clone();
        let busy = Busy::begin(watched.clone());
        // What `into_make_service_with_connect_info` would give: the TCP peer, which
        // `security::client` falls back on without a load balancer in front.
        request.extensions_mut().insert(ConnectInfo(peer));
        async move {
            let response = match router.oneshot(request.map(Body::new)).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            // The request counts as busy until its response body has been written
            // (or dropped): the body owns the marker.
            Ok::<_, Infallible>(response.map(move |body| {
                Body::new(body.map_frame(move |frame| {
                    let _ = &busy;
                    frame
                }))
            }))
        }
    });
    let mut connection =
        pin!(hyper::server::conn::http1::Builder::new().serve_connection(io, service));
    let mut stopping = false;
    loop {
        let (deadline, phase) = activity.deadline();
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = stopped.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
            () = activity.changed.notified() => {}
            () = tokio::time::sleep_until(deadline) => {
                if activity.deadline().0 <= Instant::now() {
                    tracing::debug!(phase, "closing a connection past its deadline");
                    return;
                }
            }
        }
    }
}

/// Where a connection is, as far as its deadlines go.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Between requests, since the last response was written.
    Idle { since: Instant },
    /// A request head is arriving; its first byte came (or the client connected) at `since`.
    Head { since: Instant },
    /// A request is being answered; a byte last moved either way at `progress`.
    Busy { progress: Instant },
}

struct Activity {
    phase: Mutex<Phase>,
    /// Woken when the deadline moves earlier (idle → a head starts arriving).
    changed: Notify,
    limits: ConnectionLimits,
}

impl Activity {
    fn new(limits: ConnectionLimits) -> Self {
        Activity {
            phase: Mutex::new(Phase::Head {
                since: Instant::now(),
            }),
            changed: Notify::new(),
            limits,
        }
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        // The lock is only held for plain assignments, which cannot panic.
        self.phase
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn deadline(&self) -> (Instant, &'static str) {
        let limits = &self.limits;
        match *self.phase() {
            Phase::Idle { since } => (since + limits.idle_timeout, "idle"),
            Phase::Head { since } => (since + limits.header_read_timeout, "request head"),
            Phase::Busy { progress } => (progress + limits.stall_timeout, "stalled response"),
        }
    }

    fn bytes_read(&self) {
        let mut phase = self.phase();
        match *phase {
            Phase::Idle { .. } => {
                *phase = Phase::Head {
                    since: Instant::now(),
                };
                drop(phase);
                self.changed.notify_one();
            }
            Phase::Busy { .. } => {
                *phase = Phase::Busy {
                    progress: Instant::now(),
                }
            }
            Phase::Head { .. } => {}
        }
    }

    fn bytes_written(&self) {
        let mut phase = self.phase();
        if let Phase::Busy { .. } = *phase {
            *phase = Phase::Busy {
                progress: Instant::now(),
            };
        }
    }
}

/// Marks its connection busy from the moment a request head has been read until the
/// response is done with. A pipelined head that arrives while busy is then timed as
/// idle, not as a head: hyper has already buffered it, so nothing more is read.
struct Busy(Arc<Activity>);

impl Busy {
    fn begin(activity: Arc<Activity>) -> Self {
        *activity.phase() = Phase::Busy {
            progress: Instant::now(),
        };
        Busy(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.phase() = Phase::Idle {
            since: Instant::now(),
        };
    }
}

/// The client's socket, reporting every byte that moves to the connection's activity.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.bytes_written();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.bytes_written();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
