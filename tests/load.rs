//! `modu load` end to end: the real `modu` binary against the real resume service, the
//! `modu-app` binary, started by each test on a free loopback port with SQLite and images
//! on disk in a temporary directory. The service says what it received in its request log
//! (one line per request as it arrives) and what it stored through its API; each test
//! compares both with the JSON report. Two cases need a service that misbehaves on
//! purpose (5xx answers, answers that never come), which the real one never does: they
//! run against a tiny server written for just that (`Misbehaving`).

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

/// Every run is bounded by its own -d; this only catches a hang.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// Migrations and the first SQLite open, on a loaded machine.
const APP_START_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// The real service
// ---------------------------------------------------------------------------

/// The `modu-app` binary of this checkout, built (or found up to date) by cargo once per
/// test process. A test of the root package has no `CARGO_BIN_EXE_modu-app` (cargo sets
/// that only inside the app's own package), and a binary merely found next to this one
/// could be stale after an edit of `app/`. scripts/test.sh builds it before the tests run,
/// so here cargo normally only checks it.
fn modu_app() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        // This test runs from <target dir>/<profile dir>/deps/: build into the same ones.
        let exe = std::env::current_exe().expect("the test's own path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test runs from <target>/<profile>/deps");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        let target_dir = profile_dir
            .parent()
            .expect("a target dir above the profile");
        let mut cargo = std::process::Command::new(env!("CARGO"));
        // Cargo gives this test CARGO_MANIFEST_DIR, CARGO_PKG_* and the like. Build scripts
        // that read them (ring's does) would see a changed environment and rebuild, and
        // every later build would rebuild them back: the nested build gets a clean one.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CARGO_") && name != "CARGO_HOME" {
                cargo.env_remove(name.as_ref());
            }
        }
        let output = cargo
            .args(["build", "--quiet", "-p", "modu-app", "--profile", profile])
            .arg("--message-format=json-render-diagnostics")
            .arg("--manifest-path")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", target_dir)
            .stderr(Stdio::inherit())
            .output()
            .expect("running cargo build -p modu-app");
        assert!(
            output.status.success(),
            "cargo build -p modu-app failed (its errors are above)"
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|message| {
                message["reason"] == "compiler-artifact" && message["target"]["name"] == "modu-app"
            })
            .and_then(|message| message["executable"].as_str().map(PathBuf::from))
            .expect("cargo build -p modu-app names the modu-app executable")
    })
}

/// One request as the service logged it on arrival.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    uri: String,
    request_id: String,
}

/// What the service received, by endpoint.
#[derive(Debug, Default)]
struct Counts {
    requests: u64,
    signups: u64,
    tasks: u64,
    posts: u64,
    lists: u64,
    details: u64,
}

impl Counts {
    fn of(received: &[Received]) -> Counts {
        let mut counts = Counts::default();
        for request in received {
            counts.requests += 1;
            let path = request.uri.split('?').next().unwrap_or_default();
            let counter = match (request.method.as_str(), path) {
                ("POST", "/api/auth/signup") => &mut counts.signups,
                ("GET", "/api/tasks") => &mut counts.tasks,
                ("POST", "/api/resumes") => &mut counts.posts,
                ("GET", "/api/resumes") => &mut counts.lists,
                ("GET", p) if p.starts_with("/api/resumes/") => &mut counts.details,
                _ => continue,
            };
            *counter += 1;
        }
        counts
    }
}

/// What the service's log has shown so far.
#[derive(Default)]
struct Log {
    received: Vec<Received>,
    /// Warnings and errors the service logged: a run that is fine has none.
    problems: Vec<String>,
}

/// A `modu-app` process of this test alone, killed when dropped.
struct App {
    child: Child,
    port: u16,
    log: Arc<Mutex<Log>>,
    http: reqwest::Client,
    syncs: AtomicU64,
    _dir: TempDir,
}

/// Request ids of the test's own marker requests, left out of every count.
const SYNC_PREFIX: &str = "load-test-sync-";

impl App {
    async fn start() -> App {
        App::start_on("127.0.0.1:0").await
    }

    /// A service on `bind`, ready: every count a test makes starts from a service that
    /// answers its API.
    async fn start_on(bind: &str) -> App {
        let app = App::spawn(bind, &[]).await;
        app.wait_until_ready().await;
        app
    }

    /// A service whose cache is the Redis at `redis_url`: until that answers, the service
    /// is starting (503 and what it waits for).
    async fn start_with_cache(redis_url: &str) -> App {
        App::spawn("127.0.0.1:0", &[("REDIS_URL", redis_url)]).await
    }

    /// Starts the service and waits until it listens (it listens before it is ready).
    async fn spawn(bind: &str, env: &[(&str, &str)]) -> App {
        let dir = tempfile::tempdir().expect("temp dir for the service");
        let mut child = Command::new(modu_app())
            .env_clear()
            .envs(env.iter().copied())
            .env("BIND", bind)
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.path().join("modu.db").display()),
            )
            .env("MEDIA_DIR", dir.path().join("media"))
            // Warnings and errors, the address, and one line per request as it arrives.
            .env(
                "RUST_LOG",
                "warn,modu_app=info,tower_http::trace::on_request=debug",
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("starting modu-app");
        let mut lines = BufReader::new(child.stdout.take().expect("its stdout")).lines();
        let address = tokio::time::timeout(APP_START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await.expect("reading its log") {
                let entry: Value = serde_json::from_str(&line).unwrap_or_default();
                if entry["fields"]["message"] == "listening" {
                    return entry["fields"]["address"].as_str().map(str::to_owned);
                }
            }
            None
        })
        .await
        .expect("modu-app listens within the start timeout")
        .expect("modu-app logs its address before it exits");
        let port = address
            .parse::<SocketAddr>()
            .expect("the logged address")
            .port();

        let log = Arc::new(Mutex::new(Log::default()));
        tokio::spawn({
            let log = Arc::clone(&log);
            async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    let entry: Value = serde_json::from_str(&line).unwrap_or_default();
                    let mut log = log.lock().unwrap();
                    if entry["fields"]["message"] == "started processing request" {
                        let span = &entry["span"];
                        let field = |name: &str| span[name].as_str().unwrap_or_default().to_owned();
                        log.received.push(Received {
                            method: field("method"),
                            uri: field("uri"),
                            request_id: field("request_id"),
                        });
                    } else if matches!(entry["level"].as_str(), Some("WARN" | "ERROR"))
                        // The answers to the test's own markers (a 503 of /readyz while
                        // the service starts) are not the run's.
                        && !entry["span"]["request_id"]
                            .as_str()
                            .is_some_and(|id| id.starts_with(SYNC_PREFIX))
                    {
                        log.problems.push(line);
                    }
                }
            }
        });
        App {
            child,
            port,
            log,
            http: {
                modu::aws::tls::install_crypto_provider();
                reqwest::Client::builder().no_proxy().build().unwrap()
            },
            syncs: AtomicU64::new(0),
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A GET of `path` with a request id of its own (`SYNC_PREFIX…`): a marker request,
    /// left out of every count. Its id and the answer.
    async fn marker(&self, path: &str) -> (String, reqwest::Response) {
        let id = format!(
            "{SYNC_PREFIX}{}",
            self.syncs.fetch_add(1, Ordering::Relaxed)
        );
        let answer = self
            .http
            .get(format!("{}{path}", self.url()))
            .header("x-request-id", &id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("the service answers {path}: {e}"));
        (id, answer)
    }

    /// Asks `/readyz` (as a marker request, left out of the counts) until it says ready.
    async fn wait_until_ready(&self) {
        let deadline = Instant::now() + APP_START_TIMEOUT;
        loop {
            let (_, answer) = self.marker("/readyz").await;
            if answer.status().is_success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "modu-app is not ready within the start timeout: {}",
                answer.text().await.unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every request received so far, in order. First a marker request goes in and the
    /// test waits for its log line: a request answered before it was logged before it.
    async fn received(&self) -> Vec<Received> {
        let (id, answer) = self.marker("/healthz").await;
        assert!(answer.status().is_success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            {
                let log = self.log.lock().unwrap();
                if log.received.iter().any(|r| r.request_id == id) {
                    return log
                        .received
                        .iter()
                        .filter(|r| !r.request_id.starts_with(SYNC_PREFIX))
                        .cloned()
                        .collect();
                }
            }
            assert!(
                Instant::now() < deadline,
                "the marker request was not logged"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn counts(&self) -> Counts {
        Counts::of(&self.received().await)
    }

    /// Resume POSTs received so far, without waiting for the log to catch up.
    fn posts_so_far(&self) -> u64 {
        Counts::of(&self.log.lock().unwrap().received).posts
    }

    fn problems(&self) -> Vec<String> {
        self.log.lock().unwrap().problems.clone()
    }

    /// Every stored resume, newest first, through the list API's pages.
    async fn resumes(&self) -> Vec<Value> {
        let mut resumes = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{}/api/resumes?limit=100", self.url());
            if let Some(cursor) = &cursor {
                url.push_str(&format!("&cursor={cursor}"));
            }
            let page = self.get_json(&url).await;
            resumes.extend(page["items"].as_array().expect("items").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return resumes,
            }
        }
    }

    async fn get_json(&self, url: &str) -> Value {
        let bytes = self.get_bytes(url).await;
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
    }

    async fn get_bytes(&self, url: &str) -> Vec<u8> {
        let answer = self.http.get(url).send().await.expect("GET");
        assert_eq!(answer.status(), 200, "GET {url}");
        answer.bytes().await.expect("the body").to_vec()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

// ---------------------------------------------------------------------------
// A service that misbehaves on purpose
// ---------------------------------------------------------------------------

/// What the misbehaving server does with a resume POST. The real service answers every
/// valid save with 201; errors by kind and timeouts need a server that does not.
#[derive(Clone, Copy)]
enum OnPost {
    /// 500 with a short body.
    Fail,
    /// Never answers.
    Stall,
}

/// Just enough of the service for `modu load`'s setup (tasks, sign-up), then `OnPost`.
struct Misbehaving {
    addr: SocketAddr,
    posts: Arc<AtomicU64>,
}

impl Misbehaving {
    async fn start(on_post: OnPost) -> Misbehaving {
        let posts = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&posts);
        let app = Router::new()
            .route("/api/tasks", get(|| async { Json(json!([{ "id": 1 }])) }))
            .route(
                "/api/auth/signup",
                post(|| async { (StatusCode::CREATED, Json(json!({ "token": "t" }))) }),
            )
            .route(
                "/api/resumes",
                post(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async move {
                        match on_post {
                            OnPost::Fail => {
                                (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response()
                            }
                            OnPost::Stall => std::future::pending::<Response>().await,
                        }
                    }
                }),
            );
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the test server");
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Misbehaving { addr, posts }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

// ---------------------------------------------------------------------------
// Running modu
// ---------------------------------------------------------------------------

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_modu"));
    command
        .arg("load")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

async fn finish(child: Child, started: Instant) -> Run {
    let output = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
        .await
        .expect("modu load ends by itself")
        .expect("waiting for modu");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        took: started.elapsed(),
    }
}

async fn modu_load(args: &[&str]) -> Run {
    let started = Instant::now();
    let child = command(args).spawn().expect("starting modu");
    finish(child, started).await
}

fn u(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("{value} is not a count"))
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn click_sends_whole_clicks_of_ten_saves_and_reports_what_the_service_received() {
    let app = App::start().await;
    let run = modu_load(&[
        "--url",
        &app.url(),
        "--workload",
        "click",
        "-c",
        "4",
        "-d",
        "30",
        "--max-requests",
        "200",
        "--output",
        "json",
    ])
    .await;
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    let report = run.json();
    let counts = app.counts().await;

    // --max-requests 200 is exactly 20 clicks: each reserves its 10 saves up front.
    assert_eq!(report["stopped_by"], "max_requests");
    assert_eq!(u(&report["clicks"]["completed"]), 20);
    assert_eq!(u(&report["clicks"]["cut"]), 0);
    assert_eq!(counts.posts, 200);
    assert_eq!(u(&report["requests"]["post"]), 200);
    assert_eq!(u(&report["requests"]["sent"]), 200);
    assert_eq!(u(&report["status"]["201"]), 200);
    assert_eq!(counts.signups, 4);
    assert_eq!(counts.tasks, 1);
    assert_eq!(u(&report["users"]), 4);
    assert!(app.problems().is_empty(), "{:?}", app.problems());

    // The service stored every save: 200 resumes, two images each, and every virtual
    // user has its own account and saved in whole clicks.
    let resumes = app.resumes().await;
    assert_eq!(resumes.len(), 200);
    let mut by_owner: BTreeMap<String, u64> = BTreeMap::new();
    for resume in &resumes {
        *by_owner
            .entry(resume["owner"].as_str().unwrap().to_owned())
            .or_default() += 1;
        assert_eq!(resume["images"].as_array().unwrap().len(), 2, "{resume}");
    }
    assert_eq!(by_owner.len(), 4, "{by_owner:?}");
    assert!(by_owner.values().all(|n| n % 10 == 0), "{by_owner:?}");
    // The two images of a form are different pictures.
    let images = resumes[0]["images"].as_array().unwrap();
    let mut bodies = HashSet::new();
    for image in images {
        let url = image["url"].as_str().unwrap();
        bodies.insert(app.get_bytes(&format!("{}{url}", app.url())).await);
    }
    assert_eq!(bodies.len(), 2, "identical images in one form");

    assert_eq!(report["workload"], "click");
    assert_eq!(u(&report["concurrency"]), 4);
    assert_eq!(u(&report["errors"]["total"]), 0);
    for key in ["connect", "timeout", "4xx", "5xx", "other"] {
        assert_eq!(u(&report["errors"][key]), 0, "errors.{key}");
    }
    // Real latencies: a request over loopback takes more than 10 µs and less than 10 s.
    for key in ["p50", "p90", "p99", "max", "mean"] {
        let ms = report["latency_ms"][key].as_f64().unwrap();
        assert!((0.01..10_000.0).contains(&ms), "latency_ms.{key} = {ms}");
        assert!(report["latency_by_request_ms"]["post"][key].is_f64());
        assert!(report["click_latency_ms"][key].is_f64());
    }
    assert_eq!(u(&report["latency_ms"]["count"]), 200);
    assert_eq!(u(&report["click_latency_ms"]["count"]), 20);
    assert!(report["latency_by_request_ms"]["list"].is_null());
    assert!(report["clicks"]["per_s"].as_f64().unwrap() > 0.0);
    assert!(report["requests"]["posts_per_s"].as_f64().unwrap() > 0.0);
    // Two ~2 KiB images per save.
    let sent = u(&report["bytes"]["sent"]);
    assert!(
        (200 * 2 * 2048..200 * 2 * 2048 + 200 * 1024).contains(&sent),
        "bytes sent {sent}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn click_stops_at_the_duration_and_the_service_count_matches_the_report() {
    let app = App::start().await;
    let run = modu_load(&[
        "--url",
        &app.url(),
        "-c",
        "4",
        "-d",
        "1",
        "--output",
        "json",
    ])
    .await;
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    let report = run.json();

    assert_eq!(report["stopped_by"], "duration");
    let elapsed = report["elapsed_s"].as_f64().unwrap();
    assert!((1.0..3.0).contains(&elapsed), "elapsed {elapsed}");
    let posts = app.counts().await.posts;
    assert_eq!(u(&report["requests"]["post"]), posts);
    assert_eq!(app.resumes().await.len() as u64, posts);
    let clicks = u(&report["clicks"]["completed"]);
    let cut = u(&report["clicks"]["cut"]);
    assert!(clicks > 0, "{report}");
    assert!(cut <= 4, "at most one click per virtual user is cut: {cut}");
    // Whole clicks, plus at most 9 saves of each cut click.
    assert!(
        (clicks * 10..=clicks * 10 + cut * 9).contains(&posts),
        "{posts} posts for {clicks} clicks and {cut} cut"
    );
    assert_eq!(u(&report["errors"]["total"]), 0);
    assert!(app.problems().is_empty(), "{:?}", app.problems());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_seeds_an_empty_service_then_lists_and_opens_resumes() {
    let app = App::start().await;
    let run = modu_load(&[
        "--url",
        &app.url(),
        "--workload",
        "read",
        "-c",
        "4",
        "-d",
        "1",
        "--output",
        "json",
    ])
    .await;
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    let report = run.json();
    let counts = app.counts().await;

    // The setup submitted 10 resumes (unmeasured) so the list is not empty.
    assert_eq!(counts.posts, 10);
    assert_eq!(app.resumes().await.len(), 10);
    assert_eq!(u(&report["requests"]["post"]), 0);
    // One list was the setup's check.
    assert_eq!(u(&report["requests"]["list"]), counts.lists - 1);
    assert_eq!(u(&report["requests"]["detail"]), counts.details);
    assert!(counts.details > 0);
    assert_eq!(u(&report["reads"]["completed"]), counts.details);
    assert_eq!(
        u(&report["status"]["200"]),
        counts.lists - 1 + counts.details
    );
    assert_eq!(u(&report["errors"]["total"]), 0);
    assert!(report["latency_by_request_ms"]["list"]["p99"].is_f64());
    assert!(report["latency_by_request_ms"]["detail"]["p99"].is_f64());
    assert!(report["latency_by_request_ms"]["post"].is_null());
    assert!(app.problems().is_empty(), "{:?}", app.problems());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_does_one_click_per_ten_reads() {
    let app = App::start().await;
    // 11 users × (10 reads + 1 click) = 11 × 30 requests; the users are staggered, so
    // together they run every step of the cycle at once.
    let run = modu_load(&[
        "--url",
        &app.url(),
        "--workload",
        "mixed",
        "-c",
        "11",
        "-d",
        "30",
        "--max-requests",
        "330",
        "--images",
        "1",
        "--output",
        "json",
    ])
    .await;
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    let report = run.json();
    let clicks = u(&report["clicks"]["completed"]);
    let reads = u(&report["reads"]["completed"]);
    assert_eq!(u(&report["requests"]["post"]), clicks * 10);
    assert_eq!(u(&report["requests"]["list"]), reads);
    let ratio = reads as f64 / clicks as f64;
    assert!(
        (7.0..=13.0).contains(&ratio),
        "{reads} reads for {clicks} clicks"
    );
    assert_eq!(u(&report["errors"]["total"]), 0);
    // The measured saves and the setup's 10 seed resumes are all stored.
    let counts = app.counts().await;
    assert_eq!(counts.posts, clicks * 10 + 10);
    assert_eq!(app.resumes().await.len() as u64, counts.posts);
    assert!(app.problems().is_empty(), "{:?}", app.problems());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_service_is_reported_as_errors_by_kind_with_exit_code_5() {
    let server = Misbehaving::start(OnPost::Fail).await;
    let run = modu_load(&[
        "--url",
        &server.url(),
        "-c",
        "2",
        "-d",
        "30",
        "--max-requests",
        "40",
        "--output",
        "json",
    ])
    .await;
    assert_eq!(run.code, 5, "stderr:\n{}", run.stderr);
    let report = run.json();
    assert_eq!(server.posts.load(Ordering::SeqCst), 40);
    assert_eq!(u(&report["errors"]["5xx"]), 40);
    assert_eq!(u(&report["errors"]["total"]), 40);
    assert_eq!(u(&report["errors"]["4xx"]), 0);
    assert_eq!(u(&report["status"]["500"]), 40);
    let sample = report["errors"]["samples"]["5xx"].as_str().unwrap();
    assert!(
        sample.contains("500") && sample.contains("boom"),
        "{sample}"
    );
    // Clicks whose saves failed still finished: they count, as clicks with errors.
    assert_eq!(u(&report["clicks"]["with_errors"]), 4);
    assert_eq!(u(&report["clicks"]["completed"]), 0);

    // The table says the same to a person.
    let run = modu_load(&["--url", &server.url(), "-c", "1", "--max-requests", "10"]).await;
    assert_eq!(run.code, 5, "stderr:\n{}", run.stderr);
    assert!(
        run.stdout
            .contains("errors    10 (connect 0, timeout 0, 4xx 0, 5xx 10, other 0)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("first 5xx: POST /api/resumes answered 500"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_that_is_never_answered_is_a_timeout_and_the_run_still_ends() {
    let server = Misbehaving::start(OnPost::Stall).await;
    let run = modu_load(&[
        "--url",
        &server.url(),
        "-c",
        "1",
        "-d",
        "1",
        "--request-timeout",
        "1",
        "--output",
        "json",
    ])
    .await;
    assert_eq!(run.code, 5, "stderr:\n{}", run.stderr);
    let report = run.json();
    // The first save waits out its timeout, by then the duration is over: the click is cut.
    assert_eq!(server.posts.load(Ordering::SeqCst), 1);
    assert_eq!(u(&report["errors"]["timeout"]), 1);
    assert_eq!(u(&report["errors"]["total"]), 1);
    assert_eq!(u(&report["requests"]["answered"]), 0);
    assert_eq!(u(&report["clicks"]["cut"]), 1);
    assert!(report["latency_ms"].is_null(), "a timeout has no latency");
    assert!(run.took < Duration::from_secs(20), "took {:?}", run.took);
}

/// This machine's address on its main interface (not loopback), if it has one. Sends
/// nothing: connecting a UDP socket only picks a route.
fn non_loopback_ip() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_loopback_url_is_refused_without_allow_remote_and_nothing_is_sent() {
    let app = App::start_on("0.0.0.0:0").await;
    let ip = non_loopback_ip();
    let url = match ip {
        Some(ip) => format!("http://{ip}:{}", app.port),
        // No network interface: the refusal is still checked, on an address of a
        // documentation range.
        None => "http://192.0.2.1:8000".to_string(),
    };
    let run = modu_load(&["--url", &url, "-c", "2", "-d", "1"]).await;
    assert_eq!(
        run.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stderr.contains("is not a loopback address"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--allow-remote"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(run.took < Duration::from_secs(10));
    assert_eq!(app.counts().await.requests, 0);

    // The same address does reach the service once allowed, so the zero above means
    // something.
    if ip.is_some() {
        let run = modu_load(&[
            "--url",
            &url,
            "--allow-remote",
            "-c",
            "1",
            "--max-requests",
            "10",
            "--output",
            "json",
        ])
        .await;
        assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
        assert_eq!(app.counts().await.posts, 10);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_service_fails_the_setup_with_what_to_do() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let run = modu_load(&["--url", &format!("http://{closed}"), "-d", "1"]).await;
    assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
    assert!(
        run.stderr.contains("cannot reach the service"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("cargo run -p modu-app"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}

/// A loopback port nothing listens on (bound, then let go).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A throwaway redis-server of this test, without persistence, killed when dropped.
struct Redis {
    _child: Child,
    _dir: TempDir,
}

impl Redis {
    fn start_on(port: u16) -> Redis {
        let dir = tempfile::tempdir().expect("temp dir for redis");
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting redis-server (scripts/test.sh installs it)");
        Redis {
            _child: child,
            _dir: dir,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_still_starting_is_waited_for_then_loaded() {
    // The service's cache is not there yet, as on an instance that boots before the stack's
    // cache exists: the service listens and answers 503 naming what it waits for.
    let cache_port = free_port();
    let app = App::start_with_cache(&format!("redis://127.0.0.1:{cache_port}")).await;
    let started = Instant::now();
    let child = command(&[
        "--url",
        &app.url(),
        "-c",
        "2",
        "--max-requests",
        "20",
        "--wait-ready",
        "60",
        "--output",
        "json",
    ])
    .spawn()
    .expect("starting modu");

    // The cache comes up once modu has been told to wait.
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.counts().await.tasks == 0 {
        assert!(
            Instant::now() < deadline,
            "modu load never asked for the tasks"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _redis = Redis::start_on(cache_port);

    let run = finish(child, started).await;
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert!(
        run.stderr.contains(
            "the service is not ready (503 Service Unavailable: starting: waiting for cache"
        ),
        "{}",
        run.stderr
    );
    let report = run.json();
    assert_eq!(u(&report["requests"]["post"]), 20);
    assert_eq!(u(&report["errors"]["total"]), 0);
    let counts = app.counts().await;
    assert!(counts.tasks >= 2, "asked {} times", counts.tasks);
    assert_eq!(counts.posts, 20);
    // What the service logged was only its waiting for the cache, and its 503s to modu.
    for problem in app.problems() {
        let entry: Value = serde_json::from_str(&problem).unwrap();
        let waiting = entry["fields"]["message"] == "not ready yet";
        let unready_tasks = entry["fields"]["classification"]
            .as_str()
            .is_some_and(|c| c.contains("503"))
            && entry["span"]["uri"] == "/api/tasks";
        assert!(waiting || unready_tasks, "{problem}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_stays_unready_fails_the_setup_with_what_it_waits_for() {
    let app = App::start_with_cache(&format!("redis://127.0.0.1:{}", free_port())).await;
    let run = modu_load(&["--url", &app.url(), "-d", "1", "--wait-ready", "2"]).await;
    assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
    for said in [
        "was not ready after 2s",
        "503 Service Unavailable: starting: waiting for cache",
        "--wait-ready",
    ] {
        assert!(run.stderr.contains(said), "{said}:\n{}", run.stderr);
    }
    assert!(run.took < Duration::from_secs(15), "{:?}", run.took);
    assert!(run.stdout.is_empty());
    // Nothing but the question: no account was signed up.
    let counts = app.counts().await;
    assert!(counts.tasks >= 2, "asked {} times", counts.tasks);
    assert_eq!(counts.signups, 0);

    // --wait-ready 0 does not wait at all.
    let run = modu_load(&["--url", &app.url(), "-d", "1", "--wait-ready", "0"]).await;
    assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
    assert!(
        run.stderr.contains("was not ready after 0s"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_early_and_still_reports() {
    let app = App::start().await;
    let started = Instant::now();
    let child = command(&[
        "--url",
        &app.url(),
        "-c",
        "2",
        "-d",
        "60",
        "--output",
        "json",
    ])
    .spawn()
    .expect("starting modu");
    let pid = child.id().expect("a running child").to_string();
    // Wait until the measured phase runs (posts arrive), then interrupt.
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.posts_so_far() < 20 {
        assert!(Instant::now() < deadline, "no posts arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("running kill");
    assert!(status.success());
    let run = finish(child, started).await;
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert!(run.took < Duration::from_secs(30), "took {:?}", run.took);
    let report = run.json();
    assert_eq!(report["stopped_by"], "interrupted");
    assert!(u(&report["requests"]["post"]) >= 20);
    assert_eq!(u(&report["errors"]["total"]), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_numbers_are_refused_before_anything_is_sent() {
    let app = App::start().await;
    let run = modu_load(&["--url", &app.url(), "-c", "4", "--users", "5"]).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("--users 5 is out of range"),
        "{}",
        run.stderr
    );
    let run = modu_load(&["--url", &app.url(), "--max-requests", "5"]).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("does not allow one click"),
        "{}",
        run.stderr
    );
    assert_eq!(app.counts().await.requests, 0);
}

/// A forward proxy on a free loopback port that sends every request, whatever host it
/// names, to the service on `port`, and counts what it forwarded.
struct ForwardProxy {
    url: String,
    forwarded: Arc<AtomicU64>,
}

impl ForwardProxy {
    async fn start(port: u16) -> ForwardProxy {
        use axum::body::{Body, to_bytes};
        use axum::extract::Request;

        let forwarded = Arc::new(AtomicU64::new(0));
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let handler = {
            let forwarded = Arc::clone(&forwarded);
            move |request: Request| {
                let forwarded = Arc::clone(&forwarded);
                let http = http.clone();
                async move {
                    let path = request
                        .uri()
                        .path_and_query()
                        .map_or("/".to_string(), |p| p.to_string());
                    let (parts, body) = request.into_parts();
                    let body = to_bytes(body, usize::MAX).await.unwrap();
                    let mut upstream =
                        http.request(parts.method, format!("http://127.0.0.1:{port}{path}"));
                    for (name, value) in &parts.headers {
                        if name != "host" && name != "proxy-connection" {
                            upstream = upstream.header(name, value);
                        }
                    }
                    let answer = upstream.body(body).send().await.unwrap();
                    forwarded.fetch_add(1, Ordering::SeqCst);
                    let mut response = Response::builder().status(answer.status().as_u16());
                    for (name, value) in answer.headers() {
                        response = response.header(name.as_str(), value.as_bytes());
                    }
                    response
                        .body(Body::from(answer.bytes().await.unwrap()))
                        .unwrap()
                }
            }
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, Router::new().fallback(handler))
                .await
                .unwrap();
        });
        ForwardProxy { url, forwarded }
    }

    fn forwarded(&self) -> u64 {
        self.forwarded.load(Ordering::SeqCst)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_behind_a_proxy_on_this_machine_is_loaded_through_it() {
    modu::aws::tls::install_crypto_provider();
    let app = App::start().await;
    let proxy = ForwardProxy::start(app.port).await;
    // A name no resolver knows: only the proxy can reach it, and a proxy on this machine
    // makes it count as this machine's (no --allow-remote).
    let url = "http://resume.service.invalid/";
    let run = modu_load(&[
        "--url",
        url,
        "--proxy",
        &proxy.url,
        "-c",
        "1",
        "--max-requests",
        "10",
        "--output",
        "json",
    ])
    .await;
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert_eq!(app.counts().await.posts, 10);
    let through = proxy.forwarded();
    assert!(through > 10, "{through} requests forwarded");

    // HTTP_PROXY from the environment is honoured for a service elsewhere.
    let child = command(&[
        "--url",
        url,
        "--allow-remote",
        "-c",
        "1",
        "--max-requests",
        "10",
        "--output",
        "json",
    ])
    .env("HTTP_PROXY", &proxy.url)
    .env_remove("NO_PROXY")
    .spawn()
    .unwrap();
    let run = finish(child, Instant::now()).await;
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert_eq!(app.counts().await.posts, 20);
    assert!(proxy.forwarded() > through);

    // ... but not for the service on this machine, which the environment's proxy is not for.
    let before = proxy.forwarded();
    let child = command(&["--url", &app.url(), "-c", "1", "--max-requests", "10"])
        .env("HTTP_PROXY", &proxy.url)
        .spawn()
        .unwrap();
    assert_eq!(finish(child, Instant::now()).await.code, 0);
    assert_eq!(proxy.forwarded(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_proxy_or_ca_bundle_is_refused_before_anything_is_sent() {
    let app = App::start().await;
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    let missing = dir.path().join("missing.pem");
    let cases: [(&[&str], &str); 3] = [
        (
            &["--proxy", "socks5://127.0.0.1:1080"],
            "--proxy \"socks5://127.0.0.1:1080\" is not an http:// proxy URL",
        ),
        (
            &["--ca-bundle", not_pem.to_str().unwrap()],
            "holds no certificate",
        ),
        (
            &["--ca-bundle", missing.to_str().unwrap()],
            "cannot be read",
        ),
    ];
    let url = app.url();
    for (extra, said) in cases {
        let mut args = vec!["--url", url.as_str(), "-c", "1", "-d", "1"];
        args.extend_from_slice(extra);
        let run = modu_load(&args).await;
        assert_eq!(run.code, 1, "{extra:?}: {}", run.stderr);
        assert!(run.stderr.contains(said), "{extra:?}: {}", run.stderr);
    }
    assert_eq!(app.counts().await.requests, 0);
}
