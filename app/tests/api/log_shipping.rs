//! The deployed service ships its own log lines to the stack's log group: the real
//! binary, configured from the stack's parameters in moto, writes its JSON lines to
//! stdout and to CloudWatch Logs (moto) — every line, stamped when it was produced,
//! the last ones flushed after SIGTERM.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use aws_sdk_s3::config::{Credentials, Region, SharedCredentialsProvider};
use modu_wire::transport::{Service, Transport};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use uuid::Uuid;

use crate::helpers::install_crypto_provider;
use crate::services;

const SSM: Service = Service {
    signing_name: "ssm",
    service_id: "SSM",
    endpoint_prefix: "ssm",
    global: false,
};

const LOGS: Service = Service {
    signing_name: "logs",
    service_id: "CloudWatch Logs",
    endpoint_prefix: "logs",
    global: false,
};

/// Where the shipper's own diagnostics come from: stdout only, never shipped.
const SHIPPER: &str = "modu_app::log_shipping";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A stack in moto: its parameter path names a log group (created or not).
struct Stack {
    endpoint: String,
    name: String,
    group: String,
    ssm: Arc<Transport>,
    logs: Arc<Transport>,
}

impl Stack {
    async fn new() -> Stack {
        install_crypto_provider();
        let endpoint = services::ensure().s3_endpoint;
        let config = SdkConfig::builder()
            .region(Region::new("us-east-1"))
            .endpoint_url(&endpoint)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "test", "test", None, None, "test",
            )))
            .build();
        let name = format!("t{}", Uuid::new_v4().simple());
        let stack = Stack {
            group: format!("/modu/{name}"),
            endpoint,
            name,
            ssm: Transport::new(&config, SSM),
            logs: Transport::new(&config, LOGS),
        };
        stack
            .ssm
            .json(
                "AmazonSSM.PutParameter",
                &json!({
                    "Name": format!("/modu/{}/log-group", stack.name),
                    "Value": stack.group,
                    "Type": "String",
                }),
            )
            .await
            .expect("putting the log-group parameter");
        stack
    }

    async fn create_log_group(&self) {
        self.logs
            .json(
                "Logs_20140328.CreateLogGroup",
                &json!({ "logGroupName": self.group }),
            )
            .await
            .expect("creating the log group");
    }

    /// Every event in the group, all streams.
    async fn events(&self) -> Vec<Event> {
        let mut events = Vec::new();
        let mut input = json!({ "logGroupName": self.group });
        loop {
            let page = self
                .logs
                .json("Logs_20140328.FilterLogEvents", &input)
                .await
                .expect("reading the log group");
            for event in page["events"].as_array().into_iter().flatten() {
                events.push(Event {
                    stream: event["logStreamName"].as_str().unwrap().to_owned(),
                    timestamp: event["timestamp"].as_i64().unwrap(),
                    ingested: event["ingestionTime"].as_i64().unwrap(),
                    message: event["message"].as_str().unwrap().to_owned(),
                });
            }
            match page["nextToken"].as_str() {
                Some(token) => input["nextToken"] = json!(token),
                None => return events,
            }
        }
    }

    /// The events once `wanted` holds of them, polled for up to `within`.
    async fn events_when(&self, within: Duration, wanted: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let events = self.events().await;
            if wanted(&events) {
                return events;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not shipped within {within:?}; shipped: {events:#?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

#[derive(Debug)]
struct Event {
    stream: String,
    timestamp: i64,
    ingested: i64,
    message: String,
}

impl Event {
    fn json(&self) -> Value {
        serde_json::from_str(&self.message).unwrap_or_default()
    }

    fn says(&self, message: &str) -> bool {
        self.json()["fields"]["message"] == message
    }

    fn of_request(&self, id: &str) -> bool {
        self.json()["span"]["request_id"] == id
    }
}

/// The real binary, run as an instance runs it: with the stack's parameter path and the
/// standard AWS settings, SQLite and local disk; every stdout line is kept.
struct Instance {
    child: tokio::process::Child,
    address: String,
    stdout: Arc<Mutex<Vec<String>>>,
    reader: tokio::task::JoinHandle<()>,
    dir: std::path::PathBuf,
}

impl Instance {
    async fn start(stack: &Stack) -> Instance {
        let dir = std::env::temp_dir()
            .join("modu-app-tests")
            .join(&stack.name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_modu-app"))
            .env_clear()
            .env("BIND", "127.0.0.1:0")
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/modu.db", dir.display()),
            )
            .env("MEDIA_DIR", dir.join("media"))
            // Request lines are debug lines of tower_http, in the request's span.
            .env("RUST_LOG", "info,tower_http=debug")
            .env("MODU_PARAMETERS", format!("/modu/{}/", stack.name))
            .env("AWS_ENDPOINT_URL", &stack.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting modu-app");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let kept = stdout.clone();
        let reader = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                kept.lock().unwrap().push(line);
            }
        });

        let listening = async {
            loop {
                let address = stdout.lock().unwrap().iter().find_map(|line| {
                    let entry: Value = serde_json::from_str(line).ok()?;
                    (entry["fields"]["message"] == "listening")
                        .then(|| entry["fields"]["address"].as_str().unwrap().to_owned())
                });
                if let Some(address) = address {
                    return address;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let address = tokio::time::timeout(Duration::from_secs(30), listening)
            .await
            .expect("listening within 30 s");
        let instance = Instance {
            child,
            address: format!("http://{address}"),
            stdout,
            reader,
            dir,
        };
        instance.wait_until_ready().await;
        instance
    }

    /// Like a load balancer: until `/readyz` answers 200.
    async fn wait_until_ready(&self) {
        let client = reqwest::Client::new();
        let url = format!("{}/readyz", self.address);
        let ready = async {
            loop {
                let answer = client.get(&url).send().await;
                if answer.is_ok_and(|r| r.status() == reqwest::StatusCode::OK) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), ready)
            .await
            .expect("ready within 30 s");
    }

    /// `GET /api/tasks` with a request id of our own; the window in which its lines
    /// were produced (ms since the epoch).
    async fn request(&self, id: &str) -> (i64, i64) {
        let before = now_ms();
        let answer = reqwest::Client::new()
            .get(format!("{}/api/tasks", self.address))
            .header("x-request-id", id)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), reqwest::StatusCode::OK);
        (before, now_ms())
    }

    /// SIGTERM, as a scale-in sends it; the exit is awaited and every stdout line read.
    async fn stop(mut self) -> Vec<String> {
        let pid = self.child.id().expect("a running child") as libc::pid_t;
        // SAFETY: kill only sends a signal to the child this test started.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("exited within 20 s of SIGTERM")
            .unwrap();
        assert!(status.success(), "exit status {status}");
        self.reader.await.unwrap();
        let _ = std::fs::remove_dir_all(&self.dir);
        std::mem::take(&mut *self.stdout.lock().unwrap())
    }
}

fn target(line: &str) -> String {
    let entry: Value = serde_json::from_str(line).unwrap_or_default();
    entry["target"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn the_service_ships_its_lines_to_the_stack_log_group_and_flushes_them_on_sigterm() {
    let stack = Stack::new().await;
    stack.create_log_group().await;
    let instance = Instance::start(&stack).await;
    let pid = instance.child.id().unwrap();
    let id = Uuid::new_v4().to_string();
    let (before, after) = instance.request(&id).await;

    // Shipped while running, within a flush interval or so.
    let events = stack
        .events_when(Duration::from_secs(30), |events| {
            events.iter().any(|e| e.says("listening")) && events.iter().any(|e| e.of_request(&id))
        })
        .await;
    let line = events.iter().find(|e| e.of_request(&id)).unwrap();
    assert!(
        (before..=after).contains(&line.timestamp),
        "stamped when produced ({before}..={after}), not when shipped: {line:?}"
    );

    let stdout = instance.stop().await;
    // Nothing can have shipped "stopped" but the flush on the way out.
    let events = stack.events().await;
    assert!(events.iter().any(|e| e.says("stopped")), "{events:#?}");

    // One stream, this process's own.
    let stream = &events[0].stream;
    assert!(stream.ends_with(&format!("/{pid}")), "{stream}");
    assert!(events.iter().all(|e| &e.stream == stream));
    assert!(
        stdout
            .iter()
            .any(|l| l.contains("shipping logs to CloudWatch Logs") && l.contains(stream.as_str())),
        "{stdout:#?}"
    );

    // Every line of stdout but the shipper's own is shipped, once, as it was written.
    let mut written: Vec<&str> = stdout
        .iter()
        .filter(|l| !target(l).starts_with(SHIPPER))
        .map(String::as_str)
        .collect();
    let mut shipped: Vec<&str> = events.iter().map(|e| e.message.as_str()).collect();
    written.sort_unstable();
    shipped.sort_unstable();
    assert_eq!(shipped, written);
    assert!(
        events.iter().all(|e| e.timestamp <= e.ingested),
        "{events:#?}"
    );
}

#[tokio::test]
async fn lines_wait_for_a_log_group_that_appears_later_and_keep_the_time_they_were_produced() {
    let stack = Stack::new().await;
    let instance = Instance::start(&stack).await;
    let id = Uuid::new_v4().to_string();
    instance.request(&id).await;
    // Let the shipper fail at least once on the missing group.
    let failed = async {
        loop {
            let seen = instance.stdout.lock().unwrap().iter().any(|l| {
                target(l).starts_with(SHIPPER) && l.contains("cannot create the log stream")
            });
            if seen {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), failed)
        .await
        .expect("the shipper tried within 20 s");

    let created = now_ms();
    stack.create_log_group().await;
    let events = stack
        .events_when(Duration::from_secs(60), |events| {
            events.iter().any(|e| e.of_request(&id))
        })
        .await;
    let line = events.iter().find(|e| e.of_request(&id)).unwrap();
    assert!(
        line.timestamp < created && created <= line.ingested,
        "produced before the group existed, shipped after (group at {created}): {line:?}"
    );
    assert!(events.iter().any(|e| e.says("listening")));
    // The shipper's complaints stayed on stdout.
    assert!(
        !events
            .iter()
            .any(|e| e.message.contains("cannot create the log stream")),
        "{events:#?}"
    );
    instance.stop().await;
}
