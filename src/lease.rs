//! One changing run per stack at a time, across machines: `up`, `down` and `deploy` hold
//! the stack's lease — an SSM parameter, `/modu-leases/<stack>`, tagged with the stack,
//! saying who holds it until when — for as long as they change anything. A second run
//! waits for it, saying whose it is; a holder that died leaves a lease that expires
//! ([`TTL`] after its last renewal), or, on the machine it ran on, is taken over at once.
//!
//! SSM has no compare-and-set, so the lease is made of the two things it does have: a
//! create that fails when the parameter exists (taking a free lease), and a write followed,
//! after a pause, by a read that shows whose write won (taking over an expired one). A
//! holder renews every [`TTL`]/3 and stops its run if it finds the lease taken from it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::aws::errors::{Absent, AwsContext};
use crate::aws::tags;
use crate::error::{Error, Result};
use crate::resources::Context;

/// How long a lease lasts without renewal.
pub const TTL: Duration = Duration::from_secs(90);
/// How long a takeover waits before reading whose write won.
const SETTLE: Duration = Duration::from_secs(1);
/// How often a waiting run looks again.
const POLL: Duration = Duration::from_secs(3);
const KIND: &str = "lease";

/// The parameter holding `stack`'s lease (outside `/modu/<stack>/`, which the stack's own
/// parameters fill and prune).
pub fn parameter(stack: &str) -> String {
    format!("/modu-leases/{stack}")
}

/// Who holds a lease, until when.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    /// The command that holds it (`up`, `down`, `deploy`).
    pub command: String,
    pub user: String,
    pub host: String,
    /// This boot of the host (Linux), to tell a dead local holder from a live one.
    #[serde(default)]
    pub boot: String,
    pub pid: u32,
    /// Unique per run: the same process never mistakes another run's lease for its own.
    pub run: String,
    /// Seconds since the Unix epoch.
    pub since: u64,
    pub expires: u64,
}

impl Holder {
    /// This process, running `command`, holding from `now` (Unix seconds).
    pub fn this_process(command: &str, now: u64) -> Holder {
        Holder {
            command: command.to_string(),
            user: std::env::var("USER").unwrap_or_else(|_| "someone".into()),
            host: read_trimmed("/proc/sys/kernel/hostname").unwrap_or_else(|| "a host".into()),
            boot: read_trimmed("/proc/sys/kernel/random/boot_id").unwrap_or_default(),
            pid: std::process::id(),
            run: format!("{:016x}", rand::random::<u64>()),
            since: now,
            expires: now + TTL.as_secs(),
        }
    }

    fn describe(&self) -> String {
        format!(
            "`modu {}` of {} on {} (pid {}), since {} s ago",
            self.command,
            self.user,
            self.host,
            self.pid,
            unix_now().saturating_sub(self.since)
        )
    }
}

/// What to do about a lease someone holds.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// It is this run's own (a create whose reply was lost and was retried).
    Ours,
    /// Its holder is gone: take it over, saying why.
    TakeOver(String),
    /// Its holder may still be working.
    Wait,
}

/// Decides about `current`, held while `me` wants it, at `now`; `alive(pid)` tells whether
/// a process of this boot of this host is still running.
pub fn judge(current: &Holder, me: &Holder, now: u64, alive: impl Fn(u32) -> bool) -> Verdict {
    if current.run == me.run {
        return Verdict::Ours;
    }
    if current.expires <= now {
        return Verdict::TakeOver(format!(
            "the lease of {} expired {} s ago",
            current.describe(),
            now - current.expires
        ));
    }
    let here = current.host == me.host && !me.boot.is_empty() && current.boot == me.boot;
    if here && !alive(current.pid) {
        return Verdict::TakeOver(format!(
            "{} is no longer running on this machine",
            current.describe()
        ));
    }
    Verdict::Wait
}

/// The stack's lease, held by this run until [`Lease::release`].
pub struct Lease {
    name: String,
    me: Holder,
    renewal: tokio::task::JoinHandle<()>,
}

impl Lease {
    /// Takes the stack's lease for `command`, waiting at most `patience` for another run
    /// to give it up.
    pub async fn take(cx: &Context, command: &str, patience: Duration) -> Result<Lease> {
        let name = parameter(&cx.spec.stack);
        let mut me = Holder::this_process(command, unix_now());
        let started = tokio::time::Instant::now();
        let mut told = false;
        loop {
            me.expires = unix_now() + TTL.as_secs();
            if create(cx, &name, &me).await? {
                break;
            }
            let Some(current) = read(cx, &name).await? else {
                continue; // released between the create and the read
            };
            match judge(&current, &me, unix_now(), pid_alive) {
                Verdict::Ours => break,
                Verdict::TakeOver(why) => {
                    eprintln!("lease of stack {}: {why}; taking it over", cx.spec.stack);
                    write(cx, &name, &me).await?;
                    tokio::time::sleep(SETTLE).await;
                    if read(cx, &name).await?.is_some_and(|h| h.run == me.run) {
                        break;
                    }
                }
                Verdict::Wait => {
                    if started.elapsed() >= patience {
                        return Err(Error::fixable(
                            format!(
                                "stack {} is being changed by {}; gave up waiting after {} s",
                                cx.spec.stack,
                                current.describe(),
                                patience.as_secs()
                            ),
                            format!(
                                "run the command again once that run has finished (or raise \
                                 --lease-wait); a run that died frees the stack within {} s",
                                TTL.as_secs()
                            ),
                        ));
                    }
                    if !told {
                        eprintln!(
                            "stack {} is being changed by {}: waiting for it to finish (at most {} s)",
                            cx.spec.stack,
                            current.describe(),
                            patience.as_secs()
                        );
                        told = true;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(POLL) => {}
                        () = cx.stop.wait() => {
                            return Err(Error::Interrupted { what: "waiting for the stack's lease".into() });
                        }
                    }
                }
            }
        }
        let renewal = tokio::spawn(renew(Renewing::of(cx), name.clone(), me.clone()));
        Ok(Lease { name, me, renewal })
    }

    /// Gives the lease up (when it is still this run's).
    pub async fn release(self, cx: &Context) -> Result<()> {
        self.renewal.abort();
        if read(cx, &self.name)
            .await?
            .is_some_and(|h| h.run == self.me.run)
        {
            cx.clients
                .ssm
                .call("DeleteParameter", &json!({ "Name": self.name }))
                .await
                .or_gone(&["ParameterNotFound"], KIND, &self.name)?;
        }
        Ok(())
    }
}

/// What renewing needs of the context: the clients, the stack and its stop.
struct Renewing {
    clients: crate::aws::Clients,
    stack: String,
    stop: crate::stop::Stop,
}

impl Renewing {
    fn of(cx: &Context) -> Renewing {
        Renewing {
            clients: cx.clients.clone(),
            stack: cx.spec.stack.clone(),
            stop: cx.stop.clone(),
        }
    }
}

/// Extends the lease every third of its life; stops the run if another run took it.
async fn renew(cx: Renewing, name: String, mut me: Holder) {
    loop {
        tokio::time::sleep(TTL / 3).await;
        let current = match cx
            .clients
            .ssm
            .call("GetParameter", &json!({ "Name": name }))
            .await
        {
            Ok(answer) => holder_of(&answer),
            Err(err) => {
                tracing::warn!(
                    "could not read the lease of stack {} to renew it: {err}",
                    cx.stack
                );
                continue;
            }
        };
        if current.as_ref().is_none_or(|h| h.run != me.run) {
            eprintln!(
                "stack {}: another run took the lease ({}); stopping this one",
                cx.stack,
                current.map_or("released".to_string(), |h| h.describe())
            );
            cx.stop.request(15);
            return;
        }
        me.expires = unix_now() + TTL.as_secs();
        let value = serde_json::to_string(&me).unwrap_or_default();
        let input = json!({ "Name": name, "Value": value, "Type": "String", "Overwrite": true });
        if let Err(err) = cx.clients.ssm.call("PutParameter", &input).await {
            tracing::warn!("could not renew the lease of stack {}: {err}", cx.stack);
        }
    }
}

/// Creates the lease parameter; false when it exists.
async fn create(cx: &Context, name: &str, me: &Holder) -> Result<bool> {
    let tags: Vec<Value> = tags::for_resource(&cx.spec, KIND, name)
        .into_iter()
        .map(|(k, v)| json!({ "Key": k, "Value": v }))
        .collect();
    let input = json!({
        "Name": name,
        "Value": serde_json::to_string(me).unwrap_or_default(),
        "Type": "String",
        "Description": "modu: the run changing this stack",
        "Tags": tags,
    });
    match cx.clients.ssm.call("PutParameter", &input).await {
        Ok(_) => Ok(true),
        Err(err) if err.code() == Some("ParameterAlreadyExists") => Ok(false),
        Err(err) => Err(err).context("taking", KIND, name),
    }
}

/// Overwrites the lease with `me` (its tags stay).
async fn write(cx: &Context, name: &str, me: &Holder) -> Result<()> {
    let input = json!({
        "Name": name,
        "Value": serde_json::to_string(me).unwrap_or_default(),
        "Type": "String",
        "Overwrite": true,
    });
    cx.clients
        .ssm
        .call("PutParameter", &input)
        .await
        .context("taking over", KIND, name)?;
    Ok(())
}

/// The lease's holder; `None` when there is no lease. A value that is not a holder (written
/// by hand) reads as the default holder, expired since the epoch.
async fn read(cx: &Context, name: &str) -> Result<Option<Holder>> {
    match cx
        .clients
        .ssm
        .call("GetParameter", &json!({ "Name": name }))
        .await
    {
        Ok(answer) => Ok(Some(holder_of(&answer).unwrap_or_default())),
        Err(err) if err.code() == Some("ParameterNotFound") => Ok(None),
        Err(err) => Err(err).context("reading", KIND, name),
    }
}

fn holder_of(answer: &Value) -> Option<Holder> {
    serde_json::from_str(answer["Parameter"]["Value"].as_str()?).ok()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Whether `pid` is a running modu of this boot (Linux's /proc; elsewhere assumed alive,
/// so only expiry frees the lease).
fn pid_alive(pid: u32) -> bool {
    if !std::path::Path::new("/proc/self").exists() {
        return true;
    }
    read_trimmed(&format!("/proc/{pid}/comm")).is_some_and(|comm| comm.starts_with("modu"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(run: &str, host: &str, boot: &str, pid: u32, expires: u64) -> Holder {
        Holder {
            command: "up".into(),
            user: "ana".into(),
            host: host.into(),
            boot: boot.into(),
            pid,
            run: run.into(),
            since: 0,
            expires,
        }
    }

    #[test]
    fn a_live_holder_elsewhere_is_waited_for_until_its_lease_expires() {
        let me = holder("b", "laptop", "boot-1", 10, 200);
        let other = holder("a", "ci-runner", "boot-9", 10, 150);
        assert_eq!(judge(&other, &me, 100, |_| false), Verdict::Wait);
        assert!(
            matches!(judge(&other, &me, 150, |_| true), Verdict::TakeOver(why) if why.contains("expired"))
        );
    }

    #[test]
    fn a_dead_holder_on_this_machine_is_taken_over_at_once() {
        let me = holder("b", "laptop", "boot-1", 20, 200);
        let dead = holder("a", "laptop", "boot-1", 10, 190);
        assert!(
            matches!(judge(&dead, &me, 100, |_| false), Verdict::TakeOver(why) if why.contains("no longer running"))
        );
        assert_eq!(judge(&dead, &me, 100, |pid| pid == 10), Verdict::Wait);
        // The same pid after a reboot is another process: only expiry frees it.
        let before_reboot = holder("a", "laptop", "boot-0", 10, 190);
        assert_eq!(judge(&before_reboot, &me, 100, |_| false), Verdict::Wait);
    }

    #[test]
    fn its_own_lease_is_recognised_by_the_run_not_the_process() {
        let me = holder("b", "laptop", "boot-1", 20, 200);
        assert_eq!(judge(&me.clone(), &me, 100, |_| true), Verdict::Ours);
        let earlier_run_same_pid = holder("a", "laptop", "boot-1", 20, 190);
        assert_eq!(
            judge(&earlier_run_same_pid, &me, 100, |_| true),
            Verdict::Wait
        );
    }

    #[test]
    fn the_lease_lives_outside_the_stacks_parameter_path() {
        assert!(!parameter("web").starts_with(&crate::resources::parameters::path("web")));
    }
}
