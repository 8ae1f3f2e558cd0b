//! Probes for the load balancer: `/healthz` says the process is alive, `/readyz`
//! that it can reach every part it needs to serve (database, cache, image storage) and
//! is not draining. Until the parts first answer, `gate` answers both.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
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
        Json(json!({
            "ready": ready,
            "draining": draining,
            "database": database,
            "cache": cache,
            "storage": storage,
        })),
    )
}
