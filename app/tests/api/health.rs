use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, backend, spawn_app};

#[tokio::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    let resp = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn readyz_checks_every_part() {
    let app = spawn_app().await;
    let resp = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    assert_eq!(body["storage"], "ok");
    let cache = if backend() == Backend::Postgres {
        "ok"
    } else {
        "not configured"
    };
    assert_eq!(body["cache"], cache);
    assert_eq!(body["ready"], true);
}

#[tokio::test]
async fn request_ids_are_made_up_or_echoed() {
    let app = spawn_app().await;
    let resp = app.client.get(app.url("/healthz")).send().await.unwrap();
    let made_up = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(made_up.len(), 36, "a UUID: {made_up}");

    let resp = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "abc-123");
}

#[tokio::test]
async fn unknown_paths_are_json_404s() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(app.url("/api/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "no such endpoint");
    assert_eq!(body["field"], "path");
}

/// "A 201 means saved" rests on each engine committing synchronously. The run on
/// each backend checks that backend's settings (the match has no arm that skips), read
/// through a pool opened the way the application opens its own.
#[tokio::test]
async fn commits_are_synchronous_on_either_backend() {
    let app = spawn_app().await;
    match backend() {
        Backend::Sqlite => {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&app.db.write)
                .await
                .unwrap();
            assert_eq!(mode, "wal");
            // 2 = FULL: every commit waits for the WAL to reach the disk.
            let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&app.db.write)
                .await
                .unwrap();
            assert_eq!(synchronous, 2);
        }
        Backend::Postgres => {
            // `on`: a commit returns once its WAL is flushed; `off` or `local` could
            // acknowledge a save that a crash then loses. (`fsync` is the server's, and
            // the harness's throwaway cluster turns it off, so it is not checked here.)
            let value: String = sqlx::query_scalar("SHOW synchronous_commit")
                .fetch_one(&app.db.write)
                .await
                .unwrap();
            assert_eq!(value, "on");
        }
    }
}
