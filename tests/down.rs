//! `modu down`: removes everything the stack owns and nothing else, keeps the
//! bucket unless `--delete-data`, can be re-run, and asks before deleting.

mod support;

use support::{Aws, Emulator, Spec, arg, describe_calls, expect_no_change, modu};

#[tokio::test]
async fn down_removes_the_stack_and_spares_another_stack() {
    let emulator = Emulator::start();
    let aws = Aws::new(&emulator).await;
    let dir = tempfile::tempdir().unwrap();
    let doomed = Spec::new("doomed");
    let doomed_file = doomed.write(dir.path());
    let mut survivor = Spec::new("survivor");
    survivor.lb_port = 80;
    let survivor_file = survivor.write(dir.path());
    modu(&emulator, &["up", "-f", arg(&doomed_file)])
        .await
        .expect_success();
    modu(&emulator, &["up", "-f", arg(&survivor_file)])
        .await
        .expect_success();

    let survivor_before = aws.tagged_with_stack("survivor").await;
    assert_eq!(
        survivor_before.len(),
        12,
        "the second stack is fully up: {survivor_before:#?}"
    );
    assert_eq!(aws.tagged_with_stack("doomed").await.len(), 12);
    // Data in the bucket, so that `--delete-data` has to empty it first: the bucket keeps
    // versions, so an overwrite leaves a noncurrent version and a delete leaves a marker,
    // which a plain listing does not show.
    let bucket = doomed.bucket_name();
    for (key, body) in [
        ("images/cat.png", "not really a cat"),
        ("images/cat.png", "still not a cat"),
        ("images/dog.png", "not a dog"),
    ] {
        aws.s3
            .put_object()
            .bucket(&bucket)
            .key(key)
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .expect("PutObject");
    }
    aws.s3
        .delete_object()
        .bucket(&bucket)
        .key("images/dog.png")
        .send()
        .await
        .expect("DeleteObject");
    let versions = aws
        .s3
        .list_object_versions()
        .bucket(&bucket)
        .send()
        .await
        .expect("ListObjectVersions");
    assert_eq!(
        (versions.versions().len(), versions.delete_markers().len()),
        (3, 1),
        "three versions and a delete marker: {versions:?}"
    );

    // `down` without --delete-data keeps the bucket and says so.
    let run = modu(&emulator, &["down", "-f", arg(&doomed_file), "--yes"]).await;
    run.expect_success();
    assert_eq!(
        aws.tagged_with_stack("doomed").await,
        [format!("bucket {}", doomed.bucket_name())],
        "only the bucket is left\n{run}"
    );
    assert!(
        run.output().contains(&doomed.bucket_name()) && run.output().contains("kept"),
        "the summary says the bucket was kept\n{run}"
    );
    let objects = aws
        .s3
        .list_objects_v2()
        .bucket(doomed.bucket_name())
        .send()
        .await
        .expect("ListObjectsV2");
    assert_eq!(
        objects.key_count(),
        Some(1),
        "the kept bucket keeps its data"
    );
    // And stays as safe as `up` left it: TLS only, versioned.
    aws.assert_bucket_is_safe(&bucket).await;

    // The other stack is untouched and still healthy.
    assert_eq!(aws.tagged_with_stack("survivor").await, survivor_before);
    modu(
        &emulator,
        &["status", "-f", arg(&survivor_file), "--output", "json"],
    )
    .await
    .expect_success();

    // A second `down` has nothing to do.
    expect_no_change(
        &emulator,
        &["down", "-f", arg(&doomed_file), "--yes"],
        "the second down",
    )
    .await;

    // `--delete-data` empties the bucket and deletes it.
    let purge = modu(
        &emulator,
        &["down", "-f", arg(&doomed_file), "--yes", "--delete-data"],
    )
    .await;
    purge.expect_success();
    assert_eq!(
        aws.tagged_with_stack("doomed").await,
        Vec::<String>::new(),
        "{purge}"
    );
    let gone = aws
        .s3
        .head_bucket()
        .bucket(doomed.bucket_name())
        .send()
        .await;
    assert!(gone.is_err(), "the bucket is deleted\n{purge}");

    assert_eq!(aws.tagged_with_stack("survivor").await, survivor_before);
    status_exit(&emulator, arg(&doomed_file), 3).await;
}

async fn status_exit(emulator: &Emulator, file: &str, code: i32) {
    modu(emulator, &["status", "-f", file, "--output", "json"])
        .await
        .expect_code(code);
}

#[tokio::test]
async fn down_without_yes_refuses_when_there_is_no_terminal() {
    let emulator = Emulator::start();
    let aws = Aws::new(&emulator).await;
    let dir = tempfile::tempdir().unwrap();
    let file = Spec::new("keepme").write(dir.path());
    modu(&emulator, &["up", "-f", arg(&file)])
        .await
        .expect_success();
    let before = aws.tagged_with_stack("keepme").await;

    let mark = emulator.mark();
    let run = modu(&emulator, &["down", "-f", arg(&file)]).await;
    run.expect_code(1);
    assert!(
        run.stderr.contains("--yes"),
        "the refusal tells how to confirm\n{run}"
    );
    let mutating = emulator.mutating_calls_since(mark);
    assert!(
        mutating.is_empty(),
        "a refused down deleted: {}\n{run}",
        describe_calls(&mutating)
    );
    assert_eq!(aws.tagged_with_stack("keepme").await, before);
}

#[tokio::test]
async fn down_of_a_stack_that_was_never_deployed_succeeds() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let file = Spec::new("never").write(dir.path());

    let run = modu(
        &emulator,
        &["down", "-f", arg(&file), "--yes", "--delete-data"],
    )
    .await;
    run.expect_success();
    let mutating = emulator.mutating_calls_since(0);
    assert!(
        mutating.is_empty(),
        "nothing to delete, yet: {}\n{run}",
        describe_calls(&mutating)
    );
}
