//! Scale-in: on SIGTERM the service stops accepting connections but finishes the
//! uploads already in flight.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{small_jpeg, spawn_app};

fn multipart_body(boundary: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in [("name", "Kim"), ("motivation", "in flight"), ("task", "1")] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n\
             Content-Type: image/jpeg\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(&small_jpeg());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

#[tokio::test]
async fn an_upload_in_flight_completes_after_the_shutdown_signal() {
    let mut app = spawn_app().await;
    let token = app.user("kim").await;
    let addr = app.address.trim_start_matches("http://").to_owned();

    let body = multipart_body("XBOUNDARYX");
    let head = format!(
        "POST /api/resumes HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=XBOUNDARYX\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    stream.write_all(first).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    app.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream.write_all(rest).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert_eq!(app.count("resumes").await, 1);

    // No new connections once draining is over.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        TcpStream::connect(&addr).await.is_err(),
        "the listener is closed"
    );
}

#[tokio::test]
async fn a_stalled_upload_is_cut_off_by_the_request_timeout() {
    let app = crate::helpers::spawn_app_with(|s| s.request_timeout_secs = 1).await;
    let token = app.user("kim").await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    let body = multipart_body("XBOUNDARYX");
    let head = format!(
        "POST /api/resumes HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=XBOUNDARYX\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..body.len() / 2]).await.unwrap();
    // ...and the client never sends the rest.
    // Read until the JSON body has arrived (headers and body may come in separate reads).
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&received).ends_with('}') {
        let mut chunk = vec![0; 4096];
        let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
            .await
            .expect("answered before the test's own deadline")
            .unwrap();
        if n == 0 {
            break;
        }
        received.extend_from_slice(&chunk[..n]);
    }
    let response = String::from_utf8_lossy(&received);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(
        response.contains(r#""error":"the request took longer than the server allows""#),
        "{response}"
    );
    assert_eq!(app.count("resumes").await, 0);
    assert_eq!(app.count_objects().await, 0);
}

/// The same, for the real binary and a real SIGTERM, as an Auto Scaling group's scale-in
/// sends it: the listener closes at once, the upload in flight is answered 201 and is
/// on disk, and the process exits 0.
#[tokio::test]
async fn the_binary_drains_on_sigterm_and_exits_cleanly() {
    use tokio::io::AsyncBufReadExt;

    let dir = std::env::temp_dir().join(format!("modu-sigterm-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let db_url = format!("sqlite://{}/modu.db", dir.display());
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_modu-app"))
        .env_clear()
        .env("BIND", "127.0.0.1:0")
        .env("DATABASE_URL", &db_url)
        .env("MEDIA_DIR", dir.join("media"))
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting modu-app");
    let pid = child.id().expect("a running child") as libc::pid_t;

    // The address is in the "listening" log line; every line is kept for the end.
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if entry["fields"]["message"] == "listening" {
                return entry["fields"]["address"].as_str().unwrap().to_owned();
            }
        }
        panic!("modu-app exited before listening");
    })
    .await
    .expect("listening within 30 s");
    let log = tokio::spawn(async move {
        let mut rest = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            rest.push(line);
        }
        rest
    });

    crate::helpers::install_crypto_provider();
    let client = reqwest::Client::new();
    // It listens before its parts are up; like a load balancer, wait for /readyz.
    let ready = async {
        loop {
            let status = client.get(format!("http://{addr}/readyz")).send().await;
            if status.is_ok_and(|r| r.status() == reqwest::StatusCode::OK) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), ready)
        .await
        .expect("ready within 30 s");
    let token = crate::helpers::signup_token(&client, &format!("http://{addr}")).await;
    let token = token.as_str();

    let body = multipart_body("XBOUNDARYX");
    let head = format!(
        "POST /api/resumes HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=XBOUNDARYX\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    stream.write_all(first).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // SAFETY: kill only sends a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let refused = async {
        for _ in 0..50 {
            if TcpStream::connect(&addr).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    };
    assert!(refused.await, "new connections are refused while draining");

    stream.write_all(rest).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");

    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exited within 10 s of finishing the upload")
        .unwrap();
    assert!(status.success(), "exit status {status}");
    let log = log.await.unwrap();
    assert!(
        log.iter()
            .any(|l| l.contains("finishing in-flight requests")),
        "{log:?}"
    );
    assert!(log.iter().any(|l| l.contains("\"stopped\"")), "{log:?}");

    // What was acknowledged is there after the process is gone.
    let db = modu_app::db::Db::connect(&db_url, 1).await.unwrap();
    let resumes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM resumes")
        .fetch_one(&db.read)
        .await
        .unwrap();
    assert_eq!(resumes, 1);
    let key: String = sqlx::query_scalar("SELECT key FROM resume_images")
        .fetch_one(&db.read)
        .await
        .unwrap();
    let store = modu_app::storage::DiskStore::new(dir.join("media")).unwrap();
    use modu_app::storage::ImageStore;
    let stored = store
        .get(&key)
        .await
        .unwrap()
        .expect("the image is on disk");
    assert_eq!(stored.bytes.as_ref(), small_jpeg().as_slice());
    std::fs::remove_dir_all(&dir).unwrap();
}
