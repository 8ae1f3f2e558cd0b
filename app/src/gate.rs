//! What answers while the service is still bringing up its parts. An instance may boot
//! before its database or cache exists (a stack creates them in parallel), so the
//! service listens at once: `/healthz` says the process is alive, `/readyz` answers 503
//! naming what each part is waiting for, every other path 503 with a JSON reason — and
//! once every part answers, the gate hands each request to the real router.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;
use tower::ServiceExt;

use crate::error::ErrorBody;
use crate::routes::{Health, Readiness};
use crate::state::AppState;

/// The parts `/readyz` reports while starting, in the order they come up.
pub const PARTS: [&str; 4] = ["config", "database", "cache", "storage"];

/// Where the service is on its way up.
#[derive(Clone)]
pub enum Phase {
    /// What each part is doing (`waiting`, `ok`, or the last error).
    Starting(Arc<BTreeMap<&'static str, String>>),
    Ready {
        state: Box<AppState>,
        router: Router,
    },
}

/// The sending side: the bring-up task reports each part and, at the end, the router.
#[derive(Clone)]
pub struct Gate {
    phase: Arc<watch::Sender<Phase>>,
}

impl Default for Gate {
    fn default() -> Self {
        let parts = PARTS.iter().map(|p| (*p, "waiting".to_owned())).collect();
        let (phase, _) = watch::channel(Phase::Starting(Arc::new(parts)));
        Gate {
            phase: Arc::new(phase),
        }
    }
}

impl Gate {
    /// Records what `part` is doing now.
    pub fn report(&self, part: &'static str, status: impl Into<String>) {
        let status = status.into();
        self.phase.send_modify(|phase| {
            if let Phase::Starting(parts) = phase {
                Arc::make_mut(parts).insert(part, status);
            }
        });
    }

    /// Opens the gate: from now on every request reaches `router`.
    pub fn open(&self, state: AppState, router: Router) {
        self.phase.send_replace(Phase::Ready {
            state: Box::new(state),
            router,
        });
    }

    /// The state, once the service is ready.
    pub async fn ready(&self) -> AppState {
        let mut phase = self.phase.subscribe();
        loop {
            if let Phase::Ready { state, .. } = &*phase.borrow_and_update() {
                return state.as_ref().clone();
            }
            if phase.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// The router that answers every request, whichever phase the service is in.
    pub fn router(&self) -> Router {
        Router::new()
            .fallback(gated)
            .with_state(self.phase.subscribe())
    }
}

async fn gated(State(phase): State<watch::Receiver<Phase>>, request: Request) -> Response {
    let current = phase.borrow().clone();
    match current {
        Phase::Ready { router, .. } => match router.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        Phase::Starting(parts) => starting(request.uri().path(), &parts),
    }
}

fn starting(path: &str, parts: &BTreeMap<&'static str, String>) -> Response {
    let status_of = |part: &str| parts.get(part).cloned().unwrap_or_default();
    match path {
        "/healthz" => axum::Json(Health { status: "ok" }).into_response(),
        "/readyz" => {
            let body = Readiness {
                ready: false,
                draining: false,
                config: Some(status_of("config")),
                database: status_of("database"),
                cache: status_of("cache"),
                storage: status_of("storage"),
            };
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
        }
        _ => {
            let waiting: Vec<&str> = PARTS
                .iter()
                .copied()
                .filter(|p| parts.get(p).is_none_or(|s| s != "ok"))
                .collect();
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(axum::http::header::RETRY_AFTER, "5")],
                axum::Json(ErrorBody::new(
                    format!("starting: waiting for {}", waiting.join(", ")),
                    "service",
                )),
            )
                .into_response()
        }
    }
}
