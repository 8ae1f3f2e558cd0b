//! Runs the stack graph: `plan` observes and diffs, `up` applies a plan, `down` deletes in
//! reverse, `status` describes.
//!
//! The engine knows resources only through the [`Resource`] trait. Independent resources
//! run concurrently; a resource starts once everything before it (its dependencies going
//! forward, its dependents going back) has finished, and is skipped if any of those failed.
//! Failures do not stop unrelated branches: every error is collected and reported at the end.
//! `up` applies exactly the plan it was given: nothing is compared a second time.

pub mod graph;
#[cfg(test)]
pub(crate) mod testing;

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

pub use graph::{Direction, Graph};

use crate::error::{Error, Result};
use crate::output::{Outcome, Phase, ResourceStatus, RunRow, StackStatus, Summary};
use crate::plan::{Action, Plan, PlanRow};
use crate::resources::{Change, Context, Deps, Found, Key, Known, Observed, OnDown, Resource};
use crate::stop::{self, Stop};

type KnownMap = BTreeMap<Key, Known>;

/// What one resource's step produced: what its dependents may know of it, and the outcome.
struct Step<P> {
    known: Option<Known>,
    outcome: Outcome,
    payload: P,
}

/// Everything a walk over the graph produced, by node index.
struct Walk<P> {
    known: KnownMap,
    outcomes: Vec<Outcome>,
    payloads: Vec<Option<P>>,
    errors: Vec<Error>,
}

/// Walks the graph in `direction`, starting each node once all nodes before it have finished.
/// Once `stop` is asked for, nothing more starts; what is running gets [`stop::GRACE`] to
/// finish (waits end at once), then is abandoned. Both end as `Interrupted`.
async fn walk<'a, P, F>(
    graph: &'a Graph,
    direction: Direction,
    stop: &Stop,
    mut start: F,
) -> Walk<P>
where
    P: Send + 'a,
    F: FnMut(usize, KnownMap) -> BoxFuture<'a, Result<Step<P>>>,
{
    let n = graph.len();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; n];
    let mut payloads: Vec<Option<P>> = (0..n).map(|_| None).collect();
    let mut started = vec![false; n];
    let mut known = KnownMap::new();
    let mut errors = Vec::new();
    let mut running = FuturesUnordered::new();
    let mut grace_ends: Option<Instant> = None;

    let order: Vec<usize> = match direction {
        Direction::Forward => graph.order().to_vec(),
        Direction::Reverse => graph.order().iter().rev().copied().collect(),
    };
    loop {
        // Start (or skip) every node whose prerequisites have all finished. Skipping can make
        // further nodes decidable, so repeat until nothing changes.
        let mut progressed = true;
        while progressed {
            progressed = false;
            for &i in &order {
                if started[i] {
                    continue;
                }
                let before = graph.before(i, direction);
                if before.iter().any(|&j| outcomes[j].is_none()) {
                    continue;
                }
                started[i] = true;
                progressed = true;
                if stop.requested() {
                    outcomes[i] = Some(Outcome::Interrupted);
                    continue;
                }
                let blocked = before.iter().any(|&j| {
                    matches!(
                        outcomes[j],
                        Some(Outcome::Failed(_) | Outcome::Skipped | Outcome::Interrupted)
                    )
                });
                if blocked {
                    outcomes[i] = Some(Outcome::Skipped);
                    continue;
                }
                let step = start(i, known.clone());
                running.push(async move { (i, step.await) });
            }
        }
        let next = match grace_ends {
            Some(deadline) => match tokio::time::timeout_at(deadline, running.next()).await {
                Ok(next) => next,
                // What is still running is abandoned (dropped with `running`).
                Err(_) => break,
            },
            None => tokio::select! {
                next = running.next() => next,
                () = stop.wait() => {
                    grace_ends = Some(Instant::now() + stop::GRACE);
                    continue;
                }
            },
        };
        let Some((i, result)) = next else {
            break;
        };
        match result {
            Ok(step) => {
                if let Some(k) = step.known {
                    known.insert(graph.node(i).key(), k);
                }
                outcomes[i] = Some(step.outcome);
                payloads[i] = Some(step.payload);
            }
            Err(Error::Interrupted { .. }) => outcomes[i] = Some(Outcome::Interrupted),
            Err(err) => {
                outcomes[i] = Some(Outcome::Failed(err.to_string()));
                errors.push(err);
            }
        }
    }
    let interrupted = stop.requested();
    Walk {
        known,
        outcomes: outcomes
            .into_iter()
            .map(|o| match o {
                Some(outcome) => outcome,
                None if interrupted => Outcome::Interrupted,
                None => Outcome::Skipped,
            })
            .collect(),
        payloads,
        errors,
    }
}

fn deps<'a>(node: &dyn Resource, known: &'a KnownMap) -> Deps<'a> {
    Deps::new(node.key(), node.depends_on(), known)
}

fn report(cx: &Context, node: &dyn Resource, phase: Phase) {
    cx.progress
        .update(node.key().as_str(), node.kind(), &node.name(cx), phase);
}

/// Reports the end of a step on the resource's progress line.
fn finish<P>(cx: &Context, node: &dyn Resource, result: &Result<Step<P>>) {
    let phase = match result {
        Ok(step) => Phase::Done(step.outcome.label()),
        Err(err) => Phase::Failed(err.to_string()),
    };
    report(cx, node, phase);
}

/// Creates `node`. A create that failed may have happened all the same: its reply lost and
/// the SDK's retry told "already exists", or the create done and a later call of it (a
/// rule, a tag) failed. So after a failed create modu looks again: what is there now is
/// brought to the spec like any existing resource, and only when nothing is there does the
/// create's error stand. Never a second one of anything.
async fn create(cx: &Context, node: &dyn Resource, deps: &Deps<'_>) -> Result<Found> {
    let err = match node.create(cx, deps).await {
        Ok(found) => return Ok(found),
        Err(err) if err.is_from_aws() => err,
        Err(err) => return Err(err),
    };
    // What the plan's observation read (shared lists of groups, zones…) is stale now.
    cx.forget_reads();
    let Ok(Some(observed)) = node.observe(cx, deps).await else {
        return Err(err);
    };
    tracing::warn!(
        "creating {} {} failed ({err}), but it exists: converging it",
        node.kind(),
        node.name(cx)
    );
    let changes = node.diff(cx, deps, &observed)?;
    if changes.iter().any(|c| c.replace) {
        return Err(err);
    }
    if changes.is_empty() {
        return Ok(observed.found);
    }
    node.apply(cx, deps, &observed, &changes).await?;
    match node.versioned() {
        true => Ok(node
            .observe(cx, deps)
            .await?
            .map_or(observed.found, |o| o.found)),
        false => Ok(observed.found),
    }
}

/// Deletes `node`. A delete that failed may have happened all the same (its reply lost, the
/// retry told "not found"): when the resource is gone now, the delete succeeded.
async fn delete(cx: &Context, node: &dyn Resource, deps: &Deps<'_>, found: &Found) -> Result<()> {
    let err = match node.delete(cx, found).await {
        Ok(()) => return Ok(()),
        Err(err) if err.is_from_aws() => err,
        Err(err) => return Err(err),
    };
    cx.forget_reads();
    match node.observe(cx, deps).await {
        Ok(None) => {
            tracing::info!(
                "deleting {} {} answered {err}, but it is gone",
                node.kind(),
                node.name(cx)
            );
            Ok(())
        }
        _ => Err(err),
    }
}

/// What observing one resource found.
enum Seen {
    Absent,
    /// It exists; `changes` is its diff against the spec (empty when not asked for, or
    /// when the resource is not wanted).
    Exists {
        observed: Observed,
        changes: Vec<Change>,
    },
    /// A resource of its name exists but is not the stack's.
    Foreign(Error),
}

/// Observes every resource in dependency order, changing nothing; with `diff`, also
/// compares each wanted one with the spec. A dependency that is absent but wanted is
/// `Pending` for its dependents, so their diffs show `(known after up)`.
async fn observe(cx: &Context, graph: &Graph, diff: bool) -> Walk<Seen> {
    cx.forget_reads();
    walk(graph, Direction::Forward, &cx.stop, |i, known| {
        let node = graph.node(i);
        Box::pin(async move {
            let deps = deps(node, &known);
            let wanted = node.wanted(&cx.spec);
            let observed = match node.observe(cx, &deps).await {
                Ok(observed) => observed,
                Err(err @ Error::NotOwned { .. }) => {
                    return Ok(Step {
                        known: wanted.then_some(Known::Pending),
                        outcome: Outcome::Unchanged,
                        payload: Seen::Foreign(err),
                    });
                }
                // A tier the spec leaves out needs no permission (`modu iam-policy`): when
                // looking for what an earlier spec of it left is refused, nothing of it is
                // taken to be there, and the operator is told how to check.
                Err(err) if !wanted && err.is_access_denied() => {
                    tracing::warn!(
                        "cannot look for a leftover {} {} (access denied): if an earlier spec \
                         of this stack had it, run `modu down` with that spec's policy \
                         (`modu iam-policy`) to remove it",
                        node.kind(),
                        node.name(cx),
                    );
                    None
                }
                Err(err) => return Err(err),
            };
            let Some(observed) = observed else {
                return Ok(Step {
                    known: wanted.then_some(Known::Pending),
                    outcome: Outcome::Absent,
                    payload: Seen::Absent,
                });
            };
            let changes = if diff && wanted {
                node.diff(cx, &deps, &observed)?
            } else {
                Vec::new()
            };
            // A replaced resource gets a new id, a versioned one a new version: its
            // dependents see it as planned.
            let renewed = !changes.is_empty() && node.versioned();
            let known = if renewed || changes.iter().any(|c| c.replace) {
                Known::Pending
            } else {
                Known::Exists(observed.found.clone())
            };
            Ok(Step {
                known: Some(known),
                outcome: Outcome::Unchanged,
                payload: Seen::Exists { observed, changes },
            })
        })
    })
    .await
}

/// What `up` will do to one resource.
enum Planned {
    /// Not wanted and absent: not shown.
    Hidden,
    Create,
    Keep(Observed),
    Update(Observed, Vec<Change>),
    Replace(Observed, Vec<Change>),
    Delete(Observed),
}

impl Planned {
    fn action(&self) -> Option<Action> {
        Some(match self {
            Planned::Hidden => return None,
            Planned::Create => Action::Create,
            Planned::Keep(_) => Action::NoChange,
            Planned::Update(..) => Action::Update,
            Planned::Replace(..) => Action::Replace,
            Planned::Delete(_) => Action::Delete,
        })
    }
}

/// A plan for one stack: what `up` will do, resource by resource, with what it observed.
pub struct StackPlan {
    steps: Vec<Planned>,
    /// Rows and counts for people and scripts.
    pub view: Plan,
}

/// Observes the stack and decides, for every resource, what `up` would do. Makes no
/// mutating call. Fails when anything could not be observed or is not the stack's.
pub async fn plan(cx: &Context, graph: &Graph) -> Result<StackPlan> {
    let observed = observe(cx, graph, true).await;
    let mut errors = observed.errors;
    let mut steps = Vec::with_capacity(graph.len());
    for (i, seen) in observed.payloads.into_iter().enumerate() {
        let wanted = graph.node(i).wanted(&cx.spec);
        let step = match seen {
            None => Planned::Hidden,
            Some(Seen::Foreign(err)) => {
                if wanted {
                    errors.push(err);
                }
                Planned::Hidden
            }
            Some(Seen::Absent) if wanted => Planned::Create,
            Some(Seen::Absent) => Planned::Hidden,
            Some(Seen::Exists { observed, .. }) if !wanted => Planned::Delete(observed),
            Some(Seen::Exists { observed, changes }) if changes.is_empty() => {
                Planned::Keep(observed)
            }
            Some(Seen::Exists { observed, changes }) if changes.iter().any(|c| c.replace) => {
                Planned::Replace(observed, changes)
            }
            Some(Seen::Exists { observed, changes }) => Planned::Update(observed, changes),
        };
        steps.push(step);
    }
    if let Some(err) = Error::from_many(errors) {
        return Err(err);
    }
    let rows = graph
        .order()
        .iter()
        .filter_map(|&i| {
            let node = graph.node(i);
            let step = &steps[i];
            let fields = match step {
                Planned::Update(_, changes) | Planned::Replace(_, changes) => changes.clone(),
                _ => Vec::new(),
            };
            Some(PlanRow {
                key: node.key().as_str().into(),
                kind: node.kind().into(),
                name: node.name(cx),
                action: step.action()?,
                fields,
            })
        })
        .collect();
    Ok(StackPlan {
        steps,
        view: Plan::new(rows),
    })
}

fn change_lines(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .map(|c| format!("{}: {} → {}", c.field, c.from, c.to))
        .collect()
}

fn summary(
    cx: &Context,
    graph: &Graph,
    command: &'static str,
    outcomes: &[Outcome],
    known: &KnownMap,
    started: Instant,
) -> Summary {
    let rows = graph
        .order()
        .iter()
        .map(|&i| {
            let node = graph.node(i);
            RunRow {
                key: node.key().as_str().into(),
                kind: node.kind().into(),
                name: node.name(cx),
                outcome: outcomes[i].clone(),
            }
        })
        .collect();
    Summary {
        command,
        stack: cx.spec.stack.clone(),
        rows,
        elapsed: cx.clock.now().saturating_duration_since(started),
        outputs: stack_outputs(cx, graph, known),
    }
}

fn stack_outputs(cx: &Context, graph: &Graph, known: &KnownMap) -> BTreeMap<String, String> {
    graph
        .order()
        .iter()
        .map(|&i| graph.node(i))
        .filter_map(|node| match known.get(&node.key()) {
            Some(Known::Exists(found)) => Some(node.stack_outputs(cx, found)),
            _ => None,
        })
        .flatten()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// Carries out `plan`: creates, updates and replaces in dependency order, then deletes what
/// is no longer wanted in reverse order, once everything that used it has moved on.
pub async fn apply(cx: &Context, graph: &Graph, plan: StackPlan) -> (Summary, Option<Error>) {
    let started = cx.clock.now();
    let steps = &plan.steps;
    for &i in graph.order() {
        if matches!(
            steps[i],
            Planned::Create | Planned::Update(..) | Planned::Replace(..)
        ) {
            report(cx, graph.node(i), Phase::Queued);
        }
    }
    let forward = walk(graph, Direction::Forward, &cx.stop, |i, known| {
        let node = graph.node(i);
        Box::pin(cx.converging(async move {
            let deps = deps(node, &known);
            match &steps[i] {
                Planned::Hidden => Ok(Step {
                    known: None,
                    outcome: Outcome::Absent,
                    payload: (),
                }),
                Planned::Keep(observed) | Planned::Delete(observed) => Ok(Step {
                    known: Some(Known::Exists(observed.found.clone())),
                    outcome: Outcome::Unchanged,
                    payload: (),
                }),
                Planned::Create => {
                    report(cx, node, Phase::Working("creating".into()));
                    let result = create(cx, node, &deps).await.map(|found| Step {
                        known: Some(Known::Exists(found)),
                        outcome: Outcome::Created,
                        payload: (),
                    });
                    finish(cx, node, &result);
                    result
                }
                Planned::Update(observed, changes) => {
                    report(cx, node, Phase::Working("updating".into()));
                    let result = async {
                        node.apply(cx, &deps, observed, changes).await?;
                        // A new version: what its dependents read is what it is now.
                        let found = match node.versioned() {
                            true => node.observe(cx, &deps).await?.map(|o| o.found),
                            false => None,
                        };
                        Ok(Step {
                            known: Some(Known::Exists(
                                found.unwrap_or_else(|| observed.found.clone()),
                            )),
                            outcome: Outcome::Updated(change_lines(changes)),
                            payload: (),
                        })
                    }
                    .await;
                    finish(cx, node, &result);
                    result
                }
                Planned::Replace(observed, changes) => {
                    report(cx, node, Phase::Working("replacing: deleting".into()));
                    let result = async {
                        delete(cx, node, &deps, &observed.found).await?;
                        report(cx, node, Phase::Working("replacing: creating".into()));
                        let found = create(cx, node, &deps).await?;
                        Ok(Step {
                            known: Some(Known::Exists(found)),
                            outcome: Outcome::Replaced(change_lines(changes)),
                            payload: (),
                        })
                    }
                    .await;
                    finish(cx, node, &result);
                    result
                }
            }
        }))
    })
    .await;
    let mut errors = forward.errors;
    let outcomes = forward.outcomes;
    // Second pass, in reverse: delete what is no longer wanted. Other nodes pass through
    // (their real outcome is the first pass's), so an earlier failure does not block an
    // unrelated removal.
    let backward = walk(graph, Direction::Reverse, &cx.stop, |i, _| {
        let node = graph.node(i);
        let known = forward.known.get(&node.key()).cloned();
        let forward_known = &forward.known;
        Box::pin(cx.converging(async move {
            match &steps[i] {
                Planned::Delete(observed) => {
                    report(
                        cx,
                        node,
                        Phase::Working("deleting (tier switched off)".into()),
                    );
                    let deps = deps(node, forward_known);
                    let result = delete(cx, node, &deps, &observed.found)
                        .await
                        .map(|()| Step {
                            known: None,
                            outcome: Outcome::Deleted,
                            payload: (),
                        });
                    finish(cx, node, &result);
                    result
                }
                _ => Ok(Step {
                    known,
                    outcome: Outcome::Unchanged,
                    payload: (),
                }),
            }
        }))
    })
    .await;
    cx.progress.finish();
    errors.extend(backward.errors);
    let merged: Vec<Outcome> = outcomes
        .into_iter()
        .zip(backward.outcomes)
        .zip(steps)
        .map(|((first, second), step)| match (second, step) {
            (second @ (Outcome::Deleted | Outcome::Failed(_)), _) => second,
            (Outcome::Interrupted, Planned::Delete(_)) => Outcome::Interrupted,
            _ => first,
        })
        .collect();
    let mut summary = summary(cx, graph, "up", &merged, &backward.known, started);
    // Resources of a tier that is off and was already absent are not worth a line.
    summary.rows.retain(|row| row.outcome != Outcome::Absent);
    (summary, Error::from_many(errors))
}

/// Plans and applies in one go, without asking (the command asks in between).
pub async fn up(cx: &Context, graph: &Graph) -> (Summary, Option<Error>) {
    match plan(cx, graph).await {
        Ok(plan) => apply(cx, graph, plan).await,
        Err(err) => {
            let started = cx.clock.now();
            let outcomes = vec![Outcome::Skipped; graph.len()];
            let mut summary = summary(cx, graph, "up", &outcomes, &KnownMap::new(), started);
            summary.rows.clear();
            (summary, Some(err))
        }
    }
}

/// True when `down` may find something of the stack to delete (or could not tell):
/// a `down` of a stack that is gone needs no lease and makes no change.
pub async fn anything_left(cx: &Context, graph: &Graph) -> bool {
    let seen = observe(cx, graph, false).await;
    !seen.errors.is_empty()
        || seen.payloads.iter().enumerate().any(|(i, p)| match p {
            Some(Seen::Exists { observed, .. }) => {
                matches!(graph.node(i).on_down(cx, &observed.found), OnDown::Delete)
            }
            _ => false,
        })
}

/// Deletes everything the stack owns, dependents first; resources that hold data or are
/// shared are kept and say why; same-named resources that are not the stack's are left alone.
pub async fn down(cx: &Context, graph: &Graph) -> (Summary, Option<Error>) {
    let started = cx.clock.now();
    let discovered = observe(cx, graph, false).await;
    let mut errors = discovered.errors;
    let seen = &discovered.payloads;
    let lookups = &discovered.outcomes;
    let discovered_known = &discovered.known;
    let walk = walk(graph, Direction::Reverse, &cx.stop, |i, _| {
        let node = graph.node(i);
        Box::pin(cx.converging(async move {
            let result = match (&lookups[i], &seen[i]) {
                // Its lookup error is already collected; dependencies stay untouched.
                (Outcome::Failed(_) | Outcome::Skipped | Outcome::Interrupted, _) => Ok(Step {
                    known: None,
                    outcome: Outcome::Failed("could not be looked up".into()),
                    payload: (),
                }),
                (_, Some(Seen::Foreign(err))) => Ok(Step {
                    known: None,
                    outcome: Outcome::Kept(format!("left alone: {err}")),
                    payload: (),
                }),
                (_, Some(Seen::Exists { observed, .. })) => {
                    let found: &Found = &observed.found;
                    match node.on_down(cx, found) {
                        OnDown::Keep(why) => Ok(Step {
                            known: Some(Known::Exists(found.clone())),
                            outcome: Outcome::Kept(why.into()),
                            payload: (),
                        }),
                        OnDown::Delete => {
                            report(cx, node, Phase::Working("deleting".into()));
                            let deps = deps(node, discovered_known);
                            delete(cx, node, &deps, found).await.map(|()| Step {
                                known: None,
                                outcome: Outcome::Deleted,
                                payload: (),
                            })
                        }
                    }
                }
                _ => Ok(Step {
                    known: None,
                    outcome: Outcome::Absent,
                    payload: (),
                }),
            };
            finish(cx, node, &result);
            result
        }))
    })
    .await;
    cx.progress.finish();
    let summary = summary(cx, graph, "down", &walk.outcomes, &walk.known, started);
    errors.extend(walk.errors);
    (summary, Error::from_many(errors))
}

/// Looks up and describes every resource, with the fields that drifted from the spec,
/// changing nothing.
pub async fn status(cx: &Context, graph: &Graph) -> Result<StackStatus> {
    let observed = observe(cx, graph, true).await;
    if let Some(err) = Error::from_many(observed.errors) {
        return Err(err);
    }
    let known = &observed.known;
    let seen = &observed.payloads;
    let rows = futures::future::join_all(graph.order().iter().map(|&i| async move {
        let node = graph.node(i);
        let base = |exists: bool, id: Option<String>, state: String| ResourceStatus {
            key: node.key().as_str().into(),
            kind: node.kind().into(),
            name: node.name(cx),
            id,
            exists,
            healthy: false,
            state,
            drift: Vec::new(),
            details: serde_json::Value::Null,
        };
        let wanted = node.wanted(&cx.spec);
        match &seen[i] {
            Some(Seen::Exists { observed, changes }) => {
                let id = Some(observed.found.id.clone());
                if !wanted {
                    return Ok(Some(base(
                        true,
                        id,
                        "exists, but its tier is switched off (run `modu up` to remove it)".into(),
                    )));
                }
                let health = node.health(cx, &deps(node, known), observed).await?;
                Ok(Some(ResourceStatus {
                    healthy: health.healthy,
                    details: health.details,
                    drift: changes.clone(),
                    ..base(true, id, health.state)
                }))
            }
            Some(Seen::Foreign(err)) if wanted => Ok(Some(base(false, None, err.to_string()))),
            _ if wanted => Ok(Some(base(false, None, "missing".into()))),
            _ => Ok(None),
        }
    }))
    .await
    .into_iter()
    .collect::<Result<Vec<_>>>()?
    .into_iter()
    .flatten()
    .collect::<Vec<_>>();
    let complete = rows.iter().all(|r| r.exists);
    // An unwanted resource that still exists shows as present but unhealthy.
    let healthy = complete && rows.iter().all(|r| r.healthy);
    Ok(StackStatus {
        stack: cx.spec.stack.clone(),
        region: cx.spec.region.clone(),
        complete,
        healthy,
        resources: rows,
        outputs: stack_outputs(cx, graph, known),
    })
}
