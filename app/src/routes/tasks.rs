//! The job categories a resume can apply for.

use axum::Json;
use axum::extract::State;

use crate::domain::Task;
use crate::state::AppState;

/// The job categories a resume can apply for.
#[utoipa::path(
    get,
    path = "/api/tasks",
    operation_id = "list_tasks",
    tag = "resumes",
    responses((status = 200, description = "Every job category.", body = Vec<Task>))
)]
pub async fn list(State(state): State<AppState>) -> Json<Vec<Task>> {
    Json(state.tasks.as_ref().clone())
}
