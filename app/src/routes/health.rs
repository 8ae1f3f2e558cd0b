//! Probes for the load balancer: `/healthz` says the process is alive, `/readyz`
//! that it can reach every part it needs to serve (database, cache, image storage) and
//! is not draining. Until the parts first answer, `gate` answers both, in these shapes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// The process is alive.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// Whether the service can serve, and what each part it needs says.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    /// Stopping: the load balancer should send no more requests.
    pub draining: bool,
    /// Only while starting: reading the stack's configuration (`waiting`, `ok`, or the
    /// last error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// `ok`, `unreachable`, or while starting `waiting` or the last error.
    pub database: String,
    /// As `database`, or `not configured` without Redis.
    pub cache: String,
    /// As `database`.
    pub storage: String,
}

/// Is the process alive?
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "health",
    responses((status = 200, description = "The process is alive.", body = Health))
)]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Can the service serve: does every part it needs answer, and is it not draining?
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "health",
    responses(
        (status = 200, description = "Every part answers.", body = Readiness),
        (status = 503, description = "A part is unreachable, the service is still starting, \
            or it is draining.", body = Readiness),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let database = match state.db.ping().await {
        Ok(()) => "ok",
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            "unreachable"
        }
    };
    let cache = match &state.redis {
        None => "not configured",
        Some(conn) => match redis::cmd("PING")
            .query_async::<String>(&mut conn.clone())
            .await
        {
            Ok(_) => "ok",
            Err(e) => {
                tracing::warn!(error = %e, "readiness: redis unreachable");
                "unreachable"
            }
        },
    };
    let storage = match state.images.check().await {
        Ok(()) => "ok",
        Err(e) => {
            tracing::warn!(error = %e, "readiness: image storage unreachable");
            "unreachable"
        }
    };
    let draining = state.draining.is_set();
    let ready = !draining && database == "ok" && storage == "ok" && cache != "unreachable";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            ready,
            draining,
            config: None,
            database: database.to_owned(),
            cache: cache.to_owned(),
            storage: storage.to_owned(),
        }),
    )
}
