//! The fault-injecting proxy (`scripts/faults.py`) between modu and the emulator, and the
//! account inventory that fault tests compare with a fault-free run's.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tempfile::TempDir;

use super::{Aws, Emulator, aws_cli};

/// What the proxy injects, as its `/_faults/config` takes it: each rate a probability per
/// request; the decision for a call depends only on the seed and how many calls of its
/// operation came before it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Faults {
    pub seed: u64,
    pub throttle: f64,
    /// 500 or 503, half each.
    pub error: f64,
    pub reset: f64,
    /// Mutating calls only: forwarded, then answered with a 500.
    pub lost_reply: f64,
    pub latency_ms: u64,
    pub latency_rate: f64,
    /// Faults and latency on mutating calls only.
    pub only_mutating: bool,
    /// Operations whose first call is forwarded and then never answered: the caller is
    /// caught right after that change.
    pub hold_after: Vec<String>,
    /// Operations whose first call is forwarded and then answered with a 500: the change
    /// happened, its reply is lost.
    pub lose_reply_of: Vec<String>,
}

impl Faults {
    /// No fault, no latency: the proxy passes everything through.
    pub fn none() -> Faults {
        Faults {
            latency_rate: 1.0,
            ..Faults::default()
        }
    }

    /// The issue's mix: 10 % throttling, 5 % server errors, 8 % lost replies of mutating calls.
    pub fn issue_mix(seed: u64) -> Faults {
        Faults {
            seed,
            throttle: 0.10,
            error: 0.05,
            lost_reply: 0.08,
            ..Faults::none()
        }
    }

    /// `ms` of delay on every mutating call, and no fault: places a signal inside a resource.
    pub fn slow_mutations(ms: u64) -> Faults {
        Faults {
            latency_ms: ms,
            only_mutating: true,
            ..Faults::none()
        }
    }
}

impl Faults {
    /// No fault; the first call of each of `operations` is made and never answered.
    pub fn hold_after(operations: Vec<String>) -> Faults {
        Faults {
            hold_after: operations,
            ..Faults::none()
        }
    }

    /// No fault but a lost reply of the first call of each of `operations`.
    pub fn lose_reply_of(operations: Vec<String>) -> Faults {
        Faults {
            lose_reply_of: operations,
            ..Faults::none()
        }
    }
}

/// One fault the proxy injected, from its log.
#[derive(Debug, Clone, Deserialize)]
pub struct Injected {
    pub service: String,
    pub operation: String,
    pub fault: String,
}

/// The proxy, listening on a free loopback port; stopped when dropped.
pub struct FaultProxy {
    child: Child,
    url: String,
    dir: TempDir,
}

const PROXY_START_TIMEOUT: Duration = Duration::from_secs(60);

impl FaultProxy {
    /// Starts the proxy in front of `upstream` with `faults`.
    pub fn start(upstream: &Emulator, faults: &Faults) -> FaultProxy {
        let dir = tempfile::tempdir().expect("temp dir for the fault proxy");
        let stderr = fs::File::create(dir.path().join("stderr")).expect("proxy stderr file");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/faults.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .args([
                "--upstream",
                upstream.url(),
                "--port",
                "0",
                "--exit-on-stdin-eof",
            ])
            .arg("--log")
            .arg(dir.path().join("faults.jsonl"))
            // It exits when this pipe closes, so it cannot outlive a killed test.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", script.display()));
        let ready_rx = super::ready_line(&mut child);
        let mut proxy = FaultProxy {
            child,
            url: String::new(),
            dir,
        };
        match ready_rx.recv_timeout(PROXY_START_TIMEOUT) {
            Ok(url) => proxy.url = url,
            Err(_) => panic!(
                "the fault proxy did not start within {PROXY_START_TIMEOUT:?}\n{}",
                fs::read_to_string(proxy.dir.path().join("stderr")).unwrap_or_default()
            ),
        }
        proxy.set(faults);
        proxy
    }

    /// The endpoint to give modu instead of the emulator's.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Changes what the proxy injects from the next request on (and counts afresh).
    pub fn set(&self, faults: &Faults) {
        let body = serde_json::to_string(faults).expect("faults as JSON");
        let (status, answer) = self.control("POST", "config", &body);
        assert_eq!(status, 200, "the proxy refused {body}: {answer}");
    }

    /// Requests seen and faults injected since the last [`FaultProxy::set`].
    pub fn stats(&self) -> serde_json::Value {
        self.control("GET", "stats", "").1
    }

    /// Every fault injected since the proxy started, oldest first.
    pub fn injected(&self) -> Vec<Injected> {
        fs::read_to_string(self.dir.path().join("faults.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter(|line| !line.trim().is_empty())
            .filter_map(|line| serde_json::from_str::<Injected>(line).ok())
            .filter(|i| i.fault != "latency")
            .collect()
    }

    /// How many faults the proxy has logged so far: a mark for [`FaultProxy::met_since`].
    pub fn logged(&self) -> usize {
        self.injected().len()
    }

    /// The operations that met `fault` (`held`, `lost-reply`…) since the mark `since`.
    pub fn met_since(&self, fault: &str, since: usize) -> BTreeSet<String> {
        self.injected()
            .into_iter()
            .skip(since)
            .filter(|i| i.fault == fault)
            .map(|i| i.operation)
            .collect()
    }

    /// One control request: the status and the JSON answer (blocking: the proxy answers
    /// at once).
    fn control(&self, method: &str, what: &str, body: &str) -> (u16, serde_json::Value) {
        use std::io::{Read, Write};
        let address = self.url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).expect("connecting to the proxy");
        write!(
            stream,
            "{method} /_faults/{what} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("writing to the proxy");
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .expect("reading the proxy's answer");
        let (head, json) = answer
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        let json =
            serde_json::from_str(json).unwrap_or_else(|e| panic!("proxy answered {json:?}: {e}"));
        (status, json)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything of `stack` in the account, by kind: what carries its tag plus what is found
/// by its names (hosted zones, records, origin access controls, IAM, parameters, secrets,
/// log groups, dashboards). Ids differ between accounts; the counts per kind do not.
pub async fn inventory(cloud: &Emulator, aws: &Aws, stack: &str, zone: &str) -> Inventory {
    let mut items: Vec<String> = aws.tagged_with_stack(stack).await;
    for name in aws.origin_access_control_names().await {
        if name.starts_with(stack) {
            items.push(format!("origin-access-control {name}"));
        }
    }
    let zone_name = zone.trim_end_matches('.');
    for (id, name) in aws.hosted_zones().await {
        if name == zone_name {
            items.push(format!("zone-by-name {name}"));
            for record in aws.record_names(&id).await {
                items.push(format!("record {record}"));
            }
        }
    }
    for name in aws.dashboard_names().await {
        if name.starts_with(stack) {
            items.push(format!("dashboard {name}"));
        }
    }
    let path = format!("/modu/{stack}/");
    let log_prefix = format!("/modu/{stack}");
    for (kind, args, list, field) in [
        (
            "iam-role",
            vec!["iam", "list-roles", "--path-prefix", &path],
            "Roles",
            "RoleName",
        ),
        (
            "instance-profile",
            vec!["iam", "list-instance-profiles", "--path-prefix", &path],
            "InstanceProfiles",
            "InstanceProfileName",
        ),
        (
            "parameter",
            vec![
                "ssm",
                "get-parameters-by-path",
                "--recursive",
                "--path",
                &path,
            ],
            "Parameters",
            "Name",
        ),
        (
            "secret",
            vec!["secretsmanager", "list-secrets"],
            "SecretList",
            "Name",
        ),
        (
            "log-group",
            vec![
                "logs",
                "describe-log-groups",
                "--log-group-name-prefix",
                &log_prefix,
            ],
            "LogGroups",
            "logGroupName",
        ),
    ] {
        let answer = aws_cli(cloud, &args);
        for entry in answer[list].as_array().into_iter().flatten() {
            let name = entry[field].as_str().unwrap_or_default();
            let ours = match kind {
                "secret" => name.starts_with(&path[1..]),
                "log-group" => name == log_prefix || name.starts_with(&path),
                _ => true,
            };
            if ours {
                items.push(format!("{kind} {name}"));
            }
        }
    }
    let leases = aws_cli(
        cloud,
        &["ssm", "get-parameters-by-path", "--path", "/modu-leases/"],
    );
    for entry in leases["Parameters"].as_array().into_iter().flatten() {
        let name = entry["Name"].as_str().unwrap_or_default();
        if name == format!("/modu-leases/{stack}") {
            items.push(format!("lease {name}"));
        }
    }
    items.sort();
    Inventory { items }
}

/// What [`inventory`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Inventory {
    pub items: Vec<String>,
}

impl Inventory {
    /// How many of each kind.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for item in &self.items {
            let kind = item.split_once(' ').map_or(item.as_str(), |(k, _)| k);
            *counts.entry(kind.to_string()).or_insert(0) += 1;
        }
        counts
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl std::fmt::Display for Inventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for item in &self.items {
            writeln!(f, "  {item}")?;
        }
        Ok(())
    }
}
