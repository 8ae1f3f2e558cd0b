use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, resume_form, spawn_app};

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
