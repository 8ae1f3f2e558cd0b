//! Clients that misbehave on purpose: slow or idle connections, too many of them,
//! lying image headers, a user filling the disk, a flood of large uploads, and the
//! headers every answer carries; and the binary's `--help` keeping secrets.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::multipart::Form;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, assert_refused, spawn_app, spawn_app_with, text_form, with_image};
use crate::images;

fn host(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection or `limit` passes; `None` if it is
/// still open then. Whatever arrived before the close is returned.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(received),
            Ok(Ok(n)) => received.extend_from_slice(&chunk[..n]),
        }
    }
}

/// One keep-alive `GET /healthz` on `stream`, answered in full.
async fn get_healthz(stream: &mut TcpStream, host: &str) -> String {
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    while !String::from_utf8_lossy(&received).ends_with('}') {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("answered within 5 s")
            .unwrap();
        assert!(n > 0, "closed before answering");
        received.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(received).unwrap()
}

#[tokio::test]
async fn a_request_head_sent_halfway_is_cut_off_after_the_header_timeout() {
    let app = spawn_app_with(|s| s.header_read_timeout_secs = 1).await;
    let mut stream = TcpStream::connect(host(&app)).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: slow")
        .await
        .unwrap();
    let received = read_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .expect("closed within 5 s");
    let took = started.elapsed();
    assert!(received.is_empty(), "no answer to half a head");
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(3)).contains(&took),
        "closed after {took:?}"
    );

    // A client that connects and sends nothing is held to the same deadline.
    let mut silent = TcpStream::connect(host(&app)).await.unwrap();
    assert!(
        read_until_closed(&mut silent, Duration::from_secs(5))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout_and_not_before() {
    let app = spawn_app_with(|s| {
        s.idle_timeout_secs = 1;
        s.header_read_timeout_secs = 30;
    })
    .await;
    let host = host(&app);
    let mut stream = TcpStream::connect(&host).await.unwrap();
    // Requests closer together than the idle timeout keep it open…
    for _ in 0..3 {
        let answer = get_healthz(&mut stream, &host).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    // …an idle spell longer than it closes it, long before the 30 s header timeout.
    let idle_from = Instant::now();
    let received = read_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .expect("closed within 5 s");
    assert!(received.is_empty());
    assert!(idle_from.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let app = spawn_app_with(|s| s.max_connections = 2).await;
    let host = host(&app);
    let first = TcpStream::connect(&host).await.unwrap();
    let _second = TcpStream::connect(&host).await.unwrap();
    // Let the server accept both before the third arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut third = TcpStream::connect(&host).await.unwrap();
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    third.write_all(request.as_bytes()).await.unwrap();
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(800), third.read(&mut byte)).await;
    assert!(
        early.is_err(),
        "the third connection waits while two are open"
    );

    drop(first);
    let answer = read_until_closed(&mut third, Duration::from_secs(5))
        .await
        .expect("answered once a slot freed");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).map(|v| v.to_str().unwrap())
}

/// The headers every answer carries, and HSTS exactly when the viewer used HTTPS.
fn assert_common(resp: &reqwest::Response, https: bool, what: &str) {
    assert_eq!(
        header(resp, "x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        header(resp, "referrer-policy"),
        Some("strict-origin-when-cross-origin"),
        "{what}"
    );
    let csp = header(resp, "content-security-policy").unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert_eq!(
        header(resp, "strict-transport-security").is_some(),
        https,
        "{what}: HSTS only over HTTPS"
    );
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_tokens_are_never_cached() {
    let app = spawn_app_with(|s| {
        s.media_base_url = Some("https://d111.cloudfront.net/media".to_owned());
    })
    .await;
    for (proto_header, https) in [
        (None, false),
        (Some(("x-forwarded-proto", "https")), true),
        (Some(("cloudfront-forwarded-proto", "https")), true),
        (Some(("x-forwarded-proto", "http")), false),
    ] {
        let get = |path: &str| {
            let mut req = app.client.get(app.url(path));
            if let Some((name, value)) = proto_header {
                req = req.header(name, value);
            }
            req.send()
        };
        let page = get("/").await.unwrap();
        assert_common(&page, https, "page");
        let csp = header(&page, "content-security-policy").unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' blob: https://d111.cloudfront.net",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(directive), "{directive} in {csp}");
        }
        let api = get("/api/tasks").await.unwrap();
        assert_eq!(api.status(), StatusCode::OK);
        assert_common(&api, https, "api");
        let missing = get("/api/nothing-here").await.unwrap();
        assert_common(&missing, https, "404");
    }

    let signup = app
        .signup("kim", crate::helpers::PASSWORD, crate::helpers::PASSWORD)
        .await;
    assert_eq!(signup.status(), StatusCode::CREATED);
    assert_common(&signup, false, "sign-up");
    assert_eq!(header(&signup, "cache-control"), Some("no-store"));
    let login = app
        .client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-proto", "https")
        .json(&serde_json::json!({"username": "kim", "password": crate::helpers::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    assert_common(&login, true, "login");
    assert_eq!(header(&login, "cache-control"), Some("no-store"));
    assert!(header(&login, "set-cookie").is_some());
}

/// A PNG of `width`×`height` whose only pixel data is one empty stored block: the
/// header says one thing, the file's size another.
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut png = images::png(1, 1);
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    // The IHDR checksum no longer matches; the service reads sizes, not checksums.
    png
}

#[tokio::test]
async fn images_declaring_absurd_sizes_are_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let token = app.user("kim").await;
    let before = app.written().await;
    let bomb = png_declaring(20_000, 20_000);
    assert!(bomb.len() < 100, "a {}-byte file", bomb.len());
    for (png, reason) in [
        (bomb, "out of range"),
        (png_declaring(8_000, 6_000), "megapixels"),
        // Within both bounds, but 36 million pixels in a few dozen bytes.
        (png_declaring(9_000, 4_000), "no real image"),
    ] {
        let form = with_image(text_form("Kim", "bombs", "1"), png, "p.png", "image/png");
        let body = assert_refused(
            app.post_resume(Some(&token), form).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "image",
        )
        .await;
        assert!(body["error"].as_str().unwrap().contains(reason), "{body}");
    }
    assert_eq!(app.written().await, before);
}

fn jpeg_form(count: usize, bytes: usize) -> Form {
    let mut form = text_form("Kim", "a portfolio", "2");
    for i in 0..count {
        form = with_image(
            form,
            images::jpeg(16, 16, bytes),
            &format!("{i}.jpg"),
            "image/jpeg",
        );
    }
    form
}

#[tokio::test]
async fn each_user_stores_at_most_their_quota_of_image_bytes() {
    let app = spawn_app_with(|s| s.user_quota_mb = 1).await;
    let kim = app.user("kim").await;
    let created = app.post_resume(Some(&kim), jpeg_form(2, 400_000)).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let resume: Value = created.json().await.unwrap();

    let before = app.written().await;
    let body = assert_refused(
        app.post_resume(Some(&kim), jpeg_form(1, 400_000)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "image",
    )
    .await;
    assert!(body["error"].as_str().unwrap().contains("quota"), "{body}");
    // An edit adding an image is held to the quota too…
    let id = resume["id"].as_str().unwrap();
    let add = with_image(
        Form::new(),
        images::jpeg(16, 16, 400_000),
        "c.jpg",
        "image/jpeg",
    );
    assert_refused(
        app.edit_form(&kim, id, add).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "image",
    )
    .await;
    assert_eq!(app.written().await, before);
    // …but counts what it removes.
    let swap = with_image(
        Form::new().text(
            "remove_image",
            resume["images"][0]["key"].as_str().unwrap().to_owned(),
        ),
        images::jpeg(16, 16, 400_000),
        "c.jpg",
        "image/jpeg",
    );
    assert_eq!(app.edit_form(&kim, id, swap).await.status(), StatusCode::OK);

    // The quota is per user.
    let lee = app.user("lee").await;
    let other = app.post_resume(Some(&lee), jpeg_form(2, 400_000)).await;
    assert_eq!(other.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn an_upload_finding_the_memory_budget_full_waits_then_gets_503() {
    // One image of at most 1 MiB: the budget is one largest body (2 MiB).
    let app = spawn_app_with(|s| {
        s.max_image_mb = 1;
        s.max_images = 1;
        s.upload_memory_mb = 1;
        s.upload_wait_secs = 1;
    })
    .await;
    let token = app.user("kim").await;
    let host = host(&app);

    // A client announces a 2 MiB form and sends only its start: it holds the budget.
    let mut hog = TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /api/resumes HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=B\r\nContent-Length: {}\r\n\r\n--B\r\n",
        2 * 1024 * 1024
    );
    hog.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    let refused = app.post_resume(Some(&token), jpeg_form(1, 100_000)).await;
    assert!(started.elapsed() >= Duration::from_millis(900), "it waited");
    assert_eq!(refused.headers()["retry-after"], "5");
    assert_refused(refused, StatusCode::SERVICE_UNAVAILABLE, "body").await;

    // The hog goes away: its share comes back.
    drop(hog);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let saved = app.post_resume(Some(&token), jpeg_form(1, 100_000)).await;
    assert_eq!(saved.status(), StatusCode::CREATED);
}

/// The real binary's `--help` with secrets in the environment.
#[tokio::test]
async fn help_never_prints_the_secrets_in_the_environment() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_modu-app"))
        .arg("--help")
        .env(
            "DATABASE_URL",
            "postgres://modu:pg-s3cret-pw@db.internal:5432/modu",
        )
        .env(
            "REDIS_URL",
            "rediss://:redis-s3cret-token@cache.internal:6379",
        )
        .output()
        .await
        .expect("running modu-app --help");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("DATABASE_URL"), "{help}");
    assert!(help.contains("REDIS_URL"), "{help}");
    for secret in [
        "pg-s3cret-pw",
        "redis-s3cret-token",
        "db.internal",
        "cache.internal",
    ] {
        assert!(!help.contains(secret), "{secret} in --help:\n{help}");
    }
}

/// `VmHWM` (peak resident set) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

/// The real binary, 50 maximal saves at once (5 images of 1 MiB each with these
/// limits, 250 MiB in all) and an 8 MiB upload budget: the peak resident set grows by
/// a bounded amount, not by the 250 MiB that arrive.
#[tokio::test]
async fn memory_stays_flat_under_fifty_parallel_maximal_saves() {
    use tokio::io::AsyncBufReadExt;

    let dir = std::env::temp_dir().join(format!("modu-rss-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_modu-app"))
        .env_clear()
        .env("BIND", "127.0.0.1:0")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/modu.db", dir.display()),
        )
        .env("MEDIA_DIR", dir.join("media"))
        .env("RUST_LOG", "info")
        .env("MAX_IMAGE_MB", "1")
        .env("MAX_IMAGES", "5")
        .env("UPLOAD_MEMORY_MB", "8")
        .env("UPLOAD_WAIT_SECS", "60")
        .env("REQUEST_TIMEOUT_SECS", "90")
        .env("USER_QUOTA_MB", "1024")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting modu-app");
    let pid = child.id().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let entry: Value = serde_json::from_str(&line).unwrap_or_default();
            if entry["fields"]["message"] == "listening" {
                return entry["fields"]["address"].as_str().unwrap().to_owned();
            }
        }
        panic!("modu-app exited before listening");
    })
    .await
    .expect("listening within 30 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    crate::helpers::install_crypto_provider();
    let client = reqwest::Client::new();
    let base = format!("http://{addr}");
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let ready = client.get(format!("{base}/readyz")).send().await;
            if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("ready within 30 s");
    let token = crate::helpers::signup_token(&client, &base).await;
    // One small save first, so the baseline includes every pool and buffer warmed up.
    let warm = client
        .post(format!("{base}/api/resumes"))
        .bearer_auth(&token)
        .multipart(jpeg_form(1, 2048))
        .send()
        .await
        .unwrap();
    assert_eq!(warm.status(), StatusCode::CREATED);
    let baseline = peak_rss_kib(pid);

    let image = images::jpeg(16, 16, 1024 * 1024 - 64);
    let started = Instant::now();
    let saves = (0..50).map(|_| {
        let mut form = text_form("Kim", "a portfolio", "2");
        for i in 0..5 {
            form = with_image(form, image.clone(), &format!("{i}.jpg"), "image/jpeg");
        }
        client
            .post(format!("{base}/api/resumes"))
            .bearer_auth(&token)
            .multipart(form)
            .send()
    });
    let answers = futures::future::join_all(saves).await;
    let took = started.elapsed();
    for answer in answers {
        assert_eq!(answer.unwrap().status(), StatusCode::CREATED);
    }
    let peak = peak_rss_kib(pid);
    let grown_mib = peak.saturating_sub(baseline) / 1024;
    eprintln!(
        "peak RSS {} MiB, baseline {} MiB, grown {grown_mib} MiB; 50 saves in {took:?}",
        peak / 1024,
        baseline / 1024
    );
    // The 8 MiB budget plus the copies of the one body being read (13 MiB measured);
    // with a budget too large to bind, the same run grew by 229 MiB.
    assert!(grown_mib < 32, "peak RSS grew by {grown_mib} MiB");
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
}
