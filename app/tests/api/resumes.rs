use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::helpers::{resume_form, small_jpeg, spawn_app, spawn_app_with, text_form, with_image};
use crate::images;

#[tokio::test]
async fn a_resume_with_two_images_is_saved_and_served() {
    let app = spawn_app().await;
    let token = app.user("kim").await;
    let resp = app.post_resume(Some(&token), resume_form()).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = resp.json().await.unwrap();
    let id = body["id"].as_str().unwrap();
    assert_eq!(body["owner"], "kim");
    assert_eq!(body["task"]["name"], "SW 개발");
    let images = body["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!(images[0]["content_type"], "image/jpeg");
    assert_eq!(images[0]["width"], 16);
    assert_eq!(images[1]["content_type"], "image/png");
    assert_eq!(images[1]["width"], 20);
    assert_eq!(images[1]["height"], 10);

    for (img, expected) in images.iter().zip([small_jpeg(), images::png(20, 10)]) {
        let url = img["url"].as_str().unwrap();
        let prefix = format!("/media/resumes/{id}/");
        assert!(url.starts_with(&prefix), "{url}");
        let resp = app.client.get(app.url(url)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()["content-type"],
            img["content_type"].as_str().unwrap()
        );
        assert_eq!(resp.bytes().await.unwrap().as_ref(), expected.as_slice());
    }
    assert_eq!(app.count("resumes").await, 1);
    assert_eq!(app.count("resume_images").await, 2);
    assert_eq!(app.count_objects().await, 2);
}

#[tokio::test]
async fn images_are_judged_by_content_not_by_name() {
    let app = spawn_app().await;
    let token = app.user("kim").await;
    // A real PNG sent as "photo.jpg" with a JPEG content type is stored as a PNG.
    let form = with_image(
        text_form("Kim", "hello", "1"),
        images::png(4, 4),
        "photo.jpg",
        "image/jpeg",
    );
    let resp = app.post_resume(Some(&token), form).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["images"][0]["content_type"], "image/png");
    assert!(body["images"][0]["url"].as_str().unwrap().ends_with(".png"));
}

#[tokio::test]
async fn sql_looking_and_unicode_input_is_stored_verbatim() {
    let app = spawn_app().await;
    let token = app.user("kim").await;
    let name = "Robert'); DROP TABLE resumes;--";
    let motivation =
        "지원 동기: 함께 성장하고 싶습니다 🚀\n\"quotes\" and \\backslashes\\ and %_ wildcards";
    let form = text_form(name, motivation, "UI / UX 디자인");
    let resp = app.post_resume(Some(&token), form).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let id = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let got = app.get_json(&format!("/api/resumes/{id}")).await;
    assert_eq!(got["name"], name);
    assert_eq!(got["motivation"], motivation);
    assert_eq!(got["task"]["id"], 4);
    assert_eq!(app.count("resumes").await, 1);
}

#[tokio::test]
async fn the_list_is_newest_first_and_paginates_by_cursor() {
    let app = spawn_app().await;
    let token = app.user("kim").await;
    for i in 0..5 {
        let resp = app
            .post_resume(Some(&token), text_form(&format!("n{i}"), "m", "2"))
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    let page = app.get_json("/api/resumes?limit=3").await;
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["n4", "n3", "n2"]);
    assert_eq!(page["items"][0]["owner"], "kim");
    assert_eq!(page["items"][0]["task"]["name"], "영업/마케팅");
    let cursor = page["next_cursor"].as_str().unwrap();

    let page = app
        .get_json(&format!("/api/resumes?limit=3&cursor={cursor}"))
        .await;
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["n1", "n0"]);
    assert!(page["next_cursor"].is_null());
}

#[tokio::test]
async fn the_cached_list_sees_every_write() {
    let app = spawn_app().await;
    let token = app.user("kim").await;
    let list = || async {
        let page = app.get_json("/api/resumes").await;
        page["items"].as_array().unwrap().clone()
    };
    assert!(list().await.is_empty());
    assert!(list().await.is_empty(), "served from the cache");

    let id = app.resume(&token).await["id"].as_str().unwrap().to_owned();
    let items = list().await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["images"].as_array().unwrap().len(), 2);

    let resp = app
        .edit_json(&token, &id, json!({ "name": "Renamed" }))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(list().await[0]["name"], "Renamed");

    let resp = app.delete_resume(&token, &id).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(list().await.is_empty());
}

#[tokio::test]
async fn the_owner_can_update_a_resume() {
    let app = spawn_app().await;
    let token = app.user("kim").await;
    let id = app.resume(&token).await["id"].as_str().unwrap().to_owned();
    let resp = app
        .edit_json(
            &token,
            &id,
            json!({ "motivation": "새 동기", "task": "경영지원" }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["name"], "Kim Minji");
    assert_eq!(body["motivation"], "새 동기");
    assert_eq!(body["task"]["id"], 5);
    assert_eq!(body["images"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_edit_adds_and_removes_images_and_storage_follows() {
    let app = spawn_app().await;
    let token = app.user("kim").await;
    let body = app.resume(&token).await;
    let id = body["id"].as_str().unwrap();
    let (first, second) = (&body["images"][0], &body["images"][1]);
    let removed_url = first["url"].as_str().unwrap();
    assert!(removed_url.ends_with(first["key"].as_str().unwrap()));

    // Remove the first image, add a GIF, rename: one multipart PATCH.
    let form = Form::new()
        .text("name", "Kim Minji (edited)")
        .text("remove_image", first["key"].as_str().unwrap().to_owned())
        .part(
            "image",
            Part::bytes(images::gif(8, 6)).file_name("c.gif".to_owned()),
        );
    let resp = app.edit_form(&token, id, form).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let edited: Value = resp.json().await.unwrap();
    assert_eq!(edited["name"], "Kim Minji (edited)");
    assert_eq!(edited["motivation"], body["motivation"]);
    let images = edited["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    // The kept image stays first; the new one follows it.
    assert_eq!(images[0]["key"], second["key"]);
    assert_eq!(images[1]["content_type"], "image/gif");
    assert_eq!(images[1]["width"], 8);
    let added = app
        .client
        .get(app.url(images[1]["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::OK);
    assert_eq!(added.bytes().await.unwrap().as_ref(), images::gif(8, 6));
    let gone = app.client.get(app.url(removed_url)).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.count("resume_images").await, 2);
    assert_eq!(app.count_objects().await, 2);

    // Reading it back gives the same images, and a text-only multipart edit keeps them.
    let form = Form::new().text("motivation", "새 동기");
    let resp = app.edit_form(&token, id, form).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let again: Value = resp.json().await.unwrap();
    assert_eq!(again["motivation"], "새 동기");
    assert_eq!(again["images"], edited["images"]);
}

#[tokio::test]
async fn concurrent_edits_of_different_fields_both_stick() {
    let app = spawn_app().await;
    let token = app.user("kim").await;
    for _ in 0..5 {
        let body = app.resume(&token).await;
        let url = app.url(&format!("/api/resumes/{}", body["id"].as_str().unwrap()));
        let edit = |patch: Value| {
            app.client
                .patch(&url)
                .bearer_auth(&token)
                .json(&patch)
                .send()
        };
        let (a, b) = tokio::join!(
            edit(json!({ "name": "New name" })),
            edit(json!({ "motivation": "New motivation" }))
        );
        assert_eq!(a.unwrap().status(), StatusCode::OK);
        assert_eq!(b.unwrap().status(), StatusCode::OK);
        let now: Value = app
            .client
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (&now["name"], &now["motivation"]),
            (&json!("New name"), &json!("New motivation"))
        );
    }
}

#[tokio::test]
async fn an_edit_can_fill_a_resume_up_to_the_image_limit() {
    let app = spawn_app_with(|s| s.max_images = 3).await;
    let token = app.user("kim").await;
    let body = app.resume(&token).await;
    let id = body["id"].as_str().unwrap();
    // Removing one makes room for two.
    let form = Form::new()
        .text(
            "remove_image",
            body["images"][0]["key"].as_str().unwrap().to_owned(),
        )
        .part(
            "image",
            Part::bytes(small_jpeg()).file_name("x.jpg".to_owned()),
        )
        .part(
            "image",
            Part::bytes(small_jpeg()).file_name("y.jpg".to_owned()),
        );
    let resp = app.edit_form(&token, id, form).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let edited: Value = resp.json().await.unwrap();
    assert_eq!(edited["images"].as_array().unwrap().len(), 3);
    assert_eq!(app.count_objects().await, 3);
}

#[tokio::test]
async fn deleting_a_resume_removes_its_images_from_storage() {
    let app = spawn_app().await;
    let token = app.user("kim").await;
    let keep = app.post_resume(Some(&token), resume_form()).await;
    assert_eq!(keep.status(), StatusCode::CREATED);
    let resp = app.post_resume(Some(&token), resume_form()).await;
    let body: Value = resp.json().await.unwrap();
    let id = body["id"].as_str().unwrap();
    let url = body["images"][0]["url"].as_str().unwrap().to_owned();
    assert_eq!(app.count_objects().await, 4);

    let resp = app.delete_resume(&token, id).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.count("resumes").await, 1);
    assert_eq!(app.count("resume_images").await, 2);
    assert_eq!(app.count_objects().await, 2);
    assert_eq!(
        app.client.get(app.url(&url)).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let resp = app
        .client
        .get(app.url(&format!("/api/resumes/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn job_categories_are_seeded() {
    let app = spawn_app().await;
    let tasks = app.get_json("/api/tasks").await;
    let names: Vec<&str> = tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "경영솔루션 운영",
            "영업/마케팅",
            "SW 개발",
            "UI / UX 디자인",
            "경영지원"
        ]
    );
}

#[tokio::test]
async fn image_urls_use_the_media_base_url_when_set() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.media_base_url = Some("https://d111.cloudfront.example/media/".into())
    })
    .await;
    let token = app.user("kim").await;
    let body = app.resume(&token).await;
    let url = body["images"][0]["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://d111.cloudfront.example/media/resumes/"),
        "{url}"
    );
}
