//! The stack's network against the emulator, checked through the SDK: with public and
//! private subnets the load balancer is in the public ones and the instances (without
//! public addresses), cache and database in the private ones, S3 is reached through the
//! stack's gateway endpoint and the other services through its interface endpoints;
//! `down` removes all of it and leaves the route tables and endpoints it does not own.
//! With `subnets: default`, the zones offer the instance type and the cache node type.

mod support;

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, LocationType, ResourceType, Tag, TagSpecification,
    VpcEndpointType,
};
use support::{Aws, CacheTier, Emulator, Spec, arg, expect_no_change, modu};

/// A VPC as a careful operator builds one: public subnets routed to an internet gateway,
/// private ones without a route out, and one private table already served by an S3
/// gateway endpoint that is not the stack's.
struct PrivateVpc {
    vpc: String,
    public: Vec<String>,
    private: Vec<String>,
    /// The route table of the first private subnet (the stack's endpoint serves it).
    private_table: String,
    /// The route table of the second private subnet, and the foreign endpoint serving it.
    foreign_table: String,
    foreign_endpoint: String,
    /// A private subnet in a zone where no public subnet is.
    stray: String,
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> Option<&str>) -> BTreeSet<String> {
    items
        .iter()
        .filter_map(|i| id(i).map(String::from))
        .collect()
}

fn set(list: &[String]) -> BTreeSet<String> {
    list.iter().cloned().collect()
}

async fn private_vpc(aws: &Aws) -> PrivateVpc {
    let ec2 = &aws.ec2;
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.60.0.0/16")
        .send()
        .await
        .expect("CreateVpc")
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("vpc id")
        .to_string();
    ec2.modify_vpc_attribute()
        .vpc_id(&vpc)
        .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .expect("ModifyVpcAttribute");
    let gateway = ec2
        .create_internet_gateway()
        .send()
        .await
        .expect("CreateInternetGateway")
        .internet_gateway()
        .and_then(|g| g.internet_gateway_id())
        .expect("igw id")
        .to_string();
    ec2.attach_internet_gateway()
        .vpc_id(&vpc)
        .internet_gateway_id(&gateway)
        .send()
        .await
        .expect("AttachInternetGateway");
    let subnet = |cidr: &'static str, zone: &'static str| {
        let vpc = vpc.clone();
        async move {
            ec2.create_subnet()
                .vpc_id(vpc)
                .cidr_block(cidr)
                .availability_zone(zone)
                .send()
                .await
                .expect("CreateSubnet")
                .subnet()
                .and_then(|s| s.subnet_id())
                .expect("subnet id")
                .to_string()
        }
    };
    let public = vec![
        subnet("10.60.0.0/24", "us-east-1a").await,
        subnet("10.60.1.0/24", "us-east-1b").await,
    ];
    let private = vec![
        subnet("10.60.10.0/24", "us-east-1a").await,
        subnet("10.60.11.0/24", "us-east-1b").await,
    ];
    let stray = subnet("10.60.12.0/24", "us-east-1c").await;
    let table = |subnets: Vec<String>| {
        let vpc = vpc.clone();
        async move {
            let id = ec2
                .create_route_table()
                .vpc_id(vpc)
                .send()
                .await
                .expect("CreateRouteTable")
                .route_table()
                .and_then(|t| t.route_table_id())
                .expect("route table id")
                .to_string();
            for subnet in subnets {
                ec2.associate_route_table()
                    .route_table_id(&id)
                    .subnet_id(subnet)
                    .send()
                    .await
                    .expect("AssociateRouteTable");
            }
            id
        }
    };
    let public_table = table(public.clone()).await;
    ec2.create_route()
        .route_table_id(&public_table)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(&gateway)
        .send()
        .await
        .expect("CreateRoute");
    let private_table = table(vec![private[0].clone(), stray.clone()]).await;
    let foreign_table = table(vec![private[1].clone()]).await;
    let foreign_endpoint = ec2
        .create_vpc_endpoint()
        .vpc_id(&vpc)
        .service_name("com.amazonaws.us-east-1.s3")
        .vpc_endpoint_type(VpcEndpointType::Gateway)
        .route_table_ids(&foreign_table)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::VpcEndpoint)
                .tags(Tag::builder().key("owner").value("someone-else").build())
                .build(),
        )
        .send()
        .await
        .expect("CreateVpcEndpoint")
        .vpc_endpoint()
        .and_then(|e| e.vpc_endpoint_id())
        .expect("endpoint id")
        .to_string();
    PrivateVpc {
        vpc,
        public,
        private,
        private_table,
        foreign_table,
        foreign_endpoint,
        stray,
    }
}

/// One resource's details in `status -o json`.
async fn status_details(emulator: &Emulator, file: &str, key: &str) -> serde_json::Value {
    let run = modu(emulator, &["status", "-f", file, "-o", "json"]).await;
    run.json()["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["key"] == key)
        .map(|r| r["details"].clone())
        .unwrap_or_else(|| panic!("no {key} in\n{run}"))
}

/// The endpoints a route table routes S3's prefix list through.
async fn s3_routes(aws: &Aws, table: &str) -> BTreeSet<String> {
    let tables = aws
        .ec2
        .describe_route_tables()
        .route_table_ids(table)
        .send()
        .await
        .expect("DescribeRouteTables");
    tables.route_tables()[0]
        .routes()
        .iter()
        .filter(|r| r.destination_prefix_list_id().is_some())
        .filter_map(|r| r.gateway_id().map(String::from))
        .collect()
}

fn network_yaml(vpc: &PrivateVpc, private: &[String]) -> String {
    format!(
        "  vpc: {}\n  public_subnets: [{}]\n  private_subnets: [{}]\n  interface_endpoints: [ssm, logs]\n",
        vpc.vpc,
        vpc.public.join(", "),
        private.join(", ")
    )
}

#[tokio::test]
async fn private_subnets_keep_the_instances_off_the_internet_and_reach_aws_through_endpoints() {
    let emulator = Emulator::start();
    let aws = Aws::new(&emulator).await;
    let net = private_vpc(&aws).await;
    let dir = tempfile::tempdir().unwrap();

    let mut spec = Spec::new("inside");
    spec.cache = Some(CacheTier {
        enabled: true,
        engine: "valkey".to_string(),
        node_type: "cache.t4g.small".to_string(),
        replicas: 1,
    });
    spec.database = true;

    // A private subnet in a zone the load balancer does not reach is refused before
    // anything is made.
    let with_stray: Vec<String> = [net.private.clone(), vec![net.stray.clone()]].concat();
    spec.network = network_yaml(&net, &with_stray);
    let file = spec.write(dir.path());
    let run = modu(&emulator, &["up", "-f", arg(&file)]).await;
    run.expect_code(1);
    assert!(
        run.stderr.contains(&format!(
            "subnet {} in `network.private_subnets` is in us-east-1c, where the load balancer has no subnet",
            net.stray
        )),
        "{run}"
    );
    assert!(aws.tagged_with_stack("inside").await.is_empty());

    spec.network = network_yaml(&net, &net.private);
    let file = spec.write(dir.path());
    modu(&emulator, &["up", "-f", arg(&file)])
        .await
        .expect_success();

    // The load balancer in the public subnets.
    let lb = aws.load_balancer("inside-lb").await;
    let lb_subnets = ids(lb.availability_zones(), |z| z.subnet_id());
    assert_eq!(lb_subnets, set(&net.public));

    // The group, cache and database in the private ones.
    let groups = aws
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("inside-asg")
        .send()
        .await
        .expect("DescribeAutoScalingGroups");
    let group = &groups.auto_scaling_groups()[0];
    let group_subnets: BTreeSet<String> = group
        .vpc_zone_identifier()
        .unwrap_or_default()
        .split(',')
        .map(String::from)
        .collect();
    assert_eq!(group_subnets, set(&net.private));
    let cache_groups = aws
        .elasticache
        .describe_cache_subnet_groups()
        .cache_subnet_group_name("inside-cache")
        .send()
        .await
        .expect("DescribeCacheSubnetGroups");
    let cache_subnets = ids(cache_groups.cache_subnet_groups()[0].subnets(), |s| {
        s.subnet_identifier()
    });
    assert_eq!(cache_subnets, set(&net.private));
    // (No RDS SDK among the tests' clients: the subnet group as `status` reads it.)
    let db_subnets: BTreeSet<String> =
        status_details(&emulator, arg(&file), "db-subnets").await["subnets"]
            .as_array()
            .expect("subnets")
            .iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect();
    assert_eq!(db_subnets, set(&net.private));

    // The launch template says "no public address" on the interface that carries the
    // instances' security group, and the instances launched have none.
    let app_group = aws.security_group_id("inside-app").await;
    let versions = aws
        .ec2
        .describe_launch_template_versions()
        .launch_template_name("inside-lt")
        .versions("$Latest")
        .send()
        .await
        .expect("DescribeLaunchTemplateVersions");
    let data = versions.launch_template_versions()[0]
        .launch_template_data()
        .expect("launch template data");
    assert!(data.security_group_ids().is_empty(), "{data:?}");
    let interface = &data.network_interfaces()[0];
    assert_eq!(interface.device_index(), Some(0));
    assert_eq!(interface.associate_public_ip_address(), Some(false));
    assert_eq!(interface.groups(), std::slice::from_ref(&app_group));
    let members: Vec<String> = group
        .instances()
        .iter()
        .filter_map(|i| i.instance_id().map(String::from))
        .collect();
    assert_eq!(members.len(), 2);
    let described = aws
        .ec2
        .describe_instances()
        .set_instance_ids(Some(members))
        .send()
        .await
        .expect("DescribeInstances");
    for instance in described.reservations().iter().flat_map(|r| r.instances()) {
        assert_eq!(instance.public_ip_address(), None, "{instance:?}");
        assert!(
            net.private
                .contains(&instance.subnet_id().unwrap_or_default().to_string())
        );
        let groups = ids(instance.security_groups(), |g| g.group_id());
        assert_eq!(groups, BTreeSet::from([app_group.clone()]));
    }

    // The stack's S3 gateway endpoint serves the private table no other endpoint serves.
    let ours = aws
        .ec2
        .describe_vpc_endpoints()
        .filters(support::tag_filter("inside"))
        .send()
        .await
        .expect("DescribeVpcEndpoints");
    let s3 = ours
        .vpc_endpoints()
        .iter()
        .find(|e| e.vpc_endpoint_type() == Some(&VpcEndpointType::Gateway))
        .expect("the stack's S3 gateway endpoint");
    assert_eq!(s3.service_name(), Some("com.amazonaws.us-east-1.s3"));
    assert_eq!(
        s3.route_table_ids(),
        std::slice::from_ref(&net.private_table)
    );
    let s3_id = s3.vpc_endpoint_id().unwrap_or_default().to_string();
    assert_eq!(
        s3_routes(&aws, &net.private_table).await,
        BTreeSet::from([s3_id])
    );
    assert_eq!(
        s3_routes(&aws, &net.foreign_table).await,
        BTreeSet::from([net.foreign_endpoint.clone()])
    );

    // The interface endpoints: private DNS, one subnet per private zone, behind the
    // endpoints' group, which admits HTTPS from the instances only.
    let endpoints_group = aws.security_group("inside-endpoints").await;
    let admitted: Vec<(Option<i32>, BTreeSet<String>)> = endpoints_group
        .ip_permissions()
        .iter()
        .map(|p| {
            (
                p.from_port(),
                ids(p.user_id_group_pairs(), |g| g.group_id()),
            )
        })
        .collect();
    assert_eq!(admitted, [(Some(443), BTreeSet::from([app_group.clone()]))]);
    let interfaces: Vec<_> = ours
        .vpc_endpoints()
        .iter()
        .filter(|e| e.vpc_endpoint_type() == Some(&VpcEndpointType::Interface))
        .collect();
    let services: BTreeSet<&str> = interfaces.iter().filter_map(|e| e.service_name()).collect();
    assert_eq!(
        services,
        BTreeSet::from([
            "com.amazonaws.us-east-1.logs",
            "com.amazonaws.us-east-1.ssm"
        ])
    );
    for endpoint in &interfaces {
        assert_eq!(endpoint.private_dns_enabled(), Some(true));
        assert_eq!(set(endpoint.subnet_ids()), set(&net.private));
        let groups = ids(endpoint.groups(), |g| g.group_id());
        assert_eq!(
            groups,
            BTreeSet::from([endpoints_group.group_id().unwrap_or_default().to_string()])
        );
    }

    expect_no_change(&emulator, &["up", "-f", arg(&file)], "a second up").await;

    // `down` leaves nothing of the stack, and the route tables and endpoint that are not
    // its own as they were.
    modu(
        &emulator,
        &[
            "down",
            "-f",
            arg(&file),
            "--yes",
            "--delete-data",
            "--no-final-snapshot",
        ],
    )
    .await
    .expect_success();
    assert_eq!(aws.tagged_with_stack("inside").await, Vec::<String>::new());
    assert!(s3_routes(&aws, &net.private_table).await.is_empty());
    assert_eq!(
        s3_routes(&aws, &net.foreign_table).await,
        BTreeSet::from([net.foreign_endpoint.clone()])
    );
}

/// The zones (names) of the region where `instance_type` is offered, through the SDK.
async fn offered(aws: &Aws, instance_type: &str) -> BTreeSet<String> {
    let out = aws
        .ec2
        .describe_instance_type_offerings()
        .location_type(LocationType::AvailabilityZone)
        .filters(
            Filter::builder()
                .name("instance-type")
                .values(instance_type)
                .build(),
        )
        .send()
        .await
        .expect("DescribeInstanceTypeOfferings");
    out.instance_type_offerings()
        .iter()
        .filter_map(|o| o.location().map(String::from))
        .collect()
}

#[tokio::test]
async fn default_subnets_are_zones_offering_the_instance_and_cache_node_types() {
    let emulator = Emulator::start();
    let aws = Aws::new(&emulator).await;
    let dir = tempfile::tempdir().unwrap();

    // Offered apart in three zones each, together in one: not enough for a load balancer.
    let mut spec = Spec::new("apart");
    spec.instance_type = "trn1.32xlarge".to_string();
    spec.cache = Some(CacheTier {
        enabled: true,
        engine: "redis".to_string(),
        node_type: "cache.u7in-24tb.224xlarge".to_string(),
        replicas: 1,
    });
    let file = spec.write(dir.path());
    let run = modu(&emulator, &["plan", "-f", arg(&file)]).await;
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "trn1.32xlarge and cache.u7in-24tb.224xlarge offered together in 1 of the zones"
        ),
        "{run}"
    );

    // Offered together in more than three: the first three.
    let mut spec = Spec::new("together");
    spec.instance_type = "t3.small".to_string();
    spec.cache = Some(CacheTier {
        enabled: true,
        engine: "redis".to_string(),
        node_type: "cache.m3.medium".to_string(),
        replicas: 1,
    });
    let file = spec.write(dir.path());
    modu(&emulator, &["up", "-f", arg(&file)])
        .await
        .expect_success();
    let lb = aws.load_balancer("together-lb").await;
    let zones: BTreeSet<String> = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.zone_name().map(String::from))
        .collect();
    let both: BTreeSet<String> = offered(&aws, "t3.small")
        .await
        .intersection(&offered(&aws, "m3.medium").await)
        .cloned()
        .collect();
    assert!(zones.len() >= 2 && zones.len() <= 3, "{zones:?}");
    assert!(zones.is_subset(&both), "{zones:?} offer both: {both:?}");
    let cache_groups = aws
        .elasticache
        .describe_cache_subnet_groups()
        .cache_subnet_group_name("together-cache")
        .send()
        .await
        .expect("DescribeCacheSubnetGroups");
    let cache_zones: BTreeSet<String> = cache_groups.cache_subnet_groups()[0]
        .subnets()
        .iter()
        .filter_map(|s| {
            s.subnet_availability_zone()
                .and_then(|z| z.name())
                .map(String::from)
        })
        .collect();
    assert_eq!(cache_zones, zones);
    // In the default subnets, the instances keep their public addresses, stated in the
    // template.
    let versions = aws
        .ec2
        .describe_launch_template_versions()
        .launch_template_name("together-lt")
        .versions("$Latest")
        .send()
        .await
        .expect("DescribeLaunchTemplateVersions");
    let data = versions.launch_template_versions()[0]
        .launch_template_data()
        .expect("launch template data");
    assert_eq!(
        data.network_interfaces()[0].associate_public_ip_address(),
        Some(true)
    );
}
