//! `modu up` of the reference stack on the local cloud (scripts/local-cloud.sh): the
//! instances boot the stack's boot script, the load balancer carries real requests to them,
//! and the stack's names lead there through the cloud's proxy: the load balancer's, a record
//! aliased to it, and the distribution's over HTTPS. `down` powers the instances off.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use support::*;

/// An HTTP client that reaches the cloud through its proxy, trusts its CA, and does not
/// follow redirects (so a test sees them).
fn through_proxy(cloud: &Emulator) -> reqwest::Client {
    modu::aws::tls::install_crypto_provider();
    let ca = std::fs::read(&cloud.local().ca_bundle).expect("the local cloud's CA");
    reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(&cloud.local().http_proxy).unwrap())
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn wait_for_healthy_targets(cloud: &Emulator, count: usize) {
    let elbv2 = aws_sdk_elasticloadbalancingv2::Client::new(&sdk_config(cloud).await);
    let group = elbv2
        .describe_target_groups()
        .names("modu-tg")
        .send()
        .await
        .unwrap()
        .target_groups()[0]
        .clone();
    wait_until("the targets healthy", Duration::from_secs(60), async || {
        let health = elbv2
            .describe_target_health()
            .target_group_arn(group.target_group_arn().unwrap())
            .send()
            .await
            .unwrap();
        let states: Vec<_> = health
            .target_health_descriptions()
            .iter()
            .map(|d| {
                d.target_health()
                    .and_then(|h| h.state())
                    .map(|s| s.as_str().to_string())
            })
            .collect();
        states.len() == count && states.iter().all(|s| s.as_deref() == Some("healthy"))
    })
    .await;
}

async fn group_members(cloud: &Emulator) -> BTreeSet<String> {
    aws_sdk_autoscaling::Client::new(&sdk_config(cloud).await)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("modu-asg")
        .send()
        .await
        .unwrap()
        .auto_scaling_groups()[0]
        .instances()
        .iter()
        .map(|i| i.instance_id().unwrap().to_string())
        .collect()
}

/// The instance id the demo app answered with (`{"instance": …, "zone": …}`).
async fn answering_instance(http: &reqwest::Client, url: &str) -> String {
    let response = http
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 200, "GET {url}: {body}");
    let answer: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body}: {e}"));
    answer["instance"]
        .as_str()
        .expect("an instance id")
        .to_string()
}

async fn wait_until(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn up_serves_the_boot_scripts_app_through_the_load_balancer_and_down_stops_it() {
    let cloud = Emulator::local_cloud();
    let dir = tempfile::tempdir().unwrap();
    // Checks every 6 s instead of 15, and the record aliased to the load balancer.
    let spec = reference_stack(
        dir.path(),
        Boot::Demo,
        &[
            ("interval: 15", "interval: 6"),
            ("target: cdn", "target: load_balancer"),
        ],
    );
    let run = modu(&cloud, &["up", "-f", arg(&spec), "--yes"]).await;
    run.expect_success();

    let config = sdk_config(&cloud).await;
    let elbv2 = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let balancer = elbv2
        .describe_load_balancers()
        .names("modu-lb")
        .send()
        .await
        .unwrap()
        .load_balancers()[0]
        .clone();
    wait_for_healthy_targets(&cloud, 2).await;
    let members = group_members(&cloud).await;
    assert_eq!(members.len(), 2);

    let http = through_proxy(&cloud);
    let by_name = format!("http://{}/", balancer.dns_name().unwrap());
    let mut answered = BTreeSet::new();
    for url in [by_name.as_str(), "http://awstest.example.com/"].repeat(4) {
        answered.insert(answering_instance(&http, url).await);
    }
    assert_eq!(
        answered, members,
        "round robin reaches both instances, by both names"
    );

    let run = modu(
        &cloud,
        &["down", "-f", arg(&spec), "--yes", "--delete-data"],
    )
    .await;
    run.expect_success();
    // Each instance's app was stopped as systemd stops it: SIGTERM first.
    for id in &members {
        wait_until(
            &format!("{id} to power off"),
            Duration::from_secs(30),
            async || {
                let output = ec2
                    .get_console_output()
                    .instance_id(id)
                    .send()
                    .await
                    .unwrap();
                let text = output.output().map(decode_base64).unwrap_or_default();
                text.contains("stopping demo-app.service: SIGTERM") && text.contains("powered off")
            },
        )
        .await;
    }
}

fn decode_base64(text: &str) -> String {
    use aws_smithy_types::base64;
    String::from_utf8_lossy(&base64::decode(text).unwrap_or_default()).into_owned()
}

#[tokio::test]
async fn the_reference_stack_serves_https_through_its_distribution_and_media_from_the_bucket() {
    let cloud = Emulator::local_cloud();
    let dir = tempfile::tempdir().unwrap();
    let spec = reference_stack(dir.path(), Boot::Demo, &[("interval: 15", "interval: 6")]);
    let run = modu(&cloud, &["up", "-f", arg(&spec), "--yes"]).await;
    run.expect_success();
    let config = sdk_config(&cloud).await;
    let cloudfront = aws_sdk_cloudfront::Client::new(&config);
    let s3 = aws_sdk_s3::Client::new(&config);
    let list = cloudfront.list_distributions().send().await.unwrap();
    let domain = list.distribution_list().unwrap().items()[0]
        .domain_name()
        .to_string();
    wait_for_healthy_targets(&cloud, 2).await;
    let members = group_members(&cloud).await;

    // HTTPS to the distribution's domain, its certificate checked against the cloud's CA,
    // reaches the instances through the load balancer.
    let http = through_proxy(&cloud);
    let mut answered = BTreeSet::new();
    for _ in 0..6 {
        answered.insert(answering_instance(&http, &format!("https://{domain}/")).await);
    }
    assert_eq!(answered, members);
    // Plain HTTP is redirected, as the behaviours' viewer protocol policy says.
    let redirect = http
        .get(format!("http://{domain}/api/resumes?page=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 301);
    assert_eq!(
        redirect.headers()["location"].to_str().unwrap(),
        format!("https://{domain}/api/resumes?page=2")
    );
    // Chromium through the proxy, trusting the cloud's CA by its key, shows the same.
    let page = chromium_page(&cloud, &format!("https://{domain}/")).await;
    assert!(
        members.iter().any(|id| page.contains(id.as_str())),
        "{page}"
    );

    // The record is an alias the distribution has no certificate for: CloudFront presents
    // its *.cloudfront.net certificate, which a client checking the name refuses.
    let refused = http.get("https://awstest.example.com/").send().await;
    assert!(refused.is_err(), "{refused:?}");

    // /media/* reads the bucket through origin access control, which the bucket policy grants.
    let bucket = format!("modu-images-{ACCOUNT}");
    s3.put_object()
        .bucket(&bucket)
        .key("media/hello.txt")
        .content_type("text/plain")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            b"hello from the bucket",
        ))
        .send()
        .await
        .unwrap();
    let media = http
        .get(format!("https://{domain}/media/hello.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(media.status(), 200);
    assert_eq!(media.headers()["content-type"], "text/plain");
    assert_eq!(media.text().await.unwrap(), "hello from the bucket");
    // Without the grant, S3 refuses CloudFront as it refuses anyone.
    s3.delete_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let denied = http
        .get(format!("https://{domain}/media/hello.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    assert!(
        denied
            .text()
            .await
            .unwrap()
            .contains("<Code>AccessDenied</Code>")
    );

    modu(
        &cloud,
        &["down", "-f", arg(&spec), "--yes", "--delete-data"],
    )
    .await
    .expect_success();
}

/// The DOM Chromium renders for `url`, through the local cloud's proxy, headless.
async fn chromium_page(cloud: &Emulator, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--proxy-server={}", cloud.local().http_proxy))
        .arg(format!(
            "--ignore-certificate-errors-spki-list={}",
            cloud.local().ca_spki_sha256
        ))
        .args(["--dump-dom", url])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("chromium ends within a minute")
        .expect("chromium runs (scripts/test.sh installs it)");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The service's binary as the workspace builds it for tests. The local cloud's instances
/// share this machine's /usr, so its glibc is theirs; the Amazon Linux build is checked in
/// `tests/release.rs`.
fn app_binary() -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let status = std::process::Command::new(env!("CARGO"))
                .args([
                    "build", "--quiet", "--locked", "-p", "modu-app", "--bin", "modu-app",
                ])
                .current_dir(repo_path("."))
                .status()
                .expect("running cargo");
            assert!(status.success(), "building modu-app failed");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| repo_path("target"));
            target.join("debug").join("modu-app")
        })
        .clone()
}

async fn distribution_domain(cloud: &Emulator) -> String {
    let cloudfront = aws_sdk_cloudfront::Client::new(&sdk_config(cloud).await);
    let list = cloudfront.list_distributions().send().await.unwrap();
    list.distribution_list().unwrap().items()[0]
        .domain_name()
        .to_string()
}

/// The streams of the stack's log group holding a line that contains `text`.
fn shipped_streams(cloud: &Emulator, text: &str) -> BTreeSet<String> {
    let events = aws_cli(
        cloud,
        &[
            "logs",
            "filter-log-events",
            "--log-group-name",
            "/modu/modu",
        ],
    );
    events["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["message"].as_str().is_some_and(|m| m.contains(text)))
        .filter_map(|e| e["logStreamName"].as_str().map(String::from))
        .collect()
}

/// A resume form as the web page sends it, with two JPEG images.
fn resume_form(images: &[Vec<u8>]) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new()
        .text("name", "Kim Minji")
        .text("motivation", "Shipped by modu.")
        .text("task", "3");
    for (i, bytes) in images.iter().enumerate() {
        let part = reqwest::multipart::Part::bytes(bytes.clone())
            .file_name(format!("photo{i}.jpg"))
            .mime_str("image/jpeg")
            .unwrap();
        form = form.part("image", part);
    }
    form
}

#[tokio::test]
async fn the_reference_stack_runs_the_resume_service_on_a_shared_database() {
    let cloud = Emulator::local_cloud();
    let dir = tempfile::tempdir().unwrap();
    let binary = app_binary();
    // A certificate for the stack's record, so the distribution answers at that name too.
    let certificate = import_certificate(&cloud, dir.path(), &["awstest.example.com"]);
    let spec = reference_stack(
        dir.path(),
        Boot::App(&binary),
        &[
            ("interval: 15", "interval: 6"),
            ("  port: 80\n", "  port: 80\n  deregistration_delay: 5\n"),
            (
                "certificate_arn: null             # ACM cert in us-east-1",
                &format!("certificate_arn: {certificate} #"),
            ),
        ],
    );
    let run = modu(&cloud, &["up", "-f", arg(&spec), "--yes"]).await;
    run.expect_success();
    // Healthy means `/readyz` answers 200: database, cache and bucket all reached.
    wait_for_healthy_targets(&cloud, 2).await;
    let domain = distribution_domain(&cloud).await;
    let base = format!("https://{domain}");
    // The record, an alias of the distribution that its certificate covers.
    let site = "https://awstest.example.com";
    let http = through_proxy(&cloud);

    // `status` sees the whole stack healthy, nothing drifted (the release compared too).
    let status = modu(&cloud, &["status", "-f", arg(&spec), "--output", "json"]).await;
    status.expect_success();
    let doc: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    for resource in doc["resources"].as_array().unwrap() {
        assert_eq!(resource["drift"], serde_json::json!([]), "{resource:#}");
    }
    for key in [
        "release",
        "database",
        "parameters",
        "instance-role",
        "cache-secret",
    ] {
        assert!(
            doc["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["key"] == key && r["exists"] == true),
            "{key} in {doc:#}"
        );
    }

    // The stack's parameters point the service at the stack's own parts.
    let parameters = aws_cli(
        &cloud,
        &[
            "ssm",
            "get-parameters-by-path",
            "--path",
            "/modu/modu/",
            "--recursive",
        ],
    );
    let value = |name: &str| -> String {
        parameters["Parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["Name"] == format!("/modu/modu/{name}"))
            .and_then(|p| p["Value"].as_str())
            .unwrap_or_else(|| panic!("no parameter {name}: {parameters}"))
            .to_string()
    };
    assert_eq!(value("media-base-url"), format!("{site}/media"));
    assert!(
        value("cache/endpoint").starts_with("modu-cache."),
        "{parameters}"
    );
    assert!(
        value("database/endpoint").ends_with(":5432"),
        "{parameters}"
    );
    let ready: serde_json::Value = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            ready["database"].as_str(),
            ready["cache"].as_str(),
            ready["storage"].as_str()
        ),
        (Some("ok"), Some("ok"), Some("ok")),
        "the cache answers only over TLS with its AUTH token: {ready}"
    );

    // Sign up and log in at the record name; save a resume with two images.
    let password = "correct horse battery";
    let signup = http
        .post(format!("{site}/api/auth/signup"))
        .json(&serde_json::json!({ "username": "kim", "password": password, "password_confirm": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), 201, "{}", signup.text().await.unwrap());
    let login: serde_json::Value = http
        .post(format!("{site}/api/auth/login"))
        .json(&serde_json::json!({ "username": "kim", "password": password }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"]
        .as_str()
        .expect("a session token")
        .to_string();
    let images = [
        modu::load::jpeg::generate(40_000, 1),
        modu::load::jpeg::generate(60_000, 2),
    ];
    let saved = http
        .post(format!("{site}/api/resumes"))
        .bearer_auth(&token)
        .multipart(resume_form(&images))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 201, "{}", saved.text().await.unwrap());
    let saved: serde_json::Value = saved.json().await.unwrap();
    let id = saved["id"].as_str().unwrap().to_string();

    // Through the distribution's own name, round robin spreads these over both instances:
    // every one sees the same resume and accepts the same session (PostgreSQL and Redis are
    // shared, nothing is per instance).
    for _ in 0..6 {
        let mine = http
            .get(format!("{base}/api/auth/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(mine.status(), 200);
        let list: serde_json::Value = http
            .get(format!("{base}/api/resumes"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(list.to_string().contains(&id), "{list}");
    }
    // The images come back through the distribution's /media/*, from the bucket, at the
    // record name the page is served from.
    for (image, bytes) in saved["images"].as_array().unwrap().iter().zip(&images) {
        let url = image["url"].as_str().unwrap();
        assert!(url.starts_with(&format!("{site}/media/")), "{url}");
        let fetched = http.get(url).send().await.unwrap();
        assert_eq!(fetched.status(), 200, "{url}");
        assert_eq!(&fetched.bytes().await.unwrap()[..], &bytes[..]);
    }

    // The browser test, in Chromium, through the proxy, against the deployed stack.
    browser_test(&cloud, site).await;

    // Each instance ships its JSON logs to the stack's log group, a stream per run.
    wait_until(
        "both instances' logs in the log group",
        Duration::from_secs(30),
        async || shipped_streams(&cloud, "listening").len() >= 2,
    )
    .await;

    // `down` keeps what holds data and says so; with --delete-data nothing is left.
    let down = modu(&cloud, &["down", "-f", arg(&spec), "--yes"]).await;
    down.expect_success();
    assert!(down.stdout.contains("db-instance modu-db"), "{down}");
    let kept = aws_cli(&cloud, &["rds", "describe-db-instances"]);
    assert_eq!(
        kept["DBInstances"][0]["DBInstanceIdentifier"], "modu-db",
        "{kept}"
    );
    let down = modu(
        &cloud,
        &[
            "down",
            "-f",
            arg(&spec),
            "--yes",
            "--delete-data",
            "--no-final-snapshot",
        ],
    )
    .await;
    down.expect_success();
    let aws = Aws::new(&cloud).await;
    assert_eq!(aws.tagged_with_stack("modu").await, Vec::<String>::new());
    let databases = aws_cli(&cloud, &["rds", "describe-db-instances"]);
    assert_eq!(
        databases["DBInstances"],
        serde_json::json!([]),
        "{databases}"
    );
    let roles = aws_cli(
        &cloud,
        &["iam", "list-roles", "--path-prefix", "/modu/modu/"],
    );
    assert_eq!(roles["Roles"], serde_json::json!([]), "{roles}");
    let secrets = aws_cli(&cloud, &["secretsmanager", "list-secrets"]);
    assert_eq!(secrets["SecretList"], serde_json::json!([]), "{secrets}");
    let parameters = aws_cli(
        &cloud,
        &[
            "ssm",
            "get-parameters-by-path",
            "--path",
            "/modu/modu/",
            "--recursive",
        ],
    );
    assert_eq!(
        parameters["Parameters"],
        serde_json::json!([]),
        "{parameters}"
    );
}

/// Runs app/tests/browser/resume.test.mjs against `base` through the cloud's proxy.
async fn browser_test(cloud: &Emulator, base: &str) {
    let browser = repo_path("app/tests/browser");
    if !browser.join("node_modules/playwright-core").is_dir() {
        let status = std::process::Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&browser)
            .status()
            .expect("npm (scripts/app-test-deps.sh installs Node.js)");
        assert!(status.success(), "npm install failed");
    }
    let artifacts = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new("node")
        .args(["--test", "resume.test.mjs"])
        .current_dir(&browser)
        .env("BASE_URL", base)
        .env("ARTIFACT_DIR", artifacts.path())
        .env(
            "CHROMIUM_EXTRA_ARGS",
            format!(
                "--proxy-server={} --ignore-certificate-errors-spki-list={}",
                cloud.local().http_proxy,
                cloud.local().ca_spki_sha256
            ),
        )
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), output)
        .await
        .expect("the browser test ends within 3 minutes")
        .expect("node runs");
    assert!(
        output.status.success(),
        "the browser test failed against {base}:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `modu load` of `workload` with `concurrency` users through the cloud's proxy, for at
/// most ten minutes (the tests stop it before): the child, whose stdout is the JSON report.
fn start_load(
    cloud: &Emulator,
    base: &str,
    workload: &str,
    concurrency: usize,
) -> tokio::process::Child {
    let users = concurrency.to_string();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_modu"))
        .args(["load", "--url", base, "--workload", workload])
        .args(["-c", &users, "--users", &users, "-d", "600"])
        .args(["--request-timeout", "30", "--output", "json"])
        .args(["--proxy", &cloud.local().http_proxy])
        .arg("--ca-bundle")
        .arg(&cloud.local().ca_bundle)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting modu load")
}

/// Interrupts the load as Ctrl-C would and reads its report.
async fn stop_load(load: tokio::process::Child) -> serde_json::Value {
    let pid = load.id().expect("the load is running");
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let output = tokio::time::timeout(Duration::from_secs(30), load.wait_with_output())
        .await
        .expect("the load stops within 30 s of Ctrl-C")
        .unwrap();
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

/// The launch template version each of the group's instances was launched from.
async fn instance_versions(cloud: &Emulator) -> Vec<String> {
    let groups = aws_sdk_autoscaling::Client::new(&sdk_config(cloud).await)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("modu-asg")
        .send()
        .await
        .unwrap();
    groups.auto_scaling_groups()[0]
        .instances()
        .iter()
        .map(|i| {
            i.launch_template()
                .and_then(|t| t.version())
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// The warnings and errors the instances' services logged, for a failure's message.
fn service_problems(cloud: &Emulator) -> String {
    fn walk(dir: &std::path::Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path
                .file_name()
                .is_some_and(|n| n == "modu-app.service.log")
            {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                for line in text
                    .lines()
                    .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
    }
    let mut out = String::new();
    walk(&cloud.local().state_dir, &mut out);
    out.push_str("--- the local cloud ---\n");
    out.push_str(&cloud.stderr());
    out
}

fn assert_no_failed_requests(cloud: &Emulator, report: &serde_json::Value, during: &str) {
    let report = &serde_json::json!({ "report": report, "service_log": service_problems(cloud) });
    let clicks = &report["report"]["clicks"];
    assert!(
        clicks["completed"].as_u64().unwrap_or_default() > 0,
        "the load ran during {during}: {report:#}"
    );
    assert_eq!(
        clicks["with_errors"], 0,
        "failed clicks during {during}: {report:#}"
    );
    assert_eq!(
        report["report"]["reads"]["with_errors"], 0,
        "failed reads during {during}: {report:#}"
    );
    assert_eq!(
        report["report"]["errors"]["total"], 0,
        "failed requests during {during}: {report:#}"
    );
}

#[tokio::test]
async fn deploy_rolls_a_release_out_under_load_and_a_broken_one_back() {
    let cloud = Emulator::local_cloud();
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("modu-app-1");
    std::fs::copy(app_binary(), &first).unwrap();
    let spec = reference_stack(
        dir.path(),
        Boot::App(&first),
        &[
            ("interval: 15", "interval: 6"),
            ("  port: 80\n", "  port: 80\n  deregistration_delay: 5\n"),
            // Within the grace period Auto Scaling ignores the load balancer's verdict:
            // long enough for a good release to boot on a loaded machine, short enough
            // for the broken one to be given up on quickly.
            (
                "  cpu_target: 80",
                "  health_check_grace: 45\n  cpu_target: 80",
            ),
        ],
    );
    modu(&cloud, &["up", "-f", arg(&spec), "--yes"])
        .await
        .expect_success();
    wait_for_healthy_targets(&cloud, 2).await;
    let before = instance_versions(&cloud).await;
    let base = format!("https://{}", distribution_domain(&cloud).await);

    // A changed build (the same program with other bytes: a new sha256, a new release).
    let second = dir.path().join("modu-app-2");
    let mut bytes = std::fs::read(&first).unwrap();
    bytes.extend_from_slice(b"\nsecond build\n");
    std::fs::write(&second, bytes).unwrap();
    std::fs::set_permissions(&second, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(
        &spec,
        text.replace(first.to_str().unwrap(), second.to_str().unwrap()),
    )
    .unwrap();

    let load = start_load(&cloud, &base, "click", 4);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let deploy = modu(&cloud, &["deploy", "-f", arg(&spec)]).await;
    deploy.expect_success();
    let report = stop_load(load).await;
    assert!(deploy.stdout.contains("deployed in"), "{deploy}");
    assert!(
        deploy.stderr.contains("new ") && deploy.stderr.contains("% after"),
        "the rollout shows instances moving: {deploy}"
    );
    assert_no_failed_requests(&cloud, &report, "the rollout");
    let after = instance_versions(&cloud).await;
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(
        after.iter().all(|v| !before.contains(v)),
        "every instance runs the new release: {before:?} → {after:?}"
    );
    // Nothing left to do: a second deploy changes nothing.
    let again = modu(&cloud, &["plan", "-f", arg(&spec), "--detailed-exitcode"]).await;
    again.expect_success();

    // A release whose process exits at once never becomes ready: the refresh fails and
    // rolls back, and the running release serves throughout.
    let broken = dir.path().join("modu-app-broken");
    std::fs::write(&broken, "#!/bin/sh\necho 'broken build' >&2\nexit 3\n").unwrap();
    std::fs::set_permissions(&broken, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(
        &spec,
        text.replace(second.to_str().unwrap(), broken.to_str().unwrap()),
    )
    .unwrap();
    let load = start_load(&cloud, &base, "click", 4);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let failed = modu(&cloud, &["deploy", "-f", arg(&spec)]).await;
    let report = stop_load(load).await;
    assert_ne!(failed.code, Some(0), "{failed}");
    let said = format!("{}{}", failed.stdout, failed.stderr);
    assert!(
        said.contains("ended Rollback") || said.contains("ended Failed"),
        "deploy names how the rollout ended: {failed}"
    );
    assert_no_failed_requests(&cloud, &report, "the failed rollout");
    let refreshes = aws_sdk_autoscaling::Client::new(&sdk_config(&cloud).await)
        .describe_instance_refreshes()
        .auto_scaling_group_name("modu-asg")
        .send()
        .await
        .unwrap();
    assert_eq!(
        instance_versions(&cloud).await,
        after,
        "the previous release is back: {refreshes:#?}\n{failed}"
    );

    down_deleting_data(&cloud, &spec).await;
}

/// `modu down` of the stack, its data (database, bucket) included, without a final snapshot.
async fn down_deleting_data(cloud: &Emulator, spec: &std::path::Path) {
    modu(
        cloud,
        &[
            "down",
            "-f",
            arg(spec),
            "--yes",
            "--delete-data",
            "--no-final-snapshot",
        ],
    )
    .await
    .expect_success();
}

/// The group's average `CPUUtilization` per period as the cloud published it, oldest first.
async fn group_cpu(cloud: &Emulator) -> Vec<f64> {
    let now = std::time::SystemTime::now();
    let stats = Aws::new(cloud)
        .await
        .cloudwatch
        .get_metric_statistics()
        .namespace("AWS/EC2")
        .metric_name("CPUUtilization")
        .dimensions(
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name("AutoScalingGroupName")
                .value("modu-asg")
                .build(),
        )
        .start_time((now - Duration::from_secs(3600)).into())
        .end_time((now + Duration::from_secs(60)).into())
        .period(1)
        .statistics(aws_sdk_cloudwatch::types::Statistic::Average)
        .send()
        .await
        .expect("the group's CPU statistics");
    let mut points: Vec<_> = stats.datapoints().to_vec();
    points.sort_by_key(|p| p.timestamp().map(|t| t.secs()));
    points.iter().filter_map(|p| p.average()).collect()
}

/// The state of the target-tracking policy's high alarm.
async fn high_alarm_state(cloud: &Emulator) -> String {
    let alarms = Aws::new(cloud).await.alarms().await;
    let high: Vec<_> = alarms
        .iter()
        .filter(|(name, _)| name.contains("-AlarmHigh-"))
        .filter_map(|(_, a)| a.state_value().map(|s| s.as_str().to_string()))
        .collect();
    assert_eq!(high.len(), 1, "one high alarm: {alarms:#?}");
    high.into_iter().next().unwrap()
}

/// The spike's mix and users: saves of the form with images (JPEG decoding and a
/// transaction per click) keep one instance busy.
const LOAD_WORKLOAD: &str = "click";
const LOAD_USERS: usize = 8;

#[tokio::test]
async fn a_load_spike_through_the_distribution_scales_the_group_out_and_back_in() {
    // CloudWatch's minute and the policy's warm-up at 5 % of their length: a period is 3 s,
    // so the high alarm fires after 9 s above the target, the low one after 45 s below.
    let cloud = Emulator::local_cloud_with(&["--time-scale", "0.05"]);
    let dir = tempfile::tempdir().unwrap();
    let binary = app_binary();
    let spec = reference_stack(
        dir.path(),
        Boot::App(&binary),
        &[
            ("interval: 15", "interval: 6"),
            ("  port: 80\n", "  port: 80\n  deregistration_delay: 5\n"),
            ("min: 2", "min: 1"),
            ("max: 10", "max: 3"),
            ("desired: 2", "desired: 1"),
            // The cloud's data planes and the load share this machine's two cores with
            // the instance, which reaches 40 to 65 % of its vCPU under this load (the low
            // end with a build running beside it), so the target sits well below that;
            // idle, it stays under 1 %.
            ("cpu_target: 80", "cpu_target: 30"),
        ],
    );
    modu(&cloud, &["up", "-f", arg(&spec), "--yes"])
        .await
        .expect_success();
    wait_for_healthy_targets(&cloud, 1).await;
    let base = format!("https://{}", distribution_domain(&cloud).await);

    // The spike: the group's one instance runs hot, the policy adds instances.
    let load = start_load(&cloud, &base, LOAD_WORKLOAD, LOAD_USERS);
    let started = Instant::now();
    let mut high_alarm_fired = false;
    while group_members(&cloud).await.len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "no scale-out within 180 s; the group's CPU by period: {:?}",
            group_cpu(&cloud).await
        );
        high_alarm_fired |= high_alarm_state(&cloud).await == "ALARM";
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The alarm fires in the period that scales out and clears once the average falls.
    high_alarm_fired |= high_alarm_state(&cloud).await == "ALARM";
    assert!(
        high_alarm_fired,
        "{:#?}",
        Aws::new(&cloud).await.alarms().await
    );
    let report = stop_load(load).await;
    assert_no_failed_requests(&cloud, &report, "the scale-out");

    // The spike over, the low alarm scales the group back in to its minimum.
    wait_until(
        "a scale-in back to the minimum",
        Duration::from_secs(240),
        async || group_members(&cloud).await.len() == 1,
    )
    .await;
    assert!(
        cloud.stderr().contains("target tracking"),
        "{}",
        cloud.stderr()
    );
    down_deleting_data(&cloud, &spec).await;
}

/// The stack's origin secret as Secrets Manager holds it now.
fn origin_secret(cloud: &Emulator) -> String {
    aws_cli(
        cloud,
        &[
            "secretsmanager",
            "get-secret-value",
            "--secret-id",
            "modu/modu/origin-header",
        ],
    )["SecretString"]
        .as_str()
        .expect("the origin secret")
        .to_string()
}

/// GETs `url` through the proxy until `stop`, counting the answers that are not 200.
fn keep_asking(
    http: reqwest::Client,
    url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<(usize, Vec<String>)> {
    tokio::spawn(async move {
        let (mut asked, mut failed) = (0, Vec::new());
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            asked += 1;
            match http.get(&url).send().await {
                Ok(answer) if answer.status() == 200 => {}
                Ok(answer) => failed.push(format!("{}", answer.status())),
                Err(err) => failed.push(err.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (asked, failed)
    })
}

#[tokio::test]
async fn the_load_balancer_answers_only_its_distribution_over_https() {
    let cloud = Emulator::local_cloud();
    let dir = tempfile::tempdir().unwrap();
    // One certificate for the stack's names: the origin name is one label under the zone.
    let certificate = import_certificate(
        &cloud,
        dir.path(),
        &["awstest.example.com", "*.example.com"],
    );
    let spec = reference_stack(
        dir.path(),
        Boot::Demo,
        &[
            ("  port: 80\n  algorithm", "  port: 443\n  algorithm"),
            (
                "  certificate_arn: null             # optional ACM cert ARN",
                &format!("  certificate_arn: {certificate} # optional ACM cert ARN"),
            ),
            ("  origin_protocol: http ", "  # origin_protocol: http "),
            ("interval: 15", "interval: 6"),
        ],
    );
    modu(&cloud, &["up", "-f", arg(&spec), "--yes"])
        .await
        .expect_success();
    wait_for_healthy_targets(&cloud, 2).await;
    let config = sdk_config(&cloud).await;
    let elbv2 = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let cloudfront = aws_sdk_cloudfront::Client::new(&config);

    // CloudFront reaches the load balancer over HTTPS at the origin name, never at the
    // load balancer's own name, which no certificate covers.
    let domain = distribution_domain(&cloud).await;
    let listed = cloudfront.list_distributions().send().await.unwrap();
    let summary = &listed.distribution_list().unwrap().items()[0];
    let origin = summary
        .origins()
        .unwrap()
        .items()
        .iter()
        .find(|o| o.custom_origin_config().is_some())
        .expect("the load balancer's origin");
    assert_eq!(origin.domain_name(), "origin-modu.example.com");
    let custom = origin.custom_origin_config().unwrap();
    assert_eq!(custom.origin_protocol_policy().as_str(), "https-only");
    assert_eq!(custom.https_port(), 443);
    let secret = origin_secret(&cloud);
    let sent = |origin: &aws_sdk_cloudfront::types::Origin| -> Vec<(String, String)> {
        origin
            .custom_headers()
            .map(|h| h.items())
            .unwrap_or_default()
            .iter()
            .map(|h| (h.header_name().to_string(), h.header_value().to_string()))
            .collect()
    };
    assert_eq!(
        sent(origin),
        [("X-Origin-Verify".to_string(), secret.clone())]
    );

    // The load balancer's security group admits CloudFront's origin-facing addresses only.
    let lb = elbv2
        .describe_load_balancers()
        .names("modu-lb")
        .send()
        .await
        .unwrap();
    let lb = &lb.load_balancers()[0];
    let lb_name = lb.dns_name().unwrap().to_string();
    let groups = ec2
        .describe_security_groups()
        .set_group_ids(Some(lb.security_groups().to_vec()))
        .send()
        .await
        .unwrap();
    for permission in groups
        .security_groups()
        .iter()
        .flat_map(|g| g.ip_permissions())
    {
        assert!(
            permission.ip_ranges().is_empty() && permission.ipv6_ranges().is_empty(),
            "no rule for an address range: {permission:#?}"
        );
        assert_eq!(permission.prefix_list_ids().len(), 1, "{permission:#?}");
    }

    // Through the proxy: the distribution serves; the load balancer asked directly refuses,
    // at the origin name (its certificate is good) and at its own name; port 80 redirects.
    let http = through_proxy(&cloud);
    let members = group_members(&cloud).await;
    let mut answered = BTreeSet::new();
    for _ in 0..6 {
        answered.insert(answering_instance(&http, &format!("https://{domain}/")).await);
    }
    assert_eq!(answered, members);
    let direct = http
        .get("https://origin-modu.example.com/")
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 403);
    let unchecked = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(&cloud.local().http_proxy).unwrap())
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let by_name = unchecked
        .get(format!("https://{lb_name}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_name.status(), 403);
    let guessed = http
        .get("https://origin-modu.example.com/")
        .header("X-Origin-Verify", "guess")
        .send()
        .await
        .unwrap();
    assert_eq!(guessed.status(), 403);
    let plain = http
        .get(format!("http://{lb_name}/a?b=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 301);
    assert_eq!(
        plain.headers()["location"].to_str().unwrap(),
        format!("https://{lb_name}/a?b=1")
    );

    // Rotating the secret refuses no request on the way; afterwards only the new value
    // opens the load balancer.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let asking = keep_asking(http.clone(), format!("https://{domain}/"), stop.clone());
    modu(
        &cloud,
        &["up", "-f", arg(&spec), "--yes", "--rotate-origin-secret"],
    )
    .await
    .expect_success();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (asked, failed) = asking.await.unwrap();
    assert!(asked > 10, "{asked} requests during the rotation");
    assert!(
        failed.is_empty(),
        "{} of {asked} failed: {failed:?}",
        failed.len()
    );
    let rotated = origin_secret(&cloud);
    assert_ne!(rotated, secret);
    let listed = cloudfront.list_distributions().send().await.unwrap();
    let origin = listed.distribution_list().unwrap().items()[0]
        .origins()
        .unwrap()
        .items()
        .iter()
        .find(|o| o.custom_origin_config().is_some())
        .cloned()
        .unwrap();
    assert_eq!(
        sent(&origin),
        [("X-Origin-Verify".to_string(), rotated.clone())]
    );
    for (value, status) in [(secret.as_str(), 403), (rotated.as_str(), 200)] {
        let answer = http
            .get("https://origin-modu.example.com/")
            .header("X-Origin-Verify", value)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), status);
    }
    // Converged: nothing left to do.
    let plan = modu(&cloud, &["plan", "-f", arg(&spec), "--detailed-exitcode"]).await;
    plan.expect_success();

    modu(
        &cloud,
        &["down", "-f", arg(&spec), "--yes", "--delete-data"],
    )
    .await
    .expect_success();
}
