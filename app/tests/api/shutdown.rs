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
