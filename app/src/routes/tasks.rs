//! The job categories a resume can apply for.

use axum::Json;
use axum::extract::State;

use crate::domain::Task;
use crate::state::AppState;

pub async fn list(State(state): State<AppState>) -> Json<Vec<Task>> {
    Json(state.tasks.as_ref().clone())
}
