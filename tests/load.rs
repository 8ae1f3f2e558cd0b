//! `modu load` end to end: the real binary against a small axum server started in the
//! test on a free port. The server mimics the resume service's API (sign-up, tasks,
//! multipart resumes with JPEG checks, list and detail), counts every request it gets,
//! and notes anything a real service would refuse; each test compares its counts with
//! the JSON report.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Multipart, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::process::Command;

/// Every run is bounded by its own -d; this only catches a hang.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------
// The imitation service
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    signups: AtomicU64,
    tasks: AtomicU64,
    posts: AtomicU64,
    lists: AtomicU64,
    details: AtomicU64,
}

#[derive(Default)]
struct Service {
    counts: Counts,
    /// Answer every resume POST with 500 (after reading it).
    fail_posts: bool,
    images_per_post: usize,
    tokens: Mutex<HashSet<String>>,
    resumes: Mutex<Vec<String>>,
    posts_by_token: Mutex<HashMap<String, u64>>,
    /// What a real service would have refused, described.
    problems: Mutex<Vec<String>>,
}

impl Service {
    fn problem(&self, what: String) -> Response {
        self.problems.lock().unwrap().push(what.clone());
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": what })),
        )
            .into_response()
    }

    fn count(&self, counter: &AtomicU64) -> u64 {
        let _ = self;
        counter.load(Ordering::SeqCst)
    }
}

struct Server {
    service: Arc<Service>,
    addr: SocketAddr,
}

impl Server {
    async fn start(service: Service) -> Server {
        Server::start_on("127.0.0.1:0", service).await
    }

    async fn start_on(bind: &str, service: Service) -> Server {
        let service = Arc::new(service);
        let app = Router::new()
            .route("/api/auth/signup", post(signup))
            .route("/api/tasks", get(tasks))
            .route("/api/resumes", get(list).post(create))
            .route("/api/resumes/{id}", get(detail))
            .layer(middleware::from_fn_with_state(
                Arc::clone(&service),
                count_all,
            ))
            .with_state(Arc::clone(&service));
        let listener = TcpListener::bind(bind)
            .await
            .expect("binding the test server");
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { service, addr }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn problems(&self) -> Vec<String> {
        self.service.problems.lock().unwrap().clone()
    }
}

async fn count_all(State(service): State<Arc<Service>>, request: Request, next: Next) -> Response {
    service.counts.requests.fetch_add(1, Ordering::SeqCst);
    next.run(request).await
}

async fn signup(State(service): State<Arc<Service>>, Json(body): Json<Value>) -> Response {
    service.counts.signups.fetch_add(1, Ordering::SeqCst);
    let username = body["username"].as_str().unwrap_or_default().to_string();
    let password = body["password"].as_str().unwrap_or_default();
    if !(3..=32).contains(&username.chars().count()) {
        return service.problem(format!("username {username:?} is not 3 to 32 characters"));
    }
    if password.len() < 8 || body["password_confirm"].as_str() != Some(password) {
        return service.problem(format!("bad password for {username}"));
    }
    let token = format!("token-{username}");
    if !service.tokens.lock().unwrap().insert(token.clone()) {
        return service.problem(format!("username {username} taken"));
    }
    (
        StatusCode::CREATED,
        Json(json!({ "token": token, "username": username })),
    )
        .into_response()
}

async fn tasks(State(service): State<Arc<Service>>) -> Json<Value> {
    service.counts.tasks.fetch_add(1, Ordering::SeqCst);
    Json(json!([{ "id": 1, "name": "SW 개발" }, { "id": 2, "name": "경영지원" }]))
}

async fn create(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    service.counts.posts.fetch_add(1, Ordering::SeqCst);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let Some(token) = token.filter(|t| service.tokens.lock().unwrap().contains(t)) else {
        service
            .problems
            .lock()
            .unwrap()
            .push("POST without a valid token".into());
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let mut fields = HashMap::new();
    let mut images: Vec<Vec<u8>> = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return service.problem(format!("malformed multipart: {e}")),
        };
        let name = field.name().unwrap_or_default().to_string();
        let content_type = field.content_type().map(str::to_string);
        let bytes = match field.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => return service.problem(format!("malformed multipart: {e}")),
        };
        if name == "image" {
            if content_type.as_deref() != Some("image/jpeg") {
                return service.problem(format!("image content type {content_type:?}"));
            }
            images.push(bytes.to_vec());
        } else {
            fields.insert(name, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    for required in ["name", "motivation", "task"] {
        if fields.get(required).is_none_or(|v| v.trim().is_empty()) {
            return service.problem(format!("missing {required}"));
        }
    }
    if !matches!(fields["task"].as_str(), "1" | "2") {
        return service.problem(format!("unknown task {:?}", fields["task"]));
    }
    if images.len() != service.images_per_post {
        return service.problem(format!(
            "{} images instead of {}",
            images.len(),
            service.images_per_post
        ));
    }
    for image in &images {
        if !image.starts_with(&[0xFF, 0xD8, 0xFF]) || !image.ends_with(&[0xFF, 0xD9]) {
            return service.problem("an image without JPEG SOI/EOI markers".into());
        }
        if imagesize::blob_size(image).is_err() {
            return service.problem("an image whose header does not decode".into());
        }
    }
    if images.len() > 1 && images.iter().collect::<HashSet<_>>().len() != images.len() {
        return service.problem("identical images in one form".into());
    }
    *service
        .posts_by_token
        .lock()
        .unwrap()
        .entry(token)
        .or_default() += 1;
    if service.fail_posts {
        return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
    }
    let id = {
        let mut resumes = service.resumes.lock().unwrap();
        let id = format!("r{:06}", resumes.len());
        resumes.push(id.clone());
        id
    };
    (
        StatusCode::CREATED,
        Json(json!({ "id": id, "name": fields["name"] })),
    )
        .into_response()
}

async fn list(State(service): State<Arc<Service>>) -> Json<Value> {
    service.counts.lists.fetch_add(1, Ordering::SeqCst);
    let resumes = service.resumes.lock().unwrap();
    let items: Vec<Value> = resumes
        .iter()
        .rev()
        .take(20)
        .map(|id| json!({ "id": id, "owner": "someone", "images": [] }))
        .collect();
    Json(json!({ "items": items, "next_cursor": null }))
}

async fn detail(State(service): State<Arc<Service>>, Path(id): Path<String>) -> Response {
    service.counts.details.fetch_add(1, Ordering::SeqCst);
    if service.resumes.lock().unwrap().contains(&id) {
        Json(json!({ "id": id })).into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
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

async fn finish(child: tokio::process::Child, started: Instant) -> Run {
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
async fn click_sends_whole_clicks_of_ten_saves_and_reports_what_the_server_counted() {
    let server = Server::start(Service {
        images_per_post: 2,
        ..Default::default()
    })
    .await;
    let run = modu_load(&[
        "--url",
        &server.url(),
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
    let counts = &server.service.counts;

    // --max-requests 200 is exactly 20 clicks: each reserves its 10 saves up front.
    assert_eq!(report["stopped_by"], "max_requests");
    assert_eq!(u(&report["clicks"]["completed"]), 20);
    assert_eq!(u(&report["clicks"]["cut"]), 0);
    assert_eq!(server.service.count(&counts.posts), 200);
    assert_eq!(u(&report["requests"]["post"]), 200);
    assert_eq!(u(&report["requests"]["sent"]), 200);
    assert_eq!(u(&report["status"]["201"]), 200);
    // Every virtual user has its own account and saved in whole clicks.
    let by_token = server.service.posts_by_token.lock().unwrap().clone();
    assert_eq!(by_token.len(), 4, "{by_token:?}");
    assert!(by_token.values().all(|n| n % 10 == 0), "{by_token:?}");
    assert_eq!(server.service.count(&counts.signups), 4);
    assert_eq!(u(&report["users"]), 4);
    assert!(server.problems().is_empty(), "{:?}", server.problems());

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
async fn click_stops_at_the_duration_and_the_server_count_matches_the_report() {
    let server = Server::start(Service {
        images_per_post: 2,
        ..Default::default()
    })
    .await;
    let run = modu_load(&[
        "--url",
        &server.url(),
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
    let posts = server.service.count(&server.service.counts.posts);
    assert_eq!(u(&report["requests"]["post"]), posts);
    let clicks = u(&report["clicks"]["completed"]);
    let cut = u(&report["clicks"]["cut"]);
    assert!(clicks > 0, "{report}");
    assert!(cut <= 4, "at most one click per virtual user is cut: {cut}");
    // Whole clicks, plus at most 9 saves of each cut click.
    assert!(
        (clicks * 10..=clicks * 10 + cut * 9).contains(&posts),
        "{posts} posts for {clicks} clicks and {cut} cut"
    );
    assert!(server.problems().is_empty(), "{:?}", server.problems());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_seeds_an_empty_service_then_lists_and_opens_resumes() {
    let server = Server::start(Service {
        images_per_post: 2,
        ..Default::default()
    })
    .await;
    let run = modu_load(&[
        "--url",
        &server.url(),
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
    let counts = &server.service.counts;

    // The setup submitted 10 resumes (unmeasured) so the list is not empty.
    assert_eq!(server.service.count(&counts.posts), 10);
    assert_eq!(u(&report["requests"]["post"]), 0);
    let lists = server.service.count(&counts.lists);
    let details = server.service.count(&counts.details);
    // One list was the setup's check.
    assert_eq!(u(&report["requests"]["list"]), lists - 1);
    assert_eq!(u(&report["requests"]["detail"]), details);
    assert!(details > 0);
    assert_eq!(u(&report["reads"]["completed"]), details);
    assert_eq!(u(&report["status"]["200"]), lists - 1 + details);
    assert_eq!(u(&report["errors"]["total"]), 0);
    assert!(report["latency_by_request_ms"]["list"]["p99"].is_f64());
    assert!(report["latency_by_request_ms"]["detail"]["p99"].is_f64());
    assert!(report["latency_by_request_ms"]["post"].is_null());
    assert!(server.problems().is_empty(), "{:?}", server.problems());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_does_one_click_per_ten_reads() {
    let server = Server::start(Service {
        images_per_post: 1,
        ..Default::default()
    })
    .await;
    // 11 users × (10 reads + 1 click) = 11 × 30 requests; the users are staggered, so
    // together they run every step of the cycle at once.
    let run = modu_load(&[
        "--url",
        &server.url(),
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
    assert!(server.problems().is_empty(), "{:?}", server.problems());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_service_is_reported_as_errors_by_kind_with_exit_code_5() {
    let server = Server::start(Service {
        images_per_post: 2,
        fail_posts: true,
        ..Default::default()
    })
    .await;
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
    let server = Server::start_on(
        "0.0.0.0:0",
        Service {
            images_per_post: 2,
            ..Default::default()
        },
    )
    .await;
    let ip = non_loopback_ip();
    let url = match ip {
        Some(ip) => format!("http://{ip}:{}", server.addr.port()),
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
    assert_eq!(server.service.count(&server.service.counts.requests), 0);

    // The same address does reach the server once allowed, so the zero above means
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
        assert_eq!(server.service.count(&server.service.counts.posts), 10);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_early_and_still_reports() {
    let server = Server::start(Service {
        images_per_post: 2,
        ..Default::default()
    })
    .await;
    let started = Instant::now();
    let child = command(&[
        "--url",
        &server.url(),
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
    while server.service.count(&server.service.counts.posts) < 20 {
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
    let server = Server::start(Service::default()).await;
    let run = modu_load(&["--url", &server.url(), "-c", "4", "--users", "5"]).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("--users 5 is out of range"),
        "{}",
        run.stderr
    );
    let run = modu_load(&["--url", &server.url(), "--max-requests", "5"]).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("does not allow one click"),
        "{}",
        run.stderr
    );
    assert_eq!(server.service.count(&server.service.counts.requests), 0);
}
