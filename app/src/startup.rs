//! Builds the application from its settings — database, image store, sessions and
//! cache — binds the listener (port 0 picks a free one, which the tests rely on) and
//! serves until SIGTERM, each connection bounded by `protection::connections`. On SIGTERM it first drains: `/readyz` fails while requests are
//! still served for `drain_secs` (a load balancer keeps sending until its deregistration
//! delay is over), then in-flight requests finish and it exits, so neither a scale-in
//! nor a rollout cuts a request short.
//!
//! Two ways up: [`Application::build`] brings every part up before it returns and fails
//! on the first error (tests, local runs); [`Application::start`] listens at once and
//! brings the parts up in the background, retrying with backoff, while the [`Gate`]
//! answers — the way an instance starts, possibly before its database exists.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Request, StatusCode};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::configuration::Settings;
use crate::db::{self, Db, DbError};
use crate::gate::Gate;
use crate::parameters::{ParameterClient, ParameterError, StackParameters};
use crate::protection::connections::{self, ConnectionLimits};
use crate::protection::headers::security_headers;
use crate::protection::uploads::UploadBudget;
use crate::routes;
use crate::state::{AppState, Limits};
use crate::storage::{Cache, DiskStore, ImageStore, S3Store, SessionStore, sweep_forever};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Parameters(#[from] ParameterError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("loading job categories: {0}")]
    Tasks(#[source] sqlx::Error),
    #[error("connecting to Redis at REDIS_URL: {0}")]
    Redis(#[source] redis::RedisError),
    #[error("opening the image store: {0}")]
    Storage(#[source] crate::storage::StoreError),
    #[error("creating the media directory {path}: {source}")]
    MediaDir {
        path: String,
        source: std::io::Error,
    },
    #[error("binding {address}: {source} (is another instance running? set BIND to another port)")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

impl StartError {
    /// The `/readyz` part this error keeps waiting.
    fn part(&self) -> &'static str {
        match self {
            StartError::Parameters(_) => "config",
            StartError::Db(_) | StartError::Tasks(_) => "database",
            StartError::Redis(_) => "cache",
            StartError::Storage(_) | StartError::MediaDir { .. } => "storage",
            StartError::Bind { .. } => "listener",
        }
    }
}

/// Set once SIGTERM arrived: `/readyz` fails from then on.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    connection_limits: ConnectionLimits,
    gate: Gate,
    draining: Draining,
    session_sweep: Duration,
    drain: Duration,
    parameters: watch::Receiver<Option<StackParameters>>,
}

impl Application {
    /// Brings every part up, then binds; the first failure is the answer.
    pub async fn build(mut settings: Settings) -> Result<Self, StartError> {
        let gate = Gate::default();
        let draining = Draining::default();
        let (read, parameters) = watch::channel(None);
        if let Some(path) = settings.parameters.clone() {
            let stack = ParameterClient::from_environment()
                .await
                .apply(&path, &mut settings)
                .await?;
            read.send_replace(Some(stack));
        }
        let state = build_state(&settings, &gate, draining.clone()).await?;
        gate.open(state.clone(), routes::router(state));
        Self::listening(settings, gate, draining, parameters)
    }

    /// Binds at once and brings the parts up in the background, retrying each failure
    /// with backoff until every part answers; only a port that cannot be bound fails.
    pub async fn start(settings: Settings) -> Result<Self, StartError> {
        let gate = Gate::default();
        let draining = Draining::default();
        let (read, parameters) = watch::channel(None);
        let app = Self::listening(settings.clone(), gate.clone(), draining.clone(), parameters)?;
        tokio::spawn(bring_up(settings, gate, draining, read));
        Ok(app)
    }

    fn listening(
        settings: Settings,
        gate: Gate,
        draining: Draining,
        parameters: watch::Receiver<Option<StackParameters>>,
    ) -> Result<Self, StartError> {
        let router = with_middleware(
            gate.router(),
            Duration::from_secs(settings.request_timeout_secs),
        );
        let listener = bind(settings.bind).map_err(|source| StartError::Bind {
            address: settings.bind.to_string(),
            source,
        })?;
        Ok(Application {
            listener,
            router,
            connection_limits: ConnectionLimits::from_settings(&settings),
            gate,
            draining,
            session_sweep: Duration::from_secs(settings.session_sweep_secs),
            drain: Duration::from_secs(settings.drain_secs),
            parameters,
        })
    }

    /// The stack's parameters once they have been read (`None` until then, and for good
    /// without `--parameters`): what is not a setting, such as the log group, is taken
    /// from here by whoever needs it.
    pub fn stack_parameters(&self) -> watch::Receiver<Option<StackParameters>> {
        self.parameters.clone()
    }

    pub fn address(&self) -> std::net::SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until SIGTERM or Ctrl-C.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` completes, drains for `drain_secs`, then lets in-flight
    /// requests finish.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let gate = self.gate.clone();
        let sweep = self.session_sweep;
        let sweeper = tokio::spawn(async move {
            let state = gate.ready().await;
            sweep_forever(state.db, sweep).await
        });
        let (draining, drain) = (self.draining.clone(), self.drain);
        let shutdown = async move {
            stop.await;
            draining.set();
            if !drain.is_zero() {
                tracing::info!(
                    seconds = drain.as_secs(),
                    "draining: /readyz fails, still serving"
                );
                tokio::time::sleep(drain).await;
            }
            tracing::info!("shutting down: finishing in-flight requests");
        };
        let served =
            connections::serve(self.listener, self.router, self.connection_limits, shutdown).await;
        sweeper.abort();
        served
    }
}

/// Brings the parts up until all answer: each attempt reads the configuration again
/// (a secret may have appeared meanwhile) and reports on the gate what it waits for.
/// The parameters are published as soon as they are read, before the secrets and the
/// parts: the logs of an instance whose database never answers are the ones most needed.
async fn bring_up(
    settings: Settings,
    gate: Gate,
    draining: Draining,
    read: watch::Sender<Option<StackParameters>>,
) {
    let client = match &settings.parameters {
        Some(_) => Some(ParameterClient::from_environment().await),
        None => None,
    };
    let mut delay = Duration::from_secs(1);
    loop {
        let mut attempt = settings.clone();
        let result = async {
            if let (Some(client), Some(path)) = (&client, &settings.parameters) {
                let stack = client.read(path).await?;
                read.send_replace(Some(stack.clone()));
                client.apply_read(&stack, &mut attempt).await?;
            }
            gate.report("config", "ok");
            build_state(&attempt, &gate, draining.clone()).await
        }
        .await;
        match result {
            Ok(state) => {
                tracing::info!("every part answers: ready");
                gate.open(state.clone(), routes::router(state));
                return;
            }
            Err(err) => {
                tracing::warn!(error = %err, retry_in = ?delay, "not ready yet");
                gate.report(err.part(), err.to_string());
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// glibc raises its mmap threshold each time a large block is freed, so after the first
/// password hash every later Argon2 buffer (19 MiB) is carved from the heap and stays
/// resident: 32 sign-ups left about 380 MiB behind. A fixed threshold keeps large
/// buffers in their own mappings, returned to the system when freed (55 MiB peak then).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn tune_allocator() {
    // SAFETY: mallopt only sets an allocator parameter; it takes the allocator's own lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune_allocator() {}

/// A spike opens hundreds of connections at once; with a short accept backlog the
/// kernel drops or resets the overflow before the server gets to accept them.
const ACCEPT_BACKLOG: u32 = 4096;

fn bind(address: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(ACCEPT_BACKLOG)
}

async fn build_state(
    settings: &Settings,
    gate: &Gate,
    draining: Draining,
) -> Result<AppState, StartError> {
    let db = Db::connect(&settings.database_url, settings.db_pool_size).await?;
    db.migrate().await?;
    let tasks = db::tasks::all(&db).await.map_err(StartError::Tasks)?;
    gate.report("database", "ok");

    let redis = match &settings.redis_url {
        Some(url) => {
            let client = redis::Client::open(url.as_str()).map_err(StartError::Redis)?;
            // The client's default 500 ms response timeout turns a CPU-bound spike into
            // 500s; Redis answers in microseconds, so a slow answer means a busy process,
            // and the request deadline already bounds the wait.
            let config = ConnectionManagerConfig::new()
                .set_response_timeout(Some(Duration::from_secs(5)))
                .set_connection_timeout(Some(Duration::from_secs(5)));
            Some(
                ConnectionManager::new_with_config(client, config)
                    .await
                    .map_err(StartError::Redis)?,
            )
        }
        None => None,
    };
    let (sessions, cache) = match &redis {
        Some(conn) => {
            let prefix = settings.redis_prefix.clone();
            (
                SessionStore::Redis {
                    conn: conn.clone(),
                    prefix: prefix.clone(),
                },
                Cache::Redis {
                    conn: conn.clone(),
                    prefix,
                },
            )
        }
        None => (SessionStore::Database(db.clone()), Cache::local()),
    };
    gate.report(
        "cache",
        if redis.is_some() {
            "ok"
        } else {
            "not configured"
        },
    );

    let images: Arc<dyn ImageStore> = match &settings.s3_bucket {
        Some(bucket) => Arc::new(
            S3Store::connect(bucket, &settings.s3_prefix, settings.s3_force_path_style).await,
        ),
        None => Arc::new(DiskStore::new(&settings.media_dir).map_err(|source| {
            StartError::MediaDir {
                path: settings.media_dir.display().to_string(),
                source,
            }
        })?),
    };
    images.check().await.map_err(StartError::Storage)?;
    gate.report("storage", "ok");
    tracing::info!(
        database = ?db.backend,
        sessions = sessions.describe(),
        cache = cache.describe(),
        images = %images.describe(),
        "configured"
    );

    let media_base_url = settings
        .media_base_url
        .clone()
        .unwrap_or_else(|| "/media".to_owned())
        .trim_end_matches('/')
        .to_owned();
    Ok(AppState {
        db,
        images,
        sessions,
        cache,
        redis,
        tasks: Arc::new(tasks),
        limits: Limits::from_settings(settings),
        uploads: UploadBudget::new(
            settings.upload_memory_bytes(),
            Duration::from_secs(settings.upload_wait_secs),
        ),
        media_base_url,
        draining,
    })
}

/// Request ids (taken from `x-request-id` or made up, and echoed back), one log span
/// per request carrying that id, a deadline on every request, and the security headers
/// on every answer (the gate's and the timeout's included).
fn with_middleware(router: Router, timeout: Duration) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    router
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(axum::middleware::map_response(explain_timeout))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("request", method = %req.method(), uri = %req.uri(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(axum::middleware::from_fn(security_headers))
}

/// The timeout layer answers 408 with an empty body; clients get the usual JSON reason.
async fn explain_timeout(response: axum::response::Response) -> axum::response::Response {
    use axum::response::IntoResponse;
    let empty = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_none();
    if response.status() == StatusCode::REQUEST_TIMEOUT && empty {
        return crate::error::Error::TimedOut.into_response();
    }
    response
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("stop signal received");
}
