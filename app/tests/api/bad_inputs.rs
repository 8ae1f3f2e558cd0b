//! Every refused input: a 4xx, a JSON reason naming the field, and nothing written —
//! no user, resume, image row or stored object.

use reqwest::multipart::{Form, Part};
use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::helpers::{
    PASSWORD, TestApp, assert_refused, resume_form, small_jpeg, spawn_app, spawn_app_with,
    text_form, with_image,
};
use crate::images;

/// Sends a request and checks the refusal and that nothing changed.
async fn refused<F, Fut>(app: &TestApp, status: StatusCode, field: &str, send: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let before = app.written().await;
    let resp = send().await;
    assert_refused(resp, status, field).await;
    assert_eq!(app.written().await, before, "nothing may be written");
}

async fn signup_refused(
    username: &str,
    password: &str,
    confirm: &str,
    status: StatusCode,
    field: &str,
) {
    let app = spawn_app().await;
    refused(&app, status, field, || {
        app.signup(username, password, confirm)
    })
    .await;
}

async fn resume_refused(form: Form, status: StatusCode, field: &str) {
    let app = spawn_app().await;
    let token = app.user("kim").await;
    refused(&app, status, field, || app.post_resume(Some(&token), form)).await;
}

#[tokio::test]
async fn signup_without_username() {
    signup_refused(
        "",
        PASSWORD,
        PASSWORD,
        StatusCode::UNPROCESSABLE_ENTITY,
        "username",
    )
    .await;
}

#[tokio::test]
async fn signup_with_too_long_username() {
    signup_refused(
        &"k".repeat(33),
        PASSWORD,
        PASSWORD,
        StatusCode::UNPROCESSABLE_ENTITY,
        "username",
    )
    .await;
}

#[tokio::test]
async fn signup_with_sql_looking_username() {
    signup_refused(
        "x' OR '1'='1",
        PASSWORD,
        PASSWORD,
        StatusCode::UNPROCESSABLE_ENTITY,
        "username",
    )
    .await;
}

#[tokio::test]
async fn signup_with_short_password() {
    signup_refused(
        "kim",
        "short",
        "short",
        StatusCode::UNPROCESSABLE_ENTITY,
        "password",
    )
    .await;
}

#[tokio::test]
async fn signup_with_password_mismatch() {
    signup_refused(
        "kim",
        PASSWORD,
        "something else",
        StatusCode::UNPROCESSABLE_ENTITY,
        "password_confirm",
    )
    .await;
}

#[tokio::test]
async fn signup_with_duplicate_username() {
    let app = spawn_app().await;
    app.user("kim").await;
    refused(&app, StatusCode::CONFLICT, "username", || {
        app.signup("kim", PASSWORD, PASSWORD)
    })
    .await;
}

#[tokio::test]
async fn signup_with_malformed_json() {
    let app = spawn_app().await;
    refused(&app, StatusCode::BAD_REQUEST, "body", || async {
        app.client
            .post(app.url("/api/auth/signup"))
            .header("content-type", "application/json")
            .body("{\"username\": \"kim\", ")
            .send()
            .await
            .unwrap()
    })
    .await;
}

#[tokio::test]
async fn signup_with_oversized_body() {
    let app = spawn_app().await;
    let big = "x".repeat(200 * 1024);
    refused(&app, StatusCode::PAYLOAD_TOO_LARGE, "body", || async {
        app.client
            .post(app.url("/api/auth/signup"))
            .json(&json!({ "username": "kim", "password": big, "password_confirm": big }))
            .send()
            .await
            .unwrap()
    })
    .await;
}

#[tokio::test]
async fn login_with_wrong_password_or_unknown_user() {
    let app = spawn_app().await;
    app.user("kim").await;
    for (user, password) in [("kim", "wrong password"), ("nobody", PASSWORD)] {
        refused(&app, StatusCode::UNAUTHORIZED, "password", || async {
            app.client
                .post(app.url("/api/auth/login"))
                .json(&json!({ "username": user, "password": password }))
                .send()
                .await
                .unwrap()
        })
        .await;
    }
}

#[tokio::test]
async fn resume_without_token() {
    let app = spawn_app().await;
    refused(&app, StatusCode::UNAUTHORIZED, "token", || {
        app.post_resume(None, resume_form())
    })
    .await;
}

#[tokio::test]
async fn resume_with_invalid_token() {
    let app = spawn_app().await;
    app.user("kim").await;
    for token in ["garbage", &"0".repeat(64)] {
        refused(&app, StatusCode::UNAUTHORIZED, "token", || {
            app.post_resume(Some(token), resume_form())
        })
        .await;
    }
}

#[tokio::test]
async fn resume_with_revoked_token() {
    let app = spawn_app().await;
    let token = app.user("kim").await;
    let resp = app
        .client
        .post(app.url("/api/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    refused(&app, StatusCode::UNAUTHORIZED, "token", || {
        app.post_resume(Some(&token), resume_form())
    })
    .await;
}

#[tokio::test]
async fn resume_without_name() {
    let form = Form::new().text("motivation", "m").text("task", "1");
    let form = with_image(form, small_jpeg(), "a.jpg", "image/jpeg");
    resume_refused(form, StatusCode::UNPROCESSABLE_ENTITY, "name").await;
}

#[tokio::test]
async fn resume_with_blank_name() {
    resume_refused(
        text_form("   ", "m", "1"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "name",
    )
    .await;
}

#[tokio::test]
async fn resume_with_too_long_name() {
    let form = with_image(
        text_form(&"가".repeat(51), "m", "1"),
        small_jpeg(),
        "a.jpg",
        "image/jpeg",
    );
    resume_refused(form, StatusCode::UNPROCESSABLE_ENTITY, "name").await;
}

#[tokio::test]
async fn resume_without_motivation() {
    let form = Form::new().text("name", "Kim").text("task", "1");
    resume_refused(form, StatusCode::UNPROCESSABLE_ENTITY, "motivation").await;
}

#[tokio::test]
async fn resume_with_too_long_motivation() {
    resume_refused(
        text_form("Kim", &"m".repeat(2001), "1"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "motivation",
    )
    .await;
}

#[tokio::test]
async fn resume_without_task() {
    let form = Form::new().text("name", "Kim").text("motivation", "m");
    resume_refused(form, StatusCode::UNPROCESSABLE_ENTITY, "task").await;
}

#[tokio::test]
async fn resume_with_unknown_task_id() {
    resume_refused(
        text_form("Kim", "m", "99"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "task",
    )
    .await;
}

#[tokio::test]
async fn resume_with_unknown_task_name() {
    resume_refused(
        text_form("Kim", "m", "Astronaut"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "task",
    )
    .await;
}

#[tokio::test]
async fn resume_with_text_file_renamed_jpg() {
    let text = b"just some notes, not a picture\n".repeat(20);
    let form = with_image(text_form("Kim", "m", "1"), text, "photo.jpg", "image/jpeg");
    resume_refused(form, StatusCode::UNPROCESSABLE_ENTITY, "image").await;
}

#[tokio::test]
async fn resume_with_truncated_jpeg_header() {
    let jpeg = small_jpeg();
    let form = with_image(
        text_form("Kim", "m", "1"),
        jpeg[..40].to_vec(),
        "a.jpg",
        "image/jpeg",
    );
    resume_refused(form, StatusCode::UNPROCESSABLE_ENTITY, "image").await;
}

#[tokio::test]
async fn resume_with_jpeg_cut_before_its_end() {
    // The header decodes, but the end-of-image marker never came: an interrupted upload.
    let jpeg = images::jpeg(64, 64, 4096);
    let cut = jpeg[..jpeg.len() - 3].to_vec();
    // One good image first: the bad second one must not leave the first behind.
    let form = with_image(
        text_form("Kim", "m", "1"),
        small_jpeg(),
        "ok.jpg",
        "image/jpeg",
    );
    let form = with_image(form, cut, "cut.jpg", "image/jpeg");
    resume_refused(form, StatusCode::UNPROCESSABLE_ENTITY, "image").await;
}

#[tokio::test]
async fn resume_with_oversized_image() {
    let app = spawn_app_with(|s| s.max_image_mb = 1).await;
    let token = app.user("kim").await;
    let big = images::jpeg(64, 64, 1024 * 1024 + 100);
    let form = with_image(text_form("Kim", "m", "1"), big, "big.jpg", "image/jpeg");
    refused(&app, StatusCode::PAYLOAD_TOO_LARGE, "image", || {
        app.post_resume(Some(&token), form)
    })
    .await;
}

#[tokio::test]
async fn resume_with_one_image_too_many() {
    let app = spawn_app().await;
    let token = app.user("kim").await;
    let mut form = text_form("Kim", "m", "1");
    for i in 0..11 {
        form = with_image(form, small_jpeg(), &format!("{i}.jpg"), "image/jpeg");
    }
    refused(&app, StatusCode::UNPROCESSABLE_ENTITY, "image", || {
        app.post_resume(Some(&token), form)
    })
    .await;
}

#[tokio::test]
async fn resume_with_malformed_multipart() {
    let app = spawn_app().await;
    let token = app.user("kim").await;
    for (content_type, body) in [
        (
            "multipart/form-data; boundary=XYZ",
            "--XYZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nKim",
        ),
        ("multipart/form-data", "no boundary at all"),
        ("application/json", "{\"name\": \"Kim\"}"),
    ] {
        refused(&app, StatusCode::BAD_REQUEST, "body", || async {
            app.client
                .post(app.url("/api/resumes"))
                .bearer_auth(&token)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap()
        })
        .await;
    }
}

#[tokio::test]
async fn resume_with_unexpected_field() {
    let form = text_form("Kim", "m", "1").part("owner_id", Part::text("1"));
    resume_refused(form, StatusCode::BAD_REQUEST, "body").await;
}

#[tokio::test]
async fn editing_or_deleting_someone_elses_resume() {
    let app = spawn_app().await;
    let owner = app.user("kim").await;
    let other = app.user("lee").await;
    let id = app.resume(&owner).await["id"].as_str().unwrap().to_owned();

    refused(&app, StatusCode::FORBIDDEN, "id", || {
        app.edit_json(&other, &id, json!({ "name": "Mine now" }))
    })
    .await;
    refused(&app, StatusCode::FORBIDDEN, "id", || {
        app.delete_resume(&other, &id)
    })
    .await;
    let now = app.get_json(&format!("/api/resumes/{id}")).await;
    assert_eq!(now["name"], "Kim Minji");
}

#[tokio::test]
async fn editing_or_deleting_a_missing_resume() {
    let app = spawn_app().await;
    let token = app.user("kim").await;
    for id in ["01900000-0000-7000-8000-000000000000", "not-a-uuid"] {
        refused(&app, StatusCode::NOT_FOUND, "id", || {
            app.edit_json(&token, id, json!({ "name": "x" }))
        })
        .await;
        refused(&app, StatusCode::NOT_FOUND, "id", || {
            app.delete_resume(&token, id)
        })
        .await;
    }
}

#[tokio::test]
async fn updating_with_invalid_values() {
    let app = spawn_app().await;
    let (token, id, _) = kims_resume(&app).await;
    for (patch, field) in [
        (json!({ "name": "n".repeat(51) }), "name"),
        (json!({ "task": 42 }), "task"),
        (json!({}), "body"),
    ] {
        refused(&app, StatusCode::UNPROCESSABLE_ENTITY, field, || {
            app.edit_json(&token, &id, patch)
        })
        .await;
    }
    refused(&app, StatusCode::BAD_REQUEST, "body", || {
        app.edit_json(&token, &id, json!({ "owner_id": 2 }))
    })
    .await;
}

/// kim's token, and the id and body of a resume of kim's with two images.
async fn kims_resume(app: &TestApp) -> (String, String, serde_json::Value) {
    let token = app.user("kim").await;
    let body = app.resume(&token).await;
    (token, body["id"].as_str().unwrap().to_owned(), body)
}

fn jpeg_part(file_name: &str) -> Part {
    Part::bytes(small_jpeg()).file_name(file_name.to_owned())
}

#[tokio::test]
async fn editing_with_an_image_of_another_resume_to_remove() {
    let app = spawn_app().await;
    let (token, id, _) = kims_resume(&app).await;
    let other = app.resume(&token).await;
    for key in [
        other["images"][0]["key"].as_str().unwrap(),
        "../../etc/passwd",
        "",
    ] {
        let form = Form::new().text("remove_image", key.to_owned());
        refused(
            &app,
            StatusCode::UNPROCESSABLE_ENTITY,
            "remove_image",
            || app.edit_form(&token, &id, form),
        )
        .await;
    }
}

#[tokio::test]
async fn editing_past_the_image_limit() {
    let app = spawn_app_with(|s| s.max_images = 3).await;
    let (token, id, _) = kims_resume(&app).await;
    let form = Form::new()
        .part("image", jpeg_part("x.jpg"))
        .part("image", jpeg_part("y.jpg"));
    refused(&app, StatusCode::UNPROCESSABLE_ENTITY, "image", || {
        app.edit_form(&token, &id, form)
    })
    .await;
}

#[tokio::test]
async fn editing_with_a_text_file_renamed_jpg_or_nothing_to_change() {
    let app = spawn_app().await;
    let (token, id, _) = kims_resume(&app).await;
    let cases = [
        (
            with_image(Form::new(), b"just text".to_vec(), "cv.jpg", "image/jpeg"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "image",
        ),
        (
            Form::new().text("name", "n".repeat(51)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            Form::new().text("owner_id", "2"),
            StatusCode::BAD_REQUEST,
            "body",
        ),
        // A browser sends an empty file part for a file input left empty.
        (
            Form::new().part("image", Part::bytes(Vec::new()).file_name(String::new())),
            StatusCode::UNPROCESSABLE_ENTITY,
            "body",
        ),
    ];
    for (form, status, field) in cases {
        refused(&app, status, field, || app.edit_form(&token, &id, form)).await;
    }
}

#[tokio::test]
async fn editing_someone_elses_images() {
    let app = spawn_app().await;
    let (_, id, body) = kims_resume(&app).await;
    let other = app.user("lee").await;
    let form = Form::new()
        .text(
            "remove_image",
            body["images"][0]["key"].as_str().unwrap().to_owned(),
        )
        .part("image", jpeg_part("x.jpg"));
    refused(&app, StatusCode::FORBIDDEN, "id", || {
        app.edit_form(&other, &id, form)
    })
    .await;
}

#[tokio::test]
async fn editing_with_an_oversized_json_body() {
    let app = spawn_app().await;
    let (token, id, _) = kims_resume(&app).await;
    let huge = json!({ "motivation": "m".repeat(200 * 1024) });
    refused(&app, StatusCode::PAYLOAD_TOO_LARGE, "body", || {
        app.edit_json(&token, &id, huge)
    })
    .await;
}

#[tokio::test]
async fn listing_with_a_bad_cursor_or_limit() {
    let app = spawn_app().await;
    for (query, field) in [
        ("cursor=abc", "cursor"),
        ("limit=0", "limit"),
        ("limit=1000", "limit"),
        ("limit=x", "limit"),
    ] {
        let resp = app
            .client
            .get(app.url(&format!("/api/resumes?{query}")))
            .send()
            .await
            .unwrap();
        assert_refused(resp, StatusCode::UNPROCESSABLE_ENTITY, field).await;
    }
}

/// Found by the API fuzzing (scripts/app-fuzz.py): axum's own extractors answered these
/// with a plain-text 400, outside the service's error shape and its description.
#[tokio::test]
async fn a_repeated_query_parameter_is_a_json_400() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(app.url("/api/resumes?limit=1&limit=2"))
        .send()
        .await
        .unwrap();
    assert_refused(resp, StatusCode::BAD_REQUEST, "query").await;
}

/// Found by the API fuzzing: a path segment whose escapes are not UTF-8 (`%FF`) made
/// axum answer a plain-text 400; it names no resume and no image, so 404 as JSON.
#[tokio::test]
async fn a_path_segment_that_is_not_text_names_nothing() {
    let app = spawn_app().await;
    let token = app.user("kim").await;
    for (method, path) in [
        (reqwest::Method::GET, "/api/resumes/%FF"),
        (reqwest::Method::PATCH, "/api/resumes/%FF%FE"),
        (reqwest::Method::DELETE, "/api/resumes/%C3%28"),
        (reqwest::Method::GET, "/media/resumes/%FF/a.png"),
    ] {
        refused(&app, StatusCode::NOT_FOUND, "id", || async {
            app.client
                .request(method, app.url(path))
                .bearer_auth(&token)
                .json(&json!({ "name": "Kim" }))
                .send()
                .await
                .unwrap()
        })
        .await;
    }
}

/// A path served for other methods answers 405 in the error shape, naming them in
/// `Allow` (axum's default was an empty body).
#[tokio::test]
async fn a_method_a_path_does_not_take_is_a_json_405() {
    let app = spawn_app().await;
    let resp = app
        .client
        .put(app.url("/api/resumes"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["allow"], "GET,HEAD,POST");
    assert_refused(resp, StatusCode::METHOD_NOT_ALLOWED, "method").await;
}
