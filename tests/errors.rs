//! What a person sees when something outside the spec is wrong: no credentials, an
//! unreachable region or endpoint, a VPC or subnet that does not exist, a bucket name
//! already taken. Each fails with one clear message and a next step, and changes nothing.

mod support;

use std::process::Stdio;

use support::{Aws, Emulator, modu};

const STACK_SPEC: &str = "\
stack: STACK
region: us-east-1
network:
  vpc: VPC
  subnets: SUBNETS
storage:
  bucket: BUCKET
compute:
  instance_type: t3.micro
";

fn spec(dir: &std::path::Path, stack: &str, vpc: &str, subnets: &str, bucket: &str) -> String {
    let path = dir.join(format!("{stack}.yaml"));
    let text = STACK_SPEC
        .replace("STACK", stack)
        .replace("VPC", vpc)
        .replace("SUBNETS", subnets)
        .replace("BUCKET", bucket);
    std::fs::write(&path, text).expect("writing the spec");
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn missing_credentials_say_how_to_provide_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = spec(dir.path(), "nocreds", "default", "default", "auto");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_modu"))
        .args(["up", "-f", &file])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("AWS_CONFIG_FILE", dir.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.path().join("credentials"),
        )
        // The instance-metadata provider would otherwise try a link-local address.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no AWS credentials found"), "{stderr}");
    assert!(
        stderr.contains("aws configure") && stderr.contains("--profile"),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_names_the_region_and_what_to_check() {
    let dir = tempfile::tempdir().unwrap();
    let file = spec(dir.path(), "offline", "default", "default", "auto");
    let run = support::modu_offline(&["up", "-f", &file, "--region", "eu-nowhere-9"]).await;
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("cannot reach AWS in region eu-nowhere-9"),
        "{run}"
    );
    assert!(run.stderr.contains("check the region name"), "{run}");
}

#[tokio::test]
async fn a_missing_vpc_or_subnet_is_named_and_nothing_is_created() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let mark = emulator.mark();

    let file = spec(
        dir.path(),
        "novpc",
        "vpc-0123456789abcdef0",
        "default",
        "auto",
    );
    let run = modu(&emulator, &["up", "-f", &file]).await;
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("VPC vpc-0123456789abcdef0 does not exist in region us-east-1"),
        "{run}"
    );
    assert!(run.stderr.contains("network.vpc"), "{run}");

    let file = spec(
        dir.path(),
        "nosubnet",
        "default",
        "[subnet-0123456789abcdef0, subnet-0123456789abcdef1]",
        "auto",
    );
    let run = modu(&emulator, &["up", "-f", &file]).await;
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("a subnet in `network.subnets` does not exist"),
        "{run}"
    );

    // Only the bucket (which needs no network) may have been created; no network resource.
    let mutating: Vec<String> = emulator
        .mutating_calls_since(mark)
        .iter()
        .map(|c| c.operation.clone())
        .filter(|op| !op.contains("Bucket") && !op.starts_with("Put"))
        .collect();
    assert!(mutating.is_empty(), "unexpected calls: {mutating:?}");
}

#[tokio::test]
async fn a_bucket_name_owned_by_something_else_is_refused_and_left_alone() {
    let emulator = Emulator::start();
    let aws = Aws::new(&emulator).await;
    aws.s3
        .create_bucket()
        .bucket("someone-elses-images")
        .send()
        .await
        .unwrap();
    aws.s3
        .put_object()
        .bucket("someone-elses-images")
        .key("keep.txt")
        .body(b"precious".to_vec().into())
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let file = spec(
        dir.path(),
        "taken",
        "default",
        "default",
        "someone-elses-images",
    );
    let run = modu(&emulator, &["up", "-f", &file]).await;
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("bucket someone-elses-images exists but is not part of stack taken"),
        "{run}"
    );
    assert!(
        run.stderr.contains("choose another `storage.bucket`"),
        "{run}"
    );

    // `down --delete-data` must not touch it either.
    let run = modu(&emulator, &["down", "-f", &file, "--yes", "--delete-data"]).await;
    let object = aws
        .s3
        .get_object()
        .bucket("someone-elses-images")
        .key("keep.txt")
        .send()
        .await;
    assert!(object.is_ok(), "the foreign bucket lost its object: {run}");
}
