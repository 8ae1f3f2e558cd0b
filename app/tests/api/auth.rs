use reqwest::StatusCode;
use serde_json::{Value, json};

use sqlx::AssertSqlSafe;

use crate::helpers::{PASSWORD, TestApp, resume_form, spawn_app, spawn_app_with};

#[tokio::test]
async fn signup_returns_a_token_and_a_session_cookie() {
    let app = spawn_app().await;
    let resp = app.signup("kim", PASSWORD, PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("modu_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    // Plain HTTP (a local run): no `Secure`, or the browser would drop the cookie.
    assert!(!cookie.contains("Secure"), "{cookie}");
    let body: Value = resp.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    assert_eq!(token.len(), 64, "256 bits in hex");
    assert!(cookie.contains(token));

    let me: Value = app
        .client
        .get(app.url("/api/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "kim");
}

#[tokio::test]
async fn behind_https_the_session_cookie_is_secure() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url("/api/auth/signup"))
        // What CloudFront and the load balancer add for a viewer on HTTPS.
        .header("x-forwarded-proto", "https")
        .json(&json!({"username": "lee", "password": PASSWORD, "password_confirm": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_hashes() {
    let app = spawn_app().await;
    app.user("kim").await;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'kim'")
        .fetch_one(&app.db.read)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
}

#[tokio::test]
async fn login_gives_a_new_working_token() {
    let app = spawn_app().await;
    let first = app.user("kim").await;
    let resp = app
        .client
        .post(app.url("/api/auth/login"))
        .json(&json!({ "username": "kim", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    let second = body["token"].as_str().unwrap();
    assert_ne!(first, second);
    let resp = app.post_resume(Some(second), resume_form()).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn the_session_cookie_authenticates_like_the_bearer_token() {
    let app = spawn_app().await;
    let token = app.user("kim").await;
    let resp = app
        .client
        .get(app.url("/api/auth/me"))
        .header("cookie", format!("theme=dark; modu_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_revokes_only_that_token() {
    let app = spawn_app().await;
    let a = app.user("kim").await;
    let login: Value = app
        .client
        .post(app.url("/api/auth/login"))
        .json(&json!({ "username": "kim", "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b = login["token"].as_str().unwrap();

    let resp = app
        .client
        .post(app.url("/api/auth/logout"))
        .bearer_auth(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let me = |t: String| {
        app.client
            .get(app.url("/api/auth/me"))
            .bearer_auth(t)
            .send()
    };
    assert_eq!(
        me(a.clone()).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(me(b.to_owned()).await.unwrap().status(), StatusCode::OK);
}

/// Stores `n` sessions of `username` that expired a minute ago, as a week-old login
/// would have left them.
async fn expired_sessions(app: &TestApp, username: &str, n: usize) {
    let user_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(&app.db.read)
        .await
        .unwrap();
    let past = modu_app::db::now_ms() - 60_000;
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let values: Vec<String> = chunk
            .iter()
            .map(|i| format!("('expired-{i:064}', {user_id}, {past}, {past})"))
            .collect();
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES {}",
            values.join(", ")
        )))
        .execute(&app.db.write)
        .await
        .unwrap();
    }
}

async fn expired_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE expires_at <= $1")
        .bind(modu_app::db::now_ms())
        .fetch_one(&app.db.read)
        .await
        .unwrap()
}

#[tokio::test]
async fn expired_sessions_are_swept_in_the_background_and_live_ones_kept() {
    let app = spawn_app_with(|s| s.session_sweep_secs = 1).await;
    let token = app.user("kim").await;
    expired_sessions(&app, "kim", 3).await;
    assert_eq!(expired_count(&app).await, 3);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while expired_count(&app).await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "expired sessions still there after 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let me = app
        .client
        .get(app.url("/api/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_sweep_removes_every_expired_session_in_batches() {
    let app = spawn_app().await;
    app.user("kim").await;
    expired_sessions(&app, "kim", 1_234).await;
    let removed = modu_app::storage::sweep_expired(&app.db).await.unwrap();
    assert_eq!(removed, 1_234);
    assert_eq!(expired_count(&app).await, 0);
    assert_eq!(modu_app::storage::sweep_expired(&app.db).await.unwrap(), 0);
}
