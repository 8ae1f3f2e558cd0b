//! The network the stack runs in: a VPC, the load balancer's subnets in at least two AZs,
//! and the subnets of the instances, cache and database, which are the same ones unless the
//! spec gives `private_subnets`.
//!
//! Looked up, never created or deleted: the network usually belongs to more than one stack.
//! The common case (default VPC, default subnets) costs two calls: default-for-AZ subnets
//! exist only in the default VPC, so they name it, and the zones that offer the instance
//! type (and the cache node type) narrow them down to three. Private subnets cost one call
//! more: their route tables, which the stack's S3 gateway endpoint joins.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde_json::json;

use super::{Context, Deps, Found, Health, Key, Observed, OnDown, Outputs, Resource};
use crate::aws::ec2::{Filter, RouteTable, Subnet};
use crate::aws::errors::{Absent, AwsContext};
use crate::error::{Error, Result};
use crate::spec::{SubnetsRef, VpcRef};

pub struct Network;

const KIND: &str = "network";

/// Where the stack's parts go, as the network resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Placement {
    /// The load balancer's subnets, one per zone, sorted by zone.
    pub public_subnets: Vec<String>,
    /// The instances', cache's and database's subnets, sorted by zone: the public ones
    /// unless the spec gives private subnets.
    pub private_subnets: Vec<String>,
    /// The load balancer's zones.
    pub zones: Vec<String>,
    /// The route tables of the private subnets (empty unless the spec gives them).
    pub private_route_tables: Vec<String>,
    /// One private subnet per zone, for interface endpoints, which take at most one
    /// subnet per zone (empty unless the spec gives private subnets).
    pub endpoint_subnets: Vec<String>,
}

fn no_default_vpc(cx: &Context) -> Error {
    Error::fixable(
        format!("region {} has no default VPC", cx.spec.region),
        "create one with `aws ec2 create-default-vpc`, or set `network.vpc` \
         and `network.subnets` in the spec to an existing VPC",
    )
}

fn no_such_vpc(cx: &Context, id: &str) -> Error {
    Error::fixable(
        format!("VPC {id} does not exist in region {}", cx.spec.region),
        "check `network.vpc` in the spec and the region",
    )
}

/// The EC2 instance type whose zones stand for those of a cache node type: ElastiCache has
/// no per-zone offering API (DescribeReservedCacheNodesOfferings and the node-type lists are
/// regional), and its nodes run on the EC2 type of the same name (`cache.t3.micro` on
/// `t3.micro`), so where EC2 offers that type is the best available proxy. `None` for a
/// name without the `cache.` prefix.
fn cache_proxy_type(node_type: &str) -> Option<&str> {
    node_type.strip_prefix("cache.")
}

impl Network {
    /// The default VPC's id (only needed when explicit subnets must be checked against it,
    /// or to explain why no default subnets were found).
    async fn default_vpc(&self, cx: &Context) -> Result<Option<String>> {
        let vpcs = cx
            .clients
            .ec2
            .describe_vpcs(&[], &[Filter::new("is-default", ["true"])])
            .await
            .context("looking up", "vpc", "default")?;
        Ok(vpcs.into_iter().next())
    }

    async fn vpc_exists(&self, cx: &Context, id: &str) -> Result<bool> {
        let vpcs = cx
            .clients
            .ec2
            .describe_vpcs(&[id.to_string()], &[])
            .await
            .or_absent(&["InvalidVpcID.NotFound"], "looking up", "vpc", id)?;
        Ok(vpcs.is_some_and(|v| !v.is_empty()))
    }

    /// The zones where every type the stack launches is offered: the instance type and, with
    /// a cache, the EC2 type that stands for its node type (ignored when EC2 offers it
    /// nowhere in the region: then it says nothing about zones). One request for both.
    async fn offered_zones(&self, cx: &Context) -> Result<(BTreeSet<String>, Vec<String>)> {
        let instance_type = cx.spec.compute.instance_type.as_str();
        let cache_type = cx
            .spec
            .cache
            .as_ref()
            .and_then(|cache| cache_proxy_type(&cache.node_type))
            .filter(|t| *t != instance_type);
        let types: Vec<&str> = [Some(instance_type), cache_type]
            .into_iter()
            .flatten()
            .collect();
        let offered = cx.clients.ec2.zones_offering(&types).await.context(
            "looking up the zones offering",
            "instance type",
            &types.join(","),
        )?;
        Ok(zones_offering_all(instance_type, cache_type, &offered))
    }

    /// The VPC's default subnets in the zones where the spec's types are offered, at most
    /// [`DEFAULT_ZONES`] of them.
    async fn default_subnets(&self, cx: &Context, vpc: Option<&str>) -> Result<Vec<Subnet>> {
        let mut filters = vec![Filter::new("default-for-az", ["true"])];
        if let Some(vpc) = vpc {
            filters.push(Filter::new("vpc-id", [vpc]));
        }
        let subnets = cx
            .clients
            .ec2
            .describe_subnets(&[], &filters)
            .await
            .context("looking up", "subnets of", vpc.unwrap_or("the default VPC"))?;
        if subnets.is_empty() {
            return Ok(subnets);
        }
        let (offered, types) = self.offered_zones(cx).await?;
        let chosen = choose_default_subnets(subnets.clone(), &offered);
        if chosen.len() < 2 && subnets.len() >= 2 {
            return Err(Error::fixable(
                format!(
                    "{} offered together in {} of the zones of the default subnets; a load \
                     balancer needs two",
                    types.join(" and "),
                    chosen.len()
                ),
                "choose another `compute.instance_type` (or `cache.node_type`), or list \
                 subnets in `network.subnets`",
            ));
        }
        Ok(chosen)
    }

    /// The VPC the spec names for explicit subnets: its own, or the default one.
    async fn explicit_vpc(&self, cx: &Context) -> Result<String> {
        match &cx.spec.network.vpc {
            VpcRef::Default => self
                .default_vpc(cx)
                .await?
                .ok_or_else(|| no_default_vpc(cx)),
            VpcRef::Id(id) if self.vpc_exists(cx, id).await? => Ok(id.clone()),
            VpcRef::Id(id) => Err(no_such_vpc(cx, id)),
        }
    }

    /// The subnets of `ids`, or a fixable error naming `field` when one does not exist.
    async fn explicit_subnets(
        &self,
        cx: &Context,
        ids: &[String],
        field: &str,
    ) -> Result<Vec<Subnet>> {
        match cx.clients.ec2.describe_subnets(ids, &[]).await {
            Err(err) if err.code() == Some("InvalidSubnetID.NotFound") => Err(Error::fixable(
                format!("a subnet in `{field}` does not exist: {err}"),
                format!("list the VPC's subnets with `aws ec2 describe-subnets` and fix `{field}`"),
            )),
            other => other.context("looking up", "subnets", &ids.join(",")),
        }
    }

    /// Where the stack's parts go, as the spec names the network; the VPC id first.
    async fn resolve(&self, cx: &Context) -> Result<(String, Placement)> {
        let network = &cx.spec.network;
        let shared = |vpc: String, subnets: Vec<Subnet>, field: &str| {
            let (ids, zones) = check_subnets(&vpc, subnets, field)?;
            let placement = Placement {
                public_subnets: ids.clone(),
                private_subnets: ids,
                zones,
                private_route_tables: Vec::new(),
                endpoint_subnets: Vec::new(),
            };
            Ok::<_, Error>((vpc, placement))
        };
        match (&network.vpc, &network.subnets) {
            (VpcRef::Default, SubnetsRef::Default) => {
                let subnets = self.default_subnets(cx, None).await?;
                let Some(vpc) = subnets.first().map(|s| s.vpc_id.clone()) else {
                    return Err(match self.default_vpc(cx).await? {
                        None => no_default_vpc(cx),
                        Some(vpc) => Error::fixable(
                            format!("the default VPC {vpc} has no default subnets"),
                            "create them with `aws ec2 create-default-subnet`, or list subnets in `network.subnets`",
                        ),
                    });
                };
                shared(vpc, subnets, "network.subnets")
            }
            (VpcRef::Id(id), SubnetsRef::Default) => {
                let subnets = self.default_subnets(cx, Some(id)).await?;
                if subnets.is_empty() && !self.vpc_exists(cx, id).await? {
                    return Err(no_such_vpc(cx, id));
                }
                shared(id.clone(), subnets, "network.subnets")
            }
            (_, SubnetsRef::Ids(ids)) => {
                let vpc = self.explicit_vpc(cx).await?;
                let subnets = self.explicit_subnets(cx, ids, "network.subnets").await?;
                shared(vpc, subnets, "network.subnets")
            }
            (_, SubnetsRef::Tiered { public, private }) => {
                let vpc = self.explicit_vpc(cx).await?;
                let both: Vec<String> = public.iter().chain(private).cloned().collect();
                let subnets = self
                    .explicit_subnets(
                        cx,
                        &both,
                        "network.public_subnets` or `network.private_subnets",
                    )
                    .await?;
                let tables = cx
                    .clients
                    .ec2
                    .describe_route_tables(&[Filter::new("vpc-id", [vpc.as_str()])])
                    .await
                    .context("looking up the route tables of", "vpc", &vpc)?;
                let placement = check_tiers(&vpc, subnets, public, &tables)?;
                Ok((vpc, placement))
            }
        }
    }
}

/// How many zones `subnets: default` spreads the stack over: enough to survive a zone's
/// loss with room to spare, without paying for a load balancer node and cross-zone
/// traffic in every zone of a large region.
const DEFAULT_ZONES: usize = 3;

/// The zones that offer the instance type and, when given, the cache's proxy type (unless
/// EC2 offers that nowhere, which says nothing), with the types that counted.
fn zones_offering_all(
    instance_type: &str,
    cache_type: Option<&str>,
    offered: &BTreeMap<String, BTreeSet<String>>,
) -> (BTreeSet<String>, Vec<String>) {
    let mut zones = offered.get(instance_type).cloned().unwrap_or_default();
    let mut types = vec![instance_type.to_string()];
    if let Some(cache_zones) = cache_type.and_then(|t| offered.get(t)) {
        zones.retain(|z| cache_zones.contains(z));
        types.extend(cache_type.map(|t| format!("cache.{t}")));
    }
    (zones, types)
}

/// The default subnets to use: those in zones offering the stack's types (a region can
/// have a zone without them, as us-east-1 has for t3), the first [`DEFAULT_ZONES`] by zone
/// name, so every run picks the same ones.
fn choose_default_subnets(mut subnets: Vec<Subnet>, offered: &BTreeSet<String>) -> Vec<Subnet> {
    subnets.retain(|s| offered.contains(&s.availability_zone));
    subnets.sort_by(|a, b| a.availability_zone.cmp(&b.availability_zone));
    subnets.dedup_by(|a, b| a.availability_zone == b.availability_zone);
    subnets.truncate(DEFAULT_ZONES);
    subnets
}

fn refuse_strays(vpc: &str, subnets: &[Subnet], field: &str) -> Result<()> {
    match subnets.iter().find(|s| s.vpc_id != vpc) {
        Some(stray) => Err(Error::fixable(
            format!(
                "subnet {} is in {}, not in the stack's VPC {vpc}",
                stray.id, stray.vpc_id
            ),
            format!("list subnets of the stack's VPC only in `{field}`"),
        )),
        None => Ok(()),
    }
}

/// Checks the subnets suit a load balancer: all in `vpc`, one per zone, at least two zones.
/// Returns (subnet ids, zones), sorted by zone.
fn check_subnets(
    vpc: &str,
    mut subnets: Vec<Subnet>,
    field: &str,
) -> Result<(Vec<String>, Vec<String>)> {
    refuse_strays(vpc, &subnets, field)?;
    subnets.sort_by(|a, b| a.availability_zone.cmp(&b.availability_zone));
    let mut zones: Vec<String> = subnets
        .iter()
        .map(|s| s.availability_zone.clone())
        .collect();
    let count = zones.len();
    zones.dedup();
    if zones.len() < count {
        return Err(Error::fixable(
            format!("two subnets in `{field}` are in the same availability zone"),
            "a load balancer takes one subnet per availability zone: list subnets of different zones",
        ));
    }
    if zones.len() < 2 {
        return Err(Error::fixable(
            format!(
                "VPC {vpc} offers subnets in {} availability zone(s); a load balancer needs two",
                zones.len()
            ),
            format!("list subnets in at least two availability zones in `{field}`"),
        ));
    }
    let ids = subnets.iter().map(|s| s.id.clone()).collect();
    Ok((ids, zones))
}

/// The route table a subnet uses: its own association, else the VPC's main table.
fn table_of<'a>(subnet: &str, tables: &'a [RouteTable]) -> Option<&'a RouteTable> {
    tables
        .iter()
        .find(|t| t.subnets.iter().any(|s| s == subnet))
        .or_else(|| tables.iter().find(|t| t.main))
}

/// Checks public and private subnets (`subnets` holds both; `public` names the public
/// ones): the public ones suit an internet-facing load balancer (one per zone, two zones,
/// a route to an internet gateway); the private ones span two zones, all of them zones of
/// the load balancer (its target group sends nothing to a zone it is not in).
fn check_tiers(
    vpc: &str,
    subnets: Vec<Subnet>,
    public: &[String],
    tables: &[RouteTable],
) -> Result<Placement> {
    const PUBLIC: &str = "network.public_subnets";
    const PRIVATE: &str = "network.private_subnets";
    let (public_subnets, private_subnets): (Vec<Subnet>, Vec<Subnet>) =
        subnets.into_iter().partition(|s| public.contains(&s.id));
    refuse_strays(vpc, &private_subnets, PRIVATE)?;
    let (public_ids, zones) = check_subnets(vpc, public_subnets, PUBLIC)?;
    if let Some(closed) = public_ids
        .iter()
        .find(|s| !table_of(s, tables).is_some_and(|t| t.internet_route))
    {
        return Err(Error::fixable(
            format!(
                "subnet {closed} in `{PUBLIC}` has no route to an internet gateway; an \
                 internet-facing load balancer needs one"
            ),
            format!(
                "route 0.0.0.0/0 to the VPC's internet gateway in the subnet's route table, or \
                 list other subnets in `{PUBLIC}`"
            ),
        ));
    }
    let mut private_subnets = private_subnets;
    private_subnets
        .sort_by(|a, b| (&a.availability_zone, &a.id).cmp(&(&b.availability_zone, &b.id)));
    if let Some(outside) = private_subnets
        .iter()
        .find(|s| !zones.contains(&s.availability_zone))
    {
        return Err(Error::fixable(
            format!(
                "subnet {} in `{PRIVATE}` is in {}, where the load balancer has no subnet",
                outside.id, outside.availability_zone
            ),
            format!(
                "the load balancer only reaches instances in its own zones ({}): add a \
                 subnet of {} to `{PUBLIC}`, or list private subnets of those zones",
                zones.join(", "),
                outside.availability_zone
            ),
        ));
    }
    let private_zones: BTreeSet<&str> = private_subnets
        .iter()
        .map(|s| s.availability_zone.as_str())
        .collect();
    if private_zones.len() < 2 {
        return Err(Error::fixable(
            format!(
                "the subnets in `{PRIVATE}` are in {} availability zone(s); the instances, \
                 cache and database need two",
                private_zones.len()
            ),
            format!("list subnets in at least two availability zones in `{PRIVATE}`"),
        ));
    }
    let mut route_tables = BTreeSet::new();
    for subnet in &private_subnets {
        let table = table_of(&subnet.id, tables).ok_or_else(|| {
            Error::fixable(
                format!("subnet {} has no route table", subnet.id),
                "associate it with a route table of the VPC (or give the VPC a main one)",
            )
        })?;
        route_tables.insert(table.id.clone());
    }
    let mut endpoint_subnets = private_subnets.clone();
    endpoint_subnets.dedup_by(|a, b| a.availability_zone == b.availability_zone);
    Ok(Placement {
        public_subnets: public_ids,
        private_subnets: private_subnets.into_iter().map(|s| s.id).collect(),
        zones,
        private_route_tables: route_tables.into_iter().collect(),
        endpoint_subnets: endpoint_subnets.into_iter().map(|s| s.id).collect(),
    })
}

#[async_trait]
impl Resource for Network {
    fn key(&self) -> Key {
        Key::Network
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        match &cx.spec.network.vpc {
            VpcRef::Default => "default-vpc".into(),
            VpcRef::Id(id) => id.clone(),
        }
    }
    fn depends_on(&self) -> Vec<Key> {
        Vec::new()
    }

    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        let (vpc, placement) = self.resolve(cx).await?;
        let found = Found::new(vpc).with(Outputs::Network(placement));
        Ok(Some(Observed::new(found, ())))
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        // `observe` either finds the network or explains why it cannot be used.
        match self.observe(cx, deps).await? {
            Some(observed) => Ok(observed.found),
            None => Err(Error::fixable(
                "the stack's network was not found",
                "check `network` in the spec",
            )),
        }
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let found = &observed.found;
        let placement = match &found.outputs {
            Outputs::Network(placement) => placement.clone(),
            _ => Placement::default(),
        };
        let private = placement.private_subnets != placement.public_subnets;
        let state = if private {
            format!(
                "{} public and {} private subnets in {}",
                placement.public_subnets.len(),
                placement.private_subnets.len(),
                placement.zones.join(",")
            )
        } else {
            format!(
                "{} subnets in {}",
                placement.public_subnets.len(),
                placement.zones.join(",")
            )
        };
        Ok(Health::ok(
            state,
            json!({
                "vpc_id": found.id,
                "subnet_ids": placement.public_subnets,
                "private_subnet_ids": placement.private_subnets,
                "private_route_table_ids": placement.private_route_tables,
                "zones": placement.zones,
            }),
        ))
    }

    async fn delete(&self, _cx: &Context, _found: &Found) -> Result<()> {
        Ok(())
    }

    fn on_down(&self, _cx: &Context, _found: &Found) -> OnDown {
        OnDown::Keep("looked up, not owned by the stack")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(id: &str, vpc: &str, zone: &str) -> Subnet {
        Subnet {
            id: id.into(),
            vpc_id: vpc.into(),
            availability_zone: zone.into(),
        }
    }

    const FIELD: &str = "network.subnets";

    #[test]
    fn default_subnets_are_three_zones_that_offer_the_instance_type() {
        let subnets: Vec<Subnet> = ["1f", "1a", "1e", "1c", "1b", "1d"]
            .iter()
            .map(|z| subnet(&format!("subnet-{z}"), "vpc-1", &format!("us-east-{z}")))
            .collect();
        let offered: BTreeSet<String> = ["1a", "1b", "1c", "1d", "1f"]
            .iter()
            .map(|z| format!("us-east-{z}"))
            .collect();
        let zones: Vec<String> = choose_default_subnets(subnets.clone(), &offered)
            .into_iter()
            .map(|s| s.availability_zone)
            .collect();
        assert_eq!(zones, ["us-east-1a", "us-east-1b", "us-east-1c"]);
        // Where the type is offered in one zone only, one subnet is all there is.
        let one: BTreeSet<String> = ["us-east-1e".to_string()].into();
        assert_eq!(choose_default_subnets(subnets, &one).len(), 1);
    }

    #[test]
    fn the_zones_offer_the_instance_type_and_the_cache_node_type() {
        let zones =
            |list: &[&str]| -> BTreeSet<String> { list.iter().map(|z| z.to_string()).collect() };
        let offered = BTreeMap::from([
            ("m7i.large".to_string(), zones(&["a", "b", "c", "d"])),
            ("t3.micro".to_string(), zones(&["b", "c", "d", "e"])),
        ]);
        assert_eq!(cache_proxy_type("cache.t3.micro"), Some("t3.micro"));
        let (both, types) = zones_offering_all("m7i.large", Some("t3.micro"), &offered);
        assert_eq!(both, zones(&["b", "c", "d"]));
        assert_eq!(types, ["m7i.large", "cache.t3.micro"]);
        // A node type EC2 offers nowhere says nothing about zones.
        let (alone, types) = zones_offering_all("m7i.large", Some("r6gd.16xlarge"), &offered);
        assert_eq!(alone, zones(&["a", "b", "c", "d"]));
        assert_eq!(types, ["m7i.large"]);
    }

    #[test]
    fn subnets_are_sorted_by_zone_and_need_two_zones() {
        let (ids, zones) = check_subnets(
            "vpc-1",
            vec![
                subnet("s-b", "vpc-1", "us-east-1b"),
                subnet("s-a", "vpc-1", "us-east-1a"),
            ],
            FIELD,
        )
        .unwrap();
        assert_eq!(ids, vec!["s-a", "s-b"]);
        assert_eq!(zones, vec!["us-east-1a", "us-east-1b"]);
        let one = check_subnets("vpc-1", vec![subnet("s-a", "vpc-1", "us-east-1a")], FIELD);
        assert!(one.unwrap_err().to_string().contains("needs two"));
    }

    #[test]
    fn subnets_of_another_vpc_or_a_shared_zone_are_refused() {
        let stray = check_subnets(
            "vpc-1",
            vec![subnet("s-a", "vpc-1", "a"), subnet("s-b", "vpc-2", "b")],
            FIELD,
        );
        assert!(
            stray
                .unwrap_err()
                .to_string()
                .contains("not in the stack's VPC")
        );
        let same = check_subnets(
            "vpc-1",
            vec![subnet("s-a", "vpc-1", "a"), subnet("s-b", "vpc-1", "a")],
            FIELD,
        );
        assert!(
            same.unwrap_err()
                .to_string()
                .contains("same availability zone")
        );
    }

    fn table(id: &str, main: bool, subnets: &[&str], internet: bool) -> RouteTable {
        RouteTable {
            id: id.into(),
            vpc_id: "vpc-1".into(),
            main,
            subnets: subnets.iter().map(|s| s.to_string()).collect(),
            internet_route: internet,
        }
    }

    /// Public subnets in a and b (routed to the internet gateway), private ones in a, b
    /// (two) and c; the private subnet of c uses the main table.
    fn tiers(private_zone_c: &str) -> (Vec<Subnet>, Vec<String>, Vec<RouteTable>) {
        let subnets = vec![
            subnet("pub-b", "vpc-1", "b"),
            subnet("pub-a", "vpc-1", "a"),
            subnet("prv-b", "vpc-1", "b"),
            subnet("prv-a2", "vpc-1", "a"),
            subnet("prv-a1", "vpc-1", "a"),
            subnet("prv-c", "vpc-1", private_zone_c),
        ];
        let public = vec!["pub-a".to_string(), "pub-b".to_string()];
        let tables = vec![
            table("rtb-pub", false, &["pub-a", "pub-b"], true),
            table("rtb-prv", false, &["prv-a1", "prv-a2", "prv-b"], false),
            table("rtb-main", true, &[], false),
        ];
        (subnets, public, tables)
    }

    #[test]
    fn private_subnets_get_their_route_tables_and_one_endpoint_subnet_per_zone() {
        let (subnets, public, tables) = tiers("b");
        let placement = check_tiers("vpc-1", subnets, &public, &tables).unwrap();
        assert_eq!(placement.public_subnets, ["pub-a", "pub-b"]);
        assert_eq!(placement.zones, ["a", "b"]);
        assert_eq!(
            placement.private_subnets,
            ["prv-a1", "prv-a2", "prv-b", "prv-c"]
        );
        assert_eq!(placement.private_route_tables, ["rtb-main", "rtb-prv"]);
        assert_eq!(placement.endpoint_subnets, ["prv-a1", "prv-b"]);
    }

    #[test]
    fn private_subnets_outside_the_load_balancers_zones_are_refused() {
        let (subnets, public, tables) = tiers("c");
        let err = check_tiers("vpc-1", subnets, &public, &tables).unwrap_err();
        assert!(
            err.to_string().contains(
                "prv-c in `network.private_subnets` is in c, where the load balancer has no subnet"
            ),
            "{err}"
        );
    }

    #[test]
    fn public_subnets_need_a_route_to_an_internet_gateway() {
        let (subnets, public, mut tables) = tiers("b");
        tables[0].internet_route = false;
        let err = check_tiers("vpc-1", subnets, &public, &tables).unwrap_err();
        assert!(
            err.to_string()
                .contains("pub-a in `network.public_subnets` has no route"),
            "{err}"
        );
    }

    #[test]
    fn private_subnets_need_two_zones() {
        let subnets = vec![
            subnet("pub-a", "vpc-1", "a"),
            subnet("pub-b", "vpc-1", "b"),
            subnet("prv-a", "vpc-1", "a"),
        ];
        let public = vec!["pub-a".to_string(), "pub-b".to_string()];
        let tables = vec![table("rtb-main", true, &[], true)];
        let err = check_tiers("vpc-1", subnets, &public, &tables).unwrap_err();
        assert!(err.to_string().contains("need two"), "{err}");
    }
}
