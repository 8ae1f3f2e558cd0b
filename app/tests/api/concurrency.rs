//! The reference spike: 50 users each clicking "save 10 times" at once.

use futures::future::join_all;
use reqwest::StatusCode;

use crate::helpers::{resume_form, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_users_saving_ten_times_at_once() {
    let app = spawn_app().await;
    let tokens = join_all((0..50).map(|i| {
        let app = &app;
        async move { app.user(&format!("user{i:02}")).await }
    }))
    .await;

    let app_ref = &app;
    let saves = tokens.iter().flat_map(|token| {
        (0..10).map(move |_| async move {
            app_ref
                .post_resume(Some(token), resume_form())
                .await
                .status()
        })
    });
    let statuses = join_all(saves).await;

    let failures: Vec<_> = statuses
        .iter()
        .filter(|s| **s != StatusCode::CREATED)
        .collect();
    assert!(
        failures.is_empty(),
        "{} saves failed: {failures:?}",
        failures.len()
    );
    assert_eq!(app.count("resumes").await, 500);
    assert_eq!(app.count("resume_images").await, 1000);
    assert_eq!(app.count_objects().await, 1000);

    // Every resume is listed exactly once across the pages.
    let mut seen = std::collections::HashSet::new();
    let mut cursor = String::new();
    loop {
        let page: serde_json::Value = app
            .client
            .get(app.url(&format!("/api/resumes?limit=100&cursor={cursor}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for item in page["items"].as_array().unwrap() {
            assert!(seen.insert(item["id"].as_str().unwrap().to_owned()));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 500);
}
