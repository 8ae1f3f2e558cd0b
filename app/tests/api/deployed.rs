//! The service as a stack runs it: started before its parts answer, configured from the
//! stack's parameters, draining on SIGTERM, migrating once when many instances start.

use std::time::{Duration, Instant};

use modu_app::configuration::Settings;
use modu_app::db::Db;
use modu_app::startup::Application;
use modu_wire::transport::{Service, Transport};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    create_bucket, fresh_database, install_crypto_provider, resume_form, spawn_app_with,
};
use crate::services;

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join("modu-app-tests").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn get(client: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    let resp = client.get(url).send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_instance_listens_before_its_database_answers_and_comes_up_by_itself() {
    install_crypto_provider();
    let name = format!("t{}", Uuid::new_v4().simple());
    let dir = scratch(&name);
    // The database's folder cannot be made while a file stands in its place.
    let blocker = dir.join("db");
    std::fs::write(&blocker, "in the way").unwrap();
    let mut settings = Settings::defaults();
    settings.bind = "127.0.0.1:0".parse().unwrap();
    settings.database_url = format!("sqlite://{}/modu.db", blocker.display());
    settings.media_dir = dir.join("media");
    let app = Application::start(settings).await.expect("binding");
    let base = format!("http://{}", app.address());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();

    assert_eq!(
        get(&client, &format!("{base}/healthz")).await.0,
        StatusCode::OK
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let waiting = loop {
        let (status, body) = get(&client, &format!("{base}/readyz")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        if body["database"] != "waiting" {
            break body;
        }
        assert!(Instant::now() < deadline, "no attempt reported: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(waiting["ready"], false);
    assert_eq!(waiting["config"], "ok");
    let reason = waiting["database"].as_str().unwrap();
    assert!(reason.contains("creating the directory"), "{reason}");
    let (status, body) = get(&client, &format!("{base}/api/resumes")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body["error"].as_str().unwrap().contains("database"),
        "{body}"
    );

    std::fs::remove_file(&blocker).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = get(&client, &format!("{base}/readyz")).await;
        if status == StatusCode::OK {
            assert_eq!(body["database"], "ok");
            break;
        }
        assert!(Instant::now() < deadline, "never became ready: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let signup = client
        .post(format!("{base}/api/auth/signup"))
        .json(
            &json!({ "username": "late", "password": "correct horse battery",
                       "password_confirm": "correct horse battery" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), StatusCode::CREATED);
    let _ = stop.send(());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn on_sigterm_readyz_fails_while_requests_are_still_served_for_the_drain() {
    // Long enough that the requests below land inside it on a loaded machine.
    const DRAIN: Duration = Duration::from_secs(5);
    let mut app = spawn_app_with(|s| s.drain_secs = DRAIN.as_secs()).await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    app.begin_shutdown();
    let drain_ends = tokio::time::Instant::now() + DRAIN;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Fresh connections each time: the load balancer opens new ones while it drains.
    let fresh = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    };
    let (status, body) = get(&fresh(), &app.url("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["draining"], true);
    assert_eq!(get(&fresh(), &app.url("/healthz")).await.0, StatusCode::OK);
    let token = app.user("drained").await;
    let saved = app.post_resume(Some(&token), resume_form()).await;
    assert_eq!(saved.status(), StatusCode::CREATED);

    tokio::time::sleep_until(drain_ends + Duration::from_millis(1000)).await;
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "the listener closes once the drain is over"
    );
}

const SSM: Service = Service {
    signing_name: "ssm",
    service_id: "SSM",
    endpoint_prefix: "ssm",
    global: false,
};

#[tokio::test]
async fn the_stack_parameters_choose_the_bucket_prefix_and_image_urls() {
    let services = services::ensure();
    let name = format!("t{}", Uuid::new_v4().simple());
    let s3 = create_bucket(&services.s3_endpoint, &name).await;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(modu_app::storage::https_client())
        .load()
        .await;
    let ssm = Transport::new(&config, SSM);
    let root = format!("/modu/{name}");
    for (key, value) in [
        ("bucket", name.as_str()),
        ("media-prefix", "media/"),
        ("media-base-url", "https://d111.cloudfront.net/media"),
        ("release", "r1"),
    ] {
        ssm.json(
            "AmazonSSM.PutParameter",
            &json!({ "Name": format!("{root}/{key}"), "Value": value, "Type": "String" }),
        )
        .await
        .unwrap();
    }

    let app = spawn_app_with(|s| {
        s.parameters = Some(format!("{root}/"));
        s.s3_force_path_style = true;
    })
    .await;
    let token = app.user("configured").await;
    let saved = app.post_resume(Some(&token), resume_form()).await;
    assert_eq!(saved.status(), StatusCode::CREATED);
    let body: Value = saved.json().await.unwrap();
    let url = body["images"][0]["url"].as_str().unwrap().to_owned();
    let key = url
        .strip_prefix("https://d111.cloudfront.net/media/")
        .unwrap_or_else(|| panic!("image URL not through the CDN: {url}"));
    // The CDN's `/media/*` forwards the path as it is: the object is `media/<key>`.
    let object = s3
        .get_object()
        .bucket(&name)
        .key(format!("media/{key}"))
        .send()
        .await
        .expect("the image is stored under the media prefix");
    assert!(object.content_length().unwrap_or_default() > 0);
}

/// Ten instances of a new release start at once against one fresh database: every one
/// comes up, and each migration ran exactly once (PostgreSQL: an advisory lock around
/// them; SQLite: its write lock).
#[tokio::test]
async fn migrations_run_once_when_ten_instances_start_together() {
    let name = format!("t{}", Uuid::new_v4().simple());
    let dir = scratch(&name);
    let url = fresh_database(&name, &dir).await;
    let starts = (0..10).map(|_| {
        let url = url.clone();
        tokio::spawn(async move {
            let db = Db::connect(&url, 2).await.expect("connecting");
            db.migrate().await.expect("migrating");
            db
        })
    });
    let dbs = futures::future::join_all(starts).await;
    let db = dbs.into_iter().next().unwrap().unwrap();
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&db.read)
            .await
            .unwrap();
    assert_eq!(applied, vec![1, 2]);
    let _ = std::fs::remove_dir_all(&dir);
}
