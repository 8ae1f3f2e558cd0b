//! Failures inside: answered with a bare 500 (no detail leaks), and nothing half-saved.

use reqwest::StatusCode;

use crate::helpers::{resume_form, spawn_app};

#[tokio::test]
async fn a_failed_image_upload_saves_nothing() {
    let app = spawn_app().await;
    let token = app.user("kim").await;
    app.break_storage().await;
    let before = app.written().await;
    let resp = app.post_resume(Some(&token), resume_form()).await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(resp.bytes().await.unwrap().is_empty(), "a bare 500");
    assert_eq!(app.written().await, before);
}

#[tokio::test]
async fn a_failed_transaction_removes_the_uploaded_images() {
    let app = spawn_app().await;
    let token = app.user("kim").await;
    // The resume row can be inserted, its image rows cannot: the transaction fails
    // after the images were stored.
    sqlx::query("DROP TABLE resume_images")
        .execute(&app.db.write)
        .await
        .unwrap();
    let resumes = app.count("resumes").await;
    let resp = app.post_resume(Some(&token), resume_form()).await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(resp.bytes().await.unwrap().is_empty(), "a bare 500");
    assert_eq!(
        app.count("resumes").await,
        resumes,
        "the resume row was rolled back"
    );
    assert_eq!(
        app.count_objects().await,
        0,
        "the stored images were removed"
    );
}

#[tokio::test]
async fn readyz_reports_unreachable_storage() {
    let app = spawn_app().await;
    app.break_storage().await;
    let resp = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["storage"], "unreachable");
    assert_eq!(body["database"], "ok");
}
