//! modu under the faults AWS shows on a real account: throttling, server errors, changes
//! whose reply is lost, an interrupted or killed run, two runs at once. Faults come from
//! `scripts/faults.py` between modu and the emulator, seeded, so a failure reproduces;
//! what the account holds afterwards is compared with a fault-free run of the same spec.

mod support;

use std::time::{Duration, Instant};

use support::faults::{FaultProxy, Faults, Inventory, inventory};
use support::{
    Aws, Emulator, Run, Running, Spec, ZONE, arg, describe_calls, expect_no_change, modu, modu_at,
};

/// The issue's bound: `up` (or `down`) under the fault mix converges within this many runs.
const RUNS: usize = 3;

/// Runs `modu ARGS` through the proxy until it exits 0, at most [`RUNS`] times; the runs.
async fn until_success(proxy: &FaultProxy, args: &[&str]) -> Vec<Run> {
    let mut runs = Vec::new();
    while runs.len() < RUNS {
        let run = modu_at(proxy.url(), args).await;
        let done = run.code == Some(0);
        assert!(
            matches!(run.code, Some(0 | 1)),
            "modu ended abnormally\n{run}"
        );
        assert!(!run.stderr.contains("panicked"), "modu panicked\n{run}");
        runs.push(run);
        if done {
            return runs;
        }
    }
    let shown: Vec<String> = runs.iter().map(ToString::to_string).collect();
    panic!(
        "`modu {}` did not converge within {RUNS} runs under faults {}:\n{}",
        args.join(" "),
        proxy.stats(),
        shown.join("\n\n")
    );
}

/// The stack `spec` in a fault-free account: what exactly one of everything looks like,
/// and how many calls `up` and `down` make without faults.
struct Baseline {
    inventory: Inventory,
    up_calls: usize,
    down_calls: usize,
}

async fn baseline(spec: &Spec, file: &str) -> Baseline {
    let cloud = Emulator::start();
    let aws = Aws::new(&cloud).await;
    modu(&cloud, &["up", "-f", file, "--yes"])
        .await
        .expect_success();
    let up_calls = cloud.calls().len();
    let inventory = inventory(&cloud, &aws, &spec.stack, ZONE).await;
    let mark = cloud.mark();
    modu(&cloud, &["down", "-f", file, "--yes", "--delete-data"])
        .await
        .expect_success();
    let down_calls = cloud.calls_since(mark).len();
    Baseline {
        inventory,
        up_calls,
        down_calls,
    }
}

#[tokio::test]
async fn up_and_down_of_the_full_stack_converge_through_throttling_errors_and_lost_replies() {
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::full("faulty");
    let file = spec.write(dir.path());
    let file = arg(&file);
    let wanted = baseline(&spec, file).await;

    let cloud = Emulator::start();
    let aws = Aws::new(&cloud).await;
    let proxy = FaultProxy::start(&cloud, &Faults::issue_mix(12));
    let ups = until_success(&proxy, &["up", "-f", file, "--yes"]).await;
    let up_stats = proxy.stats();
    let up_calls = cloud.calls().len();
    let injected = proxy.injected();
    for run in &ups {
        eprintln!("{run}");
    }
    eprintln!("faults injected during up: {injected:#?}");
    assert!(
        ["throttle", "error", "lost-reply"]
            .iter()
            .all(|f| injected.iter().any(|i| i.fault == *f)),
        "every kind of fault was met: {injected:?}"
    );

    // Converged: a fault-free `up` changes nothing, and there is one of everything.
    proxy.set(&Faults::none());
    expect_no_change(
        &cloud,
        &["up", "-f", file],
        "the stack converged under faults",
    )
    .await;
    let found = inventory(&cloud, &aws, &spec.stack, ZONE).await;
    assert_eq!(
        found.counts(),
        wanted.inventory.counts(),
        "exactly one of each resource, as without faults\nunder faults:\n{found}\nwithout:\n{}",
        wanted.inventory
    );

    proxy.set(&Faults::issue_mix(13));
    let mark = cloud.mark();
    let downs = until_success(&proxy, &["down", "-f", file, "--yes", "--delete-data"]).await;
    let down_stats = proxy.stats();
    let down_calls = cloud.calls_since(mark).len();
    let left = inventory(&cloud, &aws, &spec.stack, ZONE).await;
    assert!(left.is_empty(), "down left:\n{left}");
    proxy.set(&Faults::none());
    let again = modu(&cloud, &["down", "-f", file, "--yes", "--delete-data"]).await;
    again.expect_success();
    assert!(
        cloud.mutating_calls_since(mark + down_calls).is_empty(),
        "a second down found something: {}",
        describe_calls(&cloud.mutating_calls_since(mark + down_calls))
    );

    eprintln!(
        "up: {} run(s), {up_calls} calls reached the emulator (fault-free: {}), proxy {up_stats}; \
         down: {} run(s), {down_calls} calls (fault-free: {}), proxy {down_stats}",
        ups.len(),
        wanted.up_calls,
        downs.len(),
        wanted.down_calls,
    );
}

/// How long after SIGINT `modu` may take to exit: the issue's bound.
const STOP_BOUND: Duration = Duration::from_secs(5);

#[tokio::test]
async fn ctrl_c_during_up_exits_130_within_seconds_and_the_next_up_converges() {
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::full("halted");
    let file = spec.write(dir.path());
    let file = arg(&file);
    let wanted = baseline(&spec, file).await;

    let cloud = Emulator::start();
    let aws = Aws::new(&cloud).await;
    // Every mutating call takes 0.6 s: the signals land inside different resources.
    let proxy = FaultProxy::start(&cloud, &Faults::slow_mutations(600));
    let mut interrupted = 0;
    for after in [1500, 3500, 6000, 9000] {
        let mut up = Running::start(proxy.url(), &["up", "-f", file, "--yes"]);
        tokio::time::sleep(Duration::from_millis(after)).await;
        if up.exited() {
            let run = up.finish(STOP_BOUND).await;
            run.expect_success();
            break;
        }
        up.signal("INT");
        let signalled = Instant::now();
        let run = up.finish(Duration::from_secs(60)).await;
        let took = signalled.elapsed();
        run.expect_code(130);
        assert!(took < STOP_BOUND, "exited {took:?} after SIGINT\n{run}");
        assert!(run.stderr.contains("stopping:"), "{run}");
        assert!(
            run.stderr
                .contains("stopped as asked; run `modu up` again to finish"),
            "{run}"
        );
        assert!(!run.stderr.contains("panicked"), "{run}");
        interrupted += 1;
    }
    assert!(interrupted >= 2, "the stack came up before the signals");

    proxy.set(&Faults::none());
    modu(&cloud, &["up", "-f", file, "--yes"])
        .await
        .expect_success();
    expect_no_change(
        &cloud,
        &["up", "-f", file],
        "the stack after interrupted ups",
    )
    .await;
    let found = inventory(&cloud, &aws, &spec.stack, ZONE).await;
    assert_eq!(
        found.counts(),
        wanted.inventory.counts(),
        "no duplicates after interrupted ups\nfound:\n{found}\nwithout interruption:\n{}",
        wanted.inventory
    );
}

#[tokio::test]
async fn a_second_ctrl_c_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::full("impatient");
    let file = spec.write(dir.path());
    let cloud = Emulator::start();
    // Slow enough that the first stop's grace is still running at the second signal.
    let proxy = FaultProxy::start(&cloud, &Faults::slow_mutations(10_000));
    let up = Running::start(proxy.url(), &["up", "-f", arg(&file), "--yes"]);
    // By then the plan is made and the first changes are held by the proxy.
    tokio::time::sleep(Duration::from_secs(4)).await;
    up.signal("INT");
    tokio::time::sleep(Duration::from_millis(300)).await;
    up.signal("INT");
    let second = Instant::now();
    let run = up.finish(STOP_BOUND).await;
    assert!(second.elapsed() < Duration::from_secs(1), "{run}");
    run.expect_code(130);
    assert!(run.stderr.contains("exiting at once"), "{run}");
}

#[tokio::test]
async fn kill_9_during_up_and_down_then_the_same_command_converges_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::full("killed");
    let file = spec.write(dir.path());
    let file = arg(&file);
    let wanted = baseline(&spec, file).await;

    let cloud = Emulator::start();
    let aws = Aws::new(&cloud).await;
    let proxy = FaultProxy::start(&cloud, &Faults::slow_mutations(500));
    let up_args = ["up", "-f", file, "--yes"];
    let down_args = ["down", "-f", file, "--yes", "--delete-data"];
    for (args, points) in [
        (&up_args[..], [1200, 3000, 5500]),
        (&down_args[..], [800, 2500, 4500]),
    ] {
        for after in points {
            let mut run = Running::start(proxy.url(), args);
            tokio::time::sleep(Duration::from_millis(after)).await;
            if run.exited() {
                run.finish(STOP_BOUND).await.expect_success();
                continue;
            }
            run.signal("KILL");
            let killed = run.finish(STOP_BOUND).await;
            assert_eq!(killed.code, None, "killed by the signal\n{killed}");
        }
        let run = modu_at(proxy.url(), args).await;
        run.expect_success();
        if args[0] == "up" {
            expect_no_change(&cloud, &["up", "-f", file], "the stack after killed ups").await;
            let found = inventory(&cloud, &aws, &spec.stack, ZONE).await;
            assert_eq!(
                found.counts(),
                wanted.inventory.counts(),
                "no duplicates after killed ups\nfound:\n{found}\nwithout kills:\n{}",
                wanted.inventory
            );
        }
    }
    let left = inventory(&cloud, &aws, &spec.stack, ZONE).await;
    assert!(left.is_empty(), "down after killed downs left:\n{left}");
}

#[tokio::test]
async fn two_ups_at_once_make_one_stack_and_the_later_says_whom_it_waits_for() {
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::full("twice");
    let file = spec.write(dir.path());
    let file = arg(&file);
    let wanted = baseline(&spec, file).await;

    let cloud = Emulator::start();
    let aws = Aws::new(&cloud).await;
    let proxy = FaultProxy::start(&cloud, &Faults::slow_mutations(300));
    let args = ["up", "-f", file, "--yes"];
    let first = Running::start(proxy.url(), &args);
    let second = Running::start(proxy.url(), &args);
    tokio::time::sleep(Duration::from_secs(4)).await;
    // Meanwhile a third is refused at once when it will not wait.
    let impatient = modu_at(
        proxy.url(),
        &["up", "-f", file, "--yes", "--lease-wait", "0"],
    )
    .await;
    impatient.expect_code(1);
    assert!(
        impatient
            .stderr
            .contains("stack twice is being changed by `modu up` of")
            && impatient.stderr.contains("gave up waiting after 0 s"),
        "{impatient}"
    );
    let (first, second) = (
        first.finish(Duration::from_secs(300)).await,
        second.finish(Duration::from_secs(300)).await,
    );
    first.expect_success();
    second.expect_success();
    let waited: Vec<&Run> = [&first, &second]
        .into_iter()
        .filter(|run| run.stderr.contains("waiting for it to finish"))
        .collect();
    assert_eq!(waited.len(), 1, "exactly one waited\n{first}\n\n{second}");
    assert!(
        waited[0].stdout.contains("nothing to do") || waited[0].stdout.contains("unchanged"),
        "the later one found the stack made\n{}",
        waited[0]
    );

    let calls = cloud.mutating_calls_since(0);
    for once in [
        "CreateHostedZone",
        "CreateDistributionWithTags",
        "CreateOriginAccessControl",
        "CreateLoadBalancer",
        "CreateAutoScalingGroup",
        "CreateReplicationGroup",
    ] {
        let made = calls.iter().filter(|c| c.operation == once).count();
        assert_eq!(
            made,
            1,
            "{once} called {made} times: {}",
            describe_calls(&calls)
        );
    }
    let found = inventory(&cloud, &aws, &spec.stack, ZONE).await;
    assert_eq!(
        found.counts(),
        wanted.inventory.counts(),
        "one stack from two ups\nfound:\n{found}\nfrom one up:\n{}",
        wanted.inventory
    );
    assert!(
        !found.items.iter().any(|i| i.starts_with("lease ")),
        "the lease was given back:\n{found}"
    );
}
