//! Runs the stack graph: `up` converges, `down` deletes in reverse, `status` describes.
//!
//! The engine knows resources only through the [`Resource`] trait. Independent resources
//! run concurrently; a resource starts once everything before it (its dependencies for
//! `up`, its dependents for `down`) has finished, and is skipped if any of those failed.
//! Failures do not stop unrelated branches: every error is collected and reported at the end.

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
use crate::resources::{Context, Deps, Found, OnDown, Resource};

type FoundMap = BTreeMap<&'static str, Found>;

/// What one resource's step produced.
struct Step {
    found: Option<Found>,
    outcome: Outcome,
}

/// Everything a walk over the graph produced, by node index.
struct Walk {
    found: FoundMap,
    outcomes: Vec<Outcome>,
    errors: Vec<Error>,
}

/// Walks the graph in `direction`, starting each node once all nodes before it have finished.
async fn walk<'a, F>(graph: &'a Graph, direction: Direction, mut start: F) -> Walk
where
    F: FnMut(usize, FoundMap) -> BoxFuture<'a, Result<Step>>,
{
    let n = graph.len();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; n];
    let mut started = vec![false; n];
    let mut found = FoundMap::new();
    let mut errors = Vec::new();
    let mut running = FuturesUnordered::new();

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
                let blocked = before
                    .iter()
                    .any(|&j| matches!(outcomes[j], Some(Outcome::Failed(_) | Outcome::Skipped)));
                if blocked {
                    outcomes[i] = Some(Outcome::Skipped);
                    continue;
                }
                let step = start(i, found.clone());
                running.push(async move { (i, step.await) });
            }
        }
        let Some((i, result)) = running.next().await else {
            break;
        };
        match result {
            Ok(step) => {
                if let Some(f) = step.found {
                    found.insert(graph.node(i).key(), f);
                }
                outcomes[i] = Some(step.outcome);
            }
            Err(err) => {
                outcomes[i] = Some(Outcome::Failed(err.to_string()));
                errors.push(err);
            }
        }
    }
    Walk {
        found,
        outcomes: outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::Skipped))
            .collect(),
        errors,
    }
}

fn report(cx: &Context, node: &dyn Resource, phase: Phase) {
    cx.progress
        .update(node.key(), node.kind(), &node.name(cx), phase);
}

/// Reports the end of a step on the resource's progress line.
fn finish(cx: &Context, node: &dyn Resource, result: &Result<Step>) {
    let phase = match result {
        Ok(step) => Phase::Done(step.outcome.label()),
        Err(err) => Phase::Failed(err.to_string()),
    };
    report(cx, node, phase);
}

/// Looks every resource up, in dependency order, without changing anything.
async fn discover(cx: &Context, graph: &Graph) -> Walk {
    walk(graph, Direction::Forward, |i, found| {
        let node = graph.node(i);
        Box::pin(async move {
            let deps = Deps::new(&found);
            let existing = node.find(cx, &deps).await?;
            let outcome = if existing.is_some() {
                Outcome::Unchanged
            } else {
                Outcome::Absent
            };
            Ok(Step {
                found: existing,
                outcome,
            })
        })
    })
    .await
}

fn summary(
    cx: &Context,
    graph: &Graph,
    command: &'static str,
    walk: &Walk,
    started: Instant,
) -> Summary {
    let rows = graph
        .order()
        .iter()
        .map(|&i| {
            let node = graph.node(i);
            RunRow {
                key: node.key().into(),
                kind: node.kind().into(),
                name: node.name(cx),
                outcome: walk.outcomes[i].clone(),
            }
        })
        .collect();
    Summary {
        command,
        stack: cx.spec.stack.clone(),
        rows,
        elapsed: cx.clock.now().saturating_duration_since(started),
        outputs: stack_outputs(cx, graph, &walk.found),
    }
}

fn stack_outputs(cx: &Context, graph: &Graph, found: &FoundMap) -> BTreeMap<String, String> {
    graph
        .order()
        .iter()
        .map(|&i| graph.node(i))
        .filter_map(|node| found.get(node.key()).map(|f| node.stack_outputs(cx, f)))
        .flatten()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// Creates what is missing and converges what exists; a stack that matches the spec
/// costs read calls only. Resources of a tier that was switched off are deleted afterwards,
/// in reverse order, once everything that used them has converged without them.
pub async fn up(cx: &Context, graph: &Graph) -> (Summary, Option<Error>) {
    let started = cx.clock.now();
    for &i in graph.order() {
        if graph.node(i).wanted(&cx.spec) {
            report(cx, graph.node(i), Phase::Queued);
        }
    }
    let converged = walk(graph, Direction::Forward, |i, found| {
        let node = graph.node(i);
        Box::pin(async move {
            let deps = Deps::new(&found);
            if !node.wanted(&cx.spec) {
                let existing = node.find(cx, &deps).await?;
                return Ok(Step {
                    found: existing,
                    outcome: Outcome::Absent,
                });
            }
            report(cx, node, Phase::Checking);
            let result = async {
                match node.find(cx, &deps).await? {
                    None => {
                        report(cx, node, Phase::Working("creating".into()));
                        let created = node.create(cx, &deps).await?;
                        Ok(Step {
                            found: Some(created),
                            outcome: Outcome::Created,
                        })
                    }
                    Some(existing) => {
                        let changes = node.converge(cx, &deps, &existing).await?;
                        if changes.is_empty() {
                            return Ok(Step {
                                found: Some(existing),
                                outcome: Outcome::Unchanged,
                            });
                        }
                        // Dependents later in this run must see the new outputs (a new
                        // replica's id, a new version), so read the resource back.
                        let updated = node.find(cx, &deps).await?.unwrap_or(existing);
                        Ok(Step {
                            found: Some(updated),
                            outcome: Outcome::Updated(changes),
                        })
                    }
                }
            }
            .await;
            finish(cx, node, &result);
            result
        })
    })
    .await;
    let mut errors = converged.errors;
    let found = converged.found;
    let outcomes = converged.outcomes;
    // Second pass, in reverse: delete what exists but is no longer wanted. Other nodes pass
    // through as `Unchanged` here (their real outcome is the first pass's), so an earlier
    // failure does not block an unrelated removal.
    let removed = walk(graph, Direction::Reverse, |i, _| {
        let node = graph.node(i);
        let existing = found.get(node.key()).cloned();
        let remove = !node.wanted(&cx.spec) && outcomes[i] == Outcome::Absent;
        Box::pin(async move {
            match existing {
                Some(existing) if remove => {
                    report(
                        cx,
                        node,
                        Phase::Working("deleting (tier switched off)".into()),
                    );
                    let result = node.delete(cx, &existing).await.map(|()| Step {
                        found: None,
                        outcome: Outcome::Deleted,
                    });
                    finish(cx, node, &result);
                    result
                }
                existing => Ok(Step {
                    found: existing,
                    outcome: Outcome::Unchanged,
                }),
            }
        })
    })
    .await;
    cx.progress.finish();
    errors.extend(removed.errors);
    let merged = outcomes
        .into_iter()
        .zip(removed.outcomes)
        .map(|(first, second)| match second {
            Outcome::Deleted | Outcome::Failed(_) => second,
            _ => first,
        })
        .collect();
    let walk = Walk {
        found: removed.found,
        outcomes: merged,
        errors: Vec::new(),
    };
    let mut summary = summary(cx, graph, "up", &walk, started);
    // Resources of a tier that is off and was already absent are not worth a line.
    summary.rows.retain(|row| row.outcome != Outcome::Absent);
    (summary, Error::from_many(errors))
}

/// Deletes everything the stack owns, dependents first; resources that hold data or are
/// shared are kept and say why.
pub async fn down(cx: &Context, graph: &Graph) -> (Summary, Option<Error>) {
    let started = cx.clock.now();
    let discovered = discover(cx, graph).await;
    let mut errors = discovered.errors;
    let existing = discovered.found;
    let walk = walk(graph, Direction::Reverse, |i, _| {
        let node = graph.node(i);
        let current = existing.get(node.key()).cloned();
        let lookup_failed = matches!(discovered.outcomes[i], Outcome::Failed(_));
        Box::pin(async move {
            let result = match current {
                // Its lookup error is already collected; dependencies stay untouched.
                _ if lookup_failed => Ok(Step {
                    found: None,
                    outcome: Outcome::Failed("could not be looked up".into()),
                }),
                None => Ok(Step {
                    found: None,
                    outcome: Outcome::Absent,
                }),
                Some(found) => match node.on_down(cx, &found) {
                    OnDown::Keep(why) => Ok(Step {
                        found: Some(found),
                        outcome: Outcome::Kept(why.into()),
                    }),
                    OnDown::Delete => {
                        report(cx, node, Phase::Working("deleting".into()));
                        node.delete(cx, &found).await.map(|()| Step {
                            found: None,
                            outcome: Outcome::Deleted,
                        })
                    }
                },
            };
            finish(cx, node, &result);
            result
        })
    })
    .await;
    cx.progress.finish();
    let summary = summary(cx, graph, "down", &walk, started);
    errors.extend(walk.errors);
    (summary, Error::from_many(errors))
}

/// Looks up and describes every resource, changing nothing.
pub async fn status(cx: &Context, graph: &Graph) -> Result<StackStatus> {
    let discovered = discover(cx, graph).await;
    if let Some(err) = Error::from_many(discovered.errors) {
        return Err(err);
    }
    let found = &discovered.found;
    let deps = Deps::new(found);
    let deps = &deps;
    let rows = futures::future::join_all(graph.order().iter().map(|&i| async move {
        let node = graph.node(i);
        let base = |exists: bool, id: Option<String>| ResourceStatus {
            key: node.key().into(),
            kind: node.kind().into(),
            name: node.name(cx),
            id,
            exists,
            healthy: false,
            state: "missing".into(),
            details: serde_json::Value::Null,
        };
        match found.get(node.key()) {
            None if !node.wanted(&cx.spec) => Ok(None),
            None => Ok(Some(base(false, None))),
            Some(f) if !node.wanted(&cx.spec) => Ok(Some(ResourceStatus {
                state: "exists, but its tier is switched off (run `modu up` to remove it)".into(),
                ..base(true, Some(f.id.clone()))
            })),
            Some(f) => {
                let health = node.health(cx, deps, f).await?;
                Ok(Some(ResourceStatus {
                    healthy: health.healthy,
                    state: health.state,
                    details: health.details,
                    ..base(true, Some(f.id.clone()))
                }))
            }
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
        outputs: stack_outputs(cx, graph, found),
    })
}
