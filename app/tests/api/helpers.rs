//! `spawn_app()`: a fresh application per test on a random port, with a fresh
//! database, media directory or bucket, and Redis prefix; plus small HTTP helpers and
//! the counters behind every "nothing was written" assertion.

use std::path::{Path, PathBuf};
use std::sync::Once;

use modu_app::configuration::Settings;
use modu_app::db::Db;
use modu_app::startup::Application;
use reqwest::multipart::{Form, Part};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection};
use uuid::Uuid;

use crate::images;
use crate::services;

pub const PASSWORD: &str = "correct horse battery";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite + local disk + in-process cache + database sessions.
    Sqlite,
    /// PostgreSQL + Redis sessions and cache + S3 (moto).
    Postgres,
}

pub fn backend() -> Backend {
    match std::env::var("MODU_TEST_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("sqlite") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("MODU_TEST_BACKEND={other:?}: use sqlite or postgres"),
    }
}

pub enum Store {
    Disk(PathBuf),
    S3 {
        client: aws_sdk_s3::Client,
        bucket: String,
    },
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: Db,
    pub store: Store,
    dir: PathBuf,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// reqwest looks up the process's rustls provider when a client is built (the workspace
/// builds it with TLS but without a provider of its own); the service's is ring.
pub fn install_crypto_provider() {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    static LOGS: Once = Once::new();
    LOGS.call_once(|| match std::env::var("TEST_LOG") {
        Ok(filter) => modu_app::telemetry::init(&filter, std::io::stdout),
        Err(_) => modu_app::telemetry::init("off", std::io::sink),
    });

    let name = format!("t{}", Uuid::new_v4().simple());
    let dir = std::env::temp_dir().join("modu-app-tests").join(&name);
    std::fs::create_dir_all(&dir).unwrap();

    let mut settings = Settings::defaults();
    settings.bind = "127.0.0.1:0".parse().unwrap();
    settings.media_dir = dir.join("media");
    settings.db_pool_size = 8;
    let mut s3 = None;
    settings.database_url = fresh_database(&name, &dir).await;
    match backend() {
        Backend::Sqlite => {}
        Backend::Postgres => {
            let services = services::ensure();
            settings.redis_url = Some(services.redis.clone());
            settings.redis_prefix = format!("{name}:");
            settings.s3_bucket = Some(name.clone());
            settings.s3_force_path_style = true;
            s3 = Some(create_bucket(&services.s3_endpoint, &name).await);
        }
    }
    configure(&mut settings);

    let db = Db::connect(&settings.database_url, 2).await.unwrap();
    let app = Application::build(settings.clone())
        .await
        .expect("building the application");
    let address = format!("http://{}", app.address());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));

    let store = match s3 {
        Some(client) => Store::S3 {
            client,
            bucket: name,
        },
        None => Store::Disk(settings.media_dir.clone()),
    };
    install_crypto_provider();
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        db,
        store,
        dir,
        shutdown: Some(tx),
    }
}

/// A new, empty database of the backend under test, named `name` (SQLite: in `dir`).
pub async fn fresh_database(name: &str, dir: &Path) -> String {
    match backend() {
        Backend::Sqlite => format!("sqlite://{}", dir.join(format!("{name}.db")).display()),
        Backend::Postgres => {
            let services = services::ensure();
            let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", services.postgres))
                .await
                .expect("connecting to the test PostgreSQL");
            sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .unwrap();
            format!("{}/{name}", services.postgres)
        }
    }
}

/// The application reads the standard AWS settings from the environment, as deployed.
pub async fn create_bucket(endpoint: &str, bucket: &str) -> aws_sdk_s3::Client {
    static ENV: Once = Once::new();
    ENV.call_once(|| {
        // SAFETY: runs once, before any application (the only other reader of these
        // variables in this process) is built; the Once makes later callers wait.
        unsafe {
            std::env::set_var("AWS_ENDPOINT_URL", endpoint);
            std::env::set_var("AWS_ACCESS_KEY_ID", "test");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
            std::env::set_var("AWS_REGION", "us-east-1");
        }
    });
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(modu_app::storage::https_client())
        .load()
        .await;
    let conf = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(true)
        .build();
    let client = aws_sdk_s3::Client::from_conf(conf);
    client
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("creating the test bucket");
    client
}

/// What the service has written anywhere; equal before and after a refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub users: i64,
    pub resumes: i64,
    pub image_rows: i64,
    pub objects: usize,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&self.db.read)
            .await
            .unwrap()
    }

    pub async fn count_objects(&self) -> usize {
        match &self.store {
            Store::Disk(root) => count_files(root),
            Store::S3 { client, bucket } => {
                let mut pages = client
                    .list_objects_v2()
                    .bucket(bucket)
                    .into_paginator()
                    .send();
                let mut n = 0;
                while let Some(page) = pages.next().await {
                    // A deleted bucket (see `break_storage`) holds nothing.
                    n += page.map(|p| p.contents().len()).unwrap_or_default();
                }
                n
            }
        }
    }

    /// Sends the shutdown signal, as SIGTERM does: stop accepting, finish in flight.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Makes every image upload fail from now on.
    pub async fn break_storage(&self) {
        match &self.store {
            Store::Disk(root) => {
                std::fs::remove_dir_all(root).unwrap();
                std::fs::write(root, b"not a directory").unwrap();
            }
            Store::S3 { client, bucket } => {
                client.delete_bucket().bucket(bucket).send().await.unwrap();
            }
        }
    }

    pub async fn written(&self) -> Written {
        Written {
            users: self.count("users").await,
            resumes: self.count("resumes").await,
            image_rows: self.count("resume_images").await,
            objects: self.count_objects().await,
        }
    }

    pub async fn signup(&self, username: &str, password: &str, confirm: &str) -> Response {
        self.client
            .post(self.url("/api/auth/signup"))
            .json(&serde_json::json!({
                "username": username, "password": password, "password_confirm": confirm
            }))
            .send()
            .await
            .unwrap()
    }

    /// Signs up a new user and returns their token.
    pub async fn user(&self, username: &str) -> String {
        let resp = self.signup(username, PASSWORD, PASSWORD).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let body: Value = resp.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// Saves `resume_form()` (two images) as the token's user: the created resume.
    pub async fn resume(&self, token: &str) -> Value {
        let resp = self.post_resume(Some(token), resume_form()).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        resp.json().await.unwrap()
    }

    /// `GET` a path as JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let resp = self.client.get(self.url(path)).send().await.unwrap();
        resp.json().await.unwrap()
    }

    /// `PATCH /api/resumes/{id}` with a JSON body (text fields only).
    pub async fn edit_json(&self, token: &str, id: &str, body: Value) -> Response {
        self.client
            .patch(self.url(&format!("/api/resumes/{id}")))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `PATCH /api/resumes/{id}` with a multipart form (text fields, `image`, `remove_image`).
    pub async fn edit_form(&self, token: &str, id: &str, form: Form) -> Response {
        self.client
            .patch(self.url(&format!("/api/resumes/{id}")))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete_resume(&self, token: &str, id: &str) -> Response {
        self.client
            .delete(self.url(&format!("/api/resumes/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_resume(&self, token: Option<&str>, form: Form) -> Response {
        let mut req = self.client.post(self.url("/api/resumes")).multipart(form);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("sending a resume: {e:?}"))
    }
}

fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

/// Signs up `kim` on a service running as its own process at `base` (`http://host:port`);
/// the session token.
pub async fn signup_token(client: &reqwest::Client, base: &str) -> String {
    let signup: Value = client
        .post(format!("{base}/api/auth/signup"))
        .json(&serde_json::json!({
            "username": "kim", "password": PASSWORD, "password_confirm": PASSWORD
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    signup["token"]
        .as_str()
        .expect("a session token")
        .to_owned()
}

pub fn text_form(name: &str, motivation: &str, task: &str) -> Form {
    Form::new()
        .text("name", name.to_owned())
        .text("motivation", motivation.to_owned())
        .text("task", task.to_owned())
}

pub fn with_image(form: Form, bytes: Vec<u8>, file_name: &str, mime: &str) -> Form {
    form.part(
        "image",
        Part::bytes(bytes)
            .file_name(file_name.to_owned())
            .mime_str(mime)
            .unwrap(),
    )
}

pub fn small_jpeg() -> Vec<u8> {
    images::jpeg(16, 16, 2048)
}

/// A valid form with two small images, as the web page's "save" sends it.
pub fn resume_form() -> Form {
    let form = text_form("Kim Minji", "I like building things.", "3");
    let form = with_image(form, small_jpeg(), "a.jpg", "image/jpeg");
    with_image(form, images::png(20, 10), "b.png", "image/png")
}

/// Asserts a refusal: the status, the field named in the JSON body, and a reason.
pub async fn assert_refused(resp: Response, status: StatusCode, field: &str) -> Value {
    assert_eq!(resp.status(), status, "status for field {field}");
    let body: Value = resp.json().await.expect("a JSON error body");
    assert_eq!(body["field"], field, "field in {body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "reason in {body}"
    );
    body
}
