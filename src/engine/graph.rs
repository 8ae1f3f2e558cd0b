//! The stack as a dependency graph of resources, checked once when built.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::resources::{Key, Resource};

/// Which way work flows: creation follows dependencies, deletion runs against them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Reverse,
}

pub struct Graph {
    nodes: Vec<Box<dyn Resource>>,
    /// For each node, the indices of the nodes it depends on.
    depends_on: Vec<Vec<usize>>,
    /// For each node, the indices of the nodes that depend on it.
    dependents: Vec<Vec<usize>>,
    /// A topological order: every node after its dependencies.
    order: Vec<usize>,
}

impl Graph {
    /// Builds the graph; unknown dependencies, duplicate keys and cycles are bugs in a
    /// resource definition and are reported as such.
    pub fn new(nodes: Vec<Box<dyn Resource>>) -> Result<Self> {
        let bug = Error::internal;
        let mut index = HashMap::new();
        for (i, node) in nodes.iter().enumerate() {
            if index.insert(node.key(), i).is_some() {
                return Err(bug(format!("two resources share the key {}", node.key())));
            }
        }
        let mut depends_on = Vec::with_capacity(nodes.len());
        let mut dependents = vec![Vec::new(); nodes.len()];
        for (i, node) in nodes.iter().enumerate() {
            let mut deps = Vec::new();
            for key in node.depends_on() {
                let &j = index.get(&key).ok_or_else(|| {
                    bug(format!("{} depends on unknown resource {key}", node.key()))
                })?;
                deps.push(j);
                dependents[j].push(i);
            }
            depends_on.push(deps);
        }
        // Kahn's algorithm, taking ready nodes in declaration order so runs are repeatable.
        let mut remaining: Vec<usize> = depends_on.iter().map(Vec::len).collect();
        let mut order = Vec::with_capacity(nodes.len());
        let mut placed = vec![false; nodes.len()];
        while order.len() < nodes.len() {
            let next = (0..nodes.len()).find(|&i| !placed[i] && remaining[i] == 0);
            let Some(i) = next else {
                let stuck: Vec<&str> = (0..nodes.len())
                    .filter(|&i| !placed[i])
                    .map(|i| nodes[i].key().as_str())
                    .collect();
                return Err(bug(format!("dependency cycle among {}", stuck.join(", "))));
            };
            placed[i] = true;
            order.push(i);
            for &d in &dependents[i] {
                remaining[d] -= 1;
            }
        }
        Ok(Graph {
            nodes,
            depends_on,
            dependents,
            order,
        })
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn node(&self, i: usize) -> &dyn Resource {
        self.nodes[i].as_ref()
    }

    /// The node whose key is `key`.
    pub fn index_of(&self, key: Key) -> Option<usize> {
        self.nodes.iter().position(|n| n.key() == key)
    }

    /// Node indices in dependency order.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// The nodes that must finish before `i` may start, in `direction`.
    pub fn before(&self, i: usize, direction: Direction) -> &[usize] {
        match direction {
            Direction::Forward => &self.depends_on[i],
            Direction::Reverse => &self.dependents[i],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testing::FakeResource;

    const A: Key = Key::Network;
    const B: Key = Key::SgLb;
    const C: Key = Key::SgApp;
    const D: Key = Key::Bucket;

    fn graph(spec: &[(Key, &[Key])]) -> Result<Graph> {
        Graph::new(
            spec.iter()
                .map(|(k, d)| Box::new(FakeResource::new(*k, d)) as Box<dyn Resource>)
                .collect(),
        )
    }

    fn keys(g: &Graph) -> Vec<&str> {
        g.order()
            .iter()
            .map(|&i| g.node(i).key().as_str())
            .collect()
    }

    #[test]
    fn orders_dependencies_first() {
        let g = graph(&[(C, &[B]), (B, &[A]), (A, &[]), (D, &[])]).unwrap();
        assert_eq!(keys(&g), vec!["network", "sg-lb", "sg-app", "bucket"]);
    }

    #[test]
    fn reverse_direction_waits_for_dependents() {
        let g = graph(&[(A, &[]), (B, &[A]), (C, &[A])]).unwrap();
        assert_eq!(g.before(0, Direction::Reverse), &[1, 2]);
        assert_eq!(g.before(1, Direction::Forward), &[0]);
    }

    #[test]
    fn rejects_cycles_unknown_and_duplicate_keys() {
        let cycle = graph(&[(A, &[B]), (B, &[A])]).err().unwrap().to_string();
        assert!(cycle.contains("cycle"), "{cycle}");
        let unknown = graph(&[(A, &[D])]).err().unwrap().to_string();
        assert!(unknown.contains("unknown resource bucket"), "{unknown}");
        let dup = graph(&[(A, &[]), (A, &[])]).err().unwrap().to_string();
        assert!(dup.contains("share the key network"), "{dup}");
    }

    #[test]
    fn the_real_stack_is_a_valid_graph() {
        let spec = crate::spec::parse_str(
            "stack: web\nregion: us-east-1\ncompute:\n  instance_type: t3.micro\n",
            std::path::Path::new("web.yaml"),
        )
        .unwrap();
        let g = Graph::new(crate::resources::for_spec(&spec)).unwrap();
        let order = keys(&g);
        let pos = |k| order.iter().position(|x| *x == k).unwrap();
        assert!(pos("network") < pos("sg-lb"));
        assert!(pos("sg-lb") < pos("sg-app") && pos("sg-app") < pos("sg-cache"));
        assert!(pos("load-balancer") < pos("listener") && pos("target-group") < pos("listener"));
        assert!(pos("launch-template") < pos("asg") && pos("asg") < pos("scaling-policy"));
    }
}
