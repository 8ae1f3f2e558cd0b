use reqwest::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_page_and_its_assets_are_served_by_the_binary() {
    let app = spawn_app().await;
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/style.css", "text/css; charset=utf-8"),
    ] {
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(resp.headers()["content-type"], content_type, "{path}");
    }
}
