//! The EC2 actions modu calls, in EC2's Query protocol (see [`super::wire`] for why modu
//! speaks it itself). Each action names its API reference page.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_types::SdkConfig;

pub use super::wire::query::{Filter, Params, Tag};
use super::wire::transport::{Service, Transport};
use super::wire::xml::Element;
pub use super::wire::{CallError, CallResult};

const SERVICE: Service = Service {
    signing_name: "ec2",
    service_id: "EC2",
    endpoint_prefix: "ec2",
    global: false,
};

/// An EC2 client; cheap to clone (one connection pool).
#[derive(Clone, Debug)]
pub struct Client {
    transport: Arc<Transport>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Subnet {
    pub id: String,
    pub vpc_id: String,
    pub availability_zone: String,
}

/// A route table, as far as modu reads it: which subnets use it and whether it routes
/// to an internet gateway.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteTable {
    pub id: String,
    pub vpc_id: String,
    /// The VPC's main route table: the one of every subnet without its own association.
    pub main: bool,
    /// The subnets explicitly associated with it.
    pub subnets: Vec<String>,
    /// It has a default route (`0.0.0.0/0`) to an internet gateway (`igw-…`).
    pub internet_route: bool,
}

/// A VPC endpoint (gateway or interface).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VpcEndpoint {
    pub id: String,
    pub vpc_id: String,
    pub service_name: String,
    /// `Gateway` or `Interface`.
    pub kind: String,
    /// `pending`, `available`, `deleting`, `deleted`, `failed`…
    pub state: String,
    pub route_tables: Vec<String>,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub private_dns: bool,
    pub tags: Vec<Tag>,
}

/// What a new VPC endpoint is made of.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewVpcEndpoint<'a> {
    pub vpc_id: &'a str,
    pub service_name: &'a str,
    /// `Gateway` (with `route_tables`) or `Interface` (with `subnets`, `security_groups`
    /// and private DNS).
    pub kind: &'a str,
    pub route_tables: &'a [String],
    pub subnets: &'a [String],
    pub security_groups: &'a [String],
    pub tags: &'a [Tag],
    /// Unique per endpoint modu means to make: a retry of the request (its reply lost)
    /// then returns the endpoint the first attempt made instead of making another.
    pub client_token: &'a str,
}

/// The changes ModifyVpcEndpoint makes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VpcEndpointChanges<'a> {
    pub add_route_tables: &'a [String],
    pub remove_route_tables: &'a [String],
    pub add_subnets: &'a [String],
    pub remove_subnets: &'a [String],
    pub add_security_groups: &'a [String],
    pub remove_security_groups: &'a [String],
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub vpc_id: String,
    pub tags: Vec<Tag>,
    pub ingress: Vec<IpPermission>,
}

/// One ingress permission: a protocol and port range from any of its sources.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IpPermission {
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub ipv4_ranges: Vec<String>,
    pub ipv6_ranges: Vec<String>,
    pub source_groups: Vec<String>,
    /// Managed prefix list ids (`pl-…`).
    pub prefix_lists: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LaunchTemplate {
    pub id: String,
    pub name: String,
    pub latest_version: i64,
    /// The version a launch that names none (or `$Default`) uses.
    pub default_version: i64,
    pub tags: Vec<Tag>,
}

/// The launch template settings modu sets and reads back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LaunchTemplateData {
    pub image_id: String,
    pub instance_type: String,
    pub security_group_ids: Vec<String>,
    /// Base64, as EC2 takes and returns it.
    pub user_data: String,
    /// The instance profile's name, if the instances get one.
    pub instance_profile: Option<String>,
    pub metadata: MetadataOptions,
    /// EBS volumes by device name, e.g. the root volume at the image's root device.
    pub volumes: Vec<Volume>,
    /// The primary network interface (device 0), when the template describes one; its
    /// security groups are then the instances' (and `security_group_ids` is empty: EC2
    /// refuses a template that gives both).
    pub network_interface: Option<NetworkInterface>,
    /// Tags for what is launched from the template, per resource type (`instance`, `volume`).
    pub tag_specifications: Vec<(String, Vec<Tag>)>,
    /// A burstable type's credit option (`standard`, `unlimited`); `None` for the account's
    /// default.
    pub cpu_credits: Option<String>,
}

/// One EBS volume of a launch template's block device mappings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Volume {
    pub device_name: String,
    pub encrypted: bool,
    /// `gp3`, `gp2`…; empty to keep the image's.
    pub volume_type: String,
}

/// A launch template's primary network interface.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkInterface {
    /// Whether instances get a public IPv4 address; `None` leaves it to the subnet's
    /// `MapPublicIpOnLaunch`.
    pub associate_public_ip: Option<bool>,
    pub security_group_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetadataOptions {
    pub http_endpoint: String,
    pub http_tokens: String,
    pub hop_limit: Option<i32>,
}

impl Client {
    pub fn new(config: &SdkConfig) -> Self {
        Client {
            transport: Transport::new(config, SERVICE),
        }
    }

    /// Calls a Describe action and gathers `list` from every page.
    async fn describe_all(&self, mut params: Params, list: &str) -> CallResult<Vec<Element>> {
        let mut items = Vec::new();
        loop {
            let mut root = self.transport.query(&params).await?;
            let next = root.text_of("nextToken").map(str::to_string);
            if let Some(index) = root.children.iter().position(|c| c.name == list) {
                let found = root.children.swap_remove(index);
                items.extend(found.children.into_iter().filter(|c| c.name == "item"));
            }
            match next.filter(|t| !t.is_empty()) {
                Some(token) => {
                    params = params_with_token(&params, &token);
                }
                None => return Ok(items),
            }
        }
    }

    /// [DescribeVpcs](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVpcs.html):
    /// the ids of the VPCs that match.
    pub async fn describe_vpcs(
        &self,
        ids: &[String],
        filters: &[Filter],
    ) -> CallResult<Vec<String>> {
        let mut params = Params::new("DescribeVpcs");
        params.filters(filters).list("VpcId", ids);
        let vpcs = self.describe_all(params, "vpcSet").await?;
        Ok(vpcs.iter().map(|v| v.string("vpcId")).collect())
    }

    /// [DescribeSubnets](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSubnets.html)
    pub async fn describe_subnets(
        &self,
        ids: &[String],
        filters: &[Filter],
    ) -> CallResult<Vec<Subnet>> {
        let mut params = Params::new("DescribeSubnets");
        params.filters(filters).list("SubnetId", ids);
        let subnets = self.describe_all(params, "subnetSet").await?;
        Ok(subnets
            .iter()
            .map(|s| Subnet {
                id: s.string("subnetId"),
                vpc_id: s.string("vpcId"),
                availability_zone: s.string("availabilityZone"),
            })
            .collect())
    }

    /// [DescribeSecurityGroups](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSecurityGroups.html)
    pub async fn describe_security_groups(
        &self,
        filters: &[Filter],
    ) -> CallResult<Vec<SecurityGroup>> {
        let mut params = Params::new("DescribeSecurityGroups");
        params.filters(filters);
        let groups = self.describe_all(params, "securityGroupInfo").await?;
        Ok(groups.iter().map(security_group).collect())
    }

    /// [CreateSecurityGroup](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html):
    /// the new group's id.
    pub async fn create_security_group(
        &self,
        name: &str,
        description: &str,
        vpc_id: &str,
        tags: &[Tag],
    ) -> CallResult<String> {
        let mut params = Params::new("CreateSecurityGroup");
        params
            .set("GroupName", name)
            .set("GroupDescription", description)
            .set("VpcId", vpc_id)
            .tag_specifications("TagSpecification", &[("security-group", tags)]);
        Ok(self.transport.query(&params).await?.string("groupId"))
    }

    /// [AuthorizeSecurityGroupIngress](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_AuthorizeSecurityGroupIngress.html)
    pub async fn authorize_security_group_ingress(
        &self,
        group_id: &str,
        permissions: &[IpPermission],
    ) -> CallResult<()> {
        self.ingress("AuthorizeSecurityGroupIngress", group_id, permissions)
            .await
    }

    /// [RevokeSecurityGroupIngress](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RevokeSecurityGroupIngress.html)
    pub async fn revoke_security_group_ingress(
        &self,
        group_id: &str,
        permissions: &[IpPermission],
    ) -> CallResult<()> {
        self.ingress("RevokeSecurityGroupIngress", group_id, permissions)
            .await
    }

    async fn ingress(
        &self,
        action: &str,
        group_id: &str,
        permissions: &[IpPermission],
    ) -> CallResult<()> {
        let mut params = Params::new(action);
        params.set("GroupId", group_id);
        for (i, permission) in permissions.iter().enumerate() {
            let prefix = format!("IpPermissions.{}", i + 1);
            params.set(format!("{prefix}.IpProtocol"), &permission.protocol);
            if let Some(port) = permission.from_port {
                params.set(format!("{prefix}.FromPort"), port);
            }
            if let Some(port) = permission.to_port {
                params.set(format!("{prefix}.ToPort"), port);
            }
            for (j, cidr) in permission.ipv4_ranges.iter().enumerate() {
                params.set(format!("{prefix}.IpRanges.{}.CidrIp", j + 1), cidr);
            }
            for (j, cidr) in permission.ipv6_ranges.iter().enumerate() {
                params.set(format!("{prefix}.Ipv6Ranges.{}.CidrIpv6", j + 1), cidr);
            }
            for (j, group) in permission.source_groups.iter().enumerate() {
                params.set(format!("{prefix}.Groups.{}.GroupId", j + 1), group);
            }
            for (j, list) in permission.prefix_lists.iter().enumerate() {
                params.set(
                    format!("{prefix}.PrefixListIds.{}.PrefixListId", j + 1),
                    list,
                );
            }
        }
        self.transport.query(&params).await.map(drop)
    }

    /// [DeleteSecurityGroup](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSecurityGroup.html)
    pub async fn delete_security_group(&self, group_id: &str) -> CallResult<()> {
        let mut params = Params::new("DeleteSecurityGroup");
        params.set("GroupId", group_id);
        self.transport.query(&params).await.map(drop)
    }

    /// [DescribeLaunchTemplates](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeLaunchTemplates.html)
    pub async fn describe_launch_templates(
        &self,
        names: &[String],
    ) -> CallResult<Vec<LaunchTemplate>> {
        let mut params = Params::new("DescribeLaunchTemplates");
        params.list("LaunchTemplateName", names);
        let templates = self.describe_all(params, "launchTemplates").await?;
        Ok(templates.iter().map(launch_template).collect())
    }

    /// [DescribeLaunchTemplateVersions](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeLaunchTemplateVersions.html):
    /// (version number, settings) of the versions named (`$Latest`, `$Default`, numbers).
    pub async fn describe_launch_template_versions(
        &self,
        id: &str,
        versions: &[&str],
    ) -> CallResult<Vec<(i64, LaunchTemplateData)>> {
        let mut params = Params::new("DescribeLaunchTemplateVersions");
        params
            .set("LaunchTemplateId", id)
            .list("LaunchTemplateVersion", versions);
        let found = self
            .describe_all(params, "launchTemplateVersionSet")
            .await?;
        Ok(found
            .iter()
            .map(|v| {
                let data = v.child("launchTemplateData").map(template_data);
                (
                    v.number("versionNumber").unwrap_or(0),
                    data.unwrap_or_default(),
                )
            })
            .collect())
    }

    /// [CreateLaunchTemplate](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplate.html);
    /// `client_token` is unique per template meant, so a retry whose first reply was lost
    /// returns the template the first attempt made.
    pub async fn create_launch_template(
        &self,
        name: &str,
        description: &str,
        data: &LaunchTemplateData,
        tags: &[Tag],
        client_token: &str,
    ) -> CallResult<LaunchTemplate> {
        let mut params = Params::new("CreateLaunchTemplate");
        params
            .set("LaunchTemplateName", name)
            .set("ClientToken", client_token)
            .set("VersionDescription", description)
            .tag_specifications("TagSpecification", &[("launch-template", tags)]);
        template_data_params(&mut params, data);
        let root = self.transport.query(&params).await?;
        Ok(root
            .child("launchTemplate")
            .map(launch_template)
            .unwrap_or_default())
    }

    /// [CreateLaunchTemplateVersion](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplateVersion.html):
    /// the new version's number. `client_token` is unique per version meant: a retry whose
    /// first reply was lost returns that version instead of adding another.
    pub async fn create_launch_template_version(
        &self,
        id: &str,
        description: &str,
        data: &LaunchTemplateData,
        client_token: &str,
    ) -> CallResult<i64> {
        let mut params = Params::new("CreateLaunchTemplateVersion");
        params
            .set("LaunchTemplateId", id)
            .set("ClientToken", client_token)
            .set("VersionDescription", description);
        template_data_params(&mut params, data);
        let root = self.transport.query(&params).await?;
        Ok(root
            .child("launchTemplateVersion")
            .and_then(|v| v.number("versionNumber"))
            .unwrap_or(0))
    }

    /// [ModifyLaunchTemplate](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyLaunchTemplate.html):
    /// makes `version` the default.
    pub async fn set_default_launch_template_version(
        &self,
        id: &str,
        version: i64,
    ) -> CallResult<()> {
        let mut params = Params::new("ModifyLaunchTemplate");
        params
            .set("LaunchTemplateId", id)
            .set("SetDefaultVersion", version);
        self.transport.query(&params).await.map(drop)
    }

    /// [DescribeInstances](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html):
    /// the tags of each of the instances, by instance id.
    pub async fn describe_instance_tags(
        &self,
        ids: &[String],
    ) -> CallResult<BTreeMap<String, Vec<Tag>>> {
        if ids.is_empty() {
            // No ids would describe every instance of the account.
            return Ok(BTreeMap::new());
        }
        let mut params = Params::new("DescribeInstances");
        params.list("InstanceId", ids);
        let reservations = self.describe_all(params, "reservationSet").await?;
        Ok(reservations
            .iter()
            .flat_map(|r| r.items("instancesSet"))
            .map(|i| (i.string("instanceId"), tags(i, "tagSet")))
            .collect())
    }

    /// [DescribeInstanceTypeOfferings](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstanceTypeOfferings.html):
    /// the availability zones (names) of the region in which each of `instance_types` is
    /// offered, from one request; a type offered nowhere is absent from the map.
    pub async fn zones_offering(
        &self,
        instance_types: &[&str],
    ) -> CallResult<BTreeMap<String, BTreeSet<String>>> {
        let mut params = Params::new("DescribeInstanceTypeOfferings");
        params
            .set("LocationType", "availability-zone")
            .filters(&[Filter::new("instance-type", instance_types.iter().copied())]);
        let offerings = self.describe_all(params, "instanceTypeOfferingSet").await?;
        let mut zones: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for offering in &offerings {
            zones
                .entry(offering.string("instanceType"))
                .or_default()
                .insert(offering.string("location"));
        }
        Ok(zones)
    }

    /// [DescribeRouteTables](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeRouteTables.html)
    pub async fn describe_route_tables(&self, filters: &[Filter]) -> CallResult<Vec<RouteTable>> {
        let mut params = Params::new("DescribeRouteTables");
        params.filters(filters);
        let tables = self.describe_all(params, "routeTableSet").await?;
        Ok(tables.iter().map(route_table).collect())
    }

    /// [DescribeVpcEndpoints](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVpcEndpoints.html)
    pub async fn describe_vpc_endpoints(
        &self,
        ids: &[&str],
        filters: &[Filter],
    ) -> CallResult<Vec<VpcEndpoint>> {
        let mut params = Params::new("DescribeVpcEndpoints");
        params.list("VpcEndpointId", ids).filters(filters);
        let endpoints = self.describe_all(params, "vpcEndpointSet").await?;
        Ok(endpoints.iter().map(vpc_endpoint).collect())
    }

    /// [CreateVpcEndpoint](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateVpcEndpoint.html):
    /// the new endpoint. An interface endpoint gets private DNS, so the service's usual
    /// name resolves to it inside the VPC.
    pub async fn create_vpc_endpoint(&self, new: &NewVpcEndpoint<'_>) -> CallResult<VpcEndpoint> {
        let mut params = Params::new("CreateVpcEndpoint");
        params
            .set("VpcId", new.vpc_id)
            .set("ServiceName", new.service_name)
            .set("VpcEndpointType", new.kind)
            .set("ClientToken", new.client_token)
            .list("RouteTableId", new.route_tables)
            .list("SubnetId", new.subnets)
            .list("SecurityGroupId", new.security_groups)
            .tag_specifications("TagSpecification", &[("vpc-endpoint", new.tags)]);
        if new.kind == "Interface" {
            params.set("PrivateDnsEnabled", true);
        }
        let root = self.transport.query(&params).await?;
        Ok(root
            .child("vpcEndpoint")
            .map(vpc_endpoint)
            .unwrap_or_default())
    }

    /// [ModifyVpcEndpoint](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyVpcEndpoint.html)
    pub async fn modify_vpc_endpoint(
        &self,
        id: &str,
        changes: &VpcEndpointChanges<'_>,
    ) -> CallResult<()> {
        let mut params = Params::new("ModifyVpcEndpoint");
        params
            .set("VpcEndpointId", id)
            .list("AddRouteTableId", changes.add_route_tables)
            .list("RemoveRouteTableId", changes.remove_route_tables)
            .list("AddSubnetId", changes.add_subnets)
            .list("RemoveSubnetId", changes.remove_subnets)
            .list("AddSecurityGroupId", changes.add_security_groups)
            .list("RemoveSecurityGroupId", changes.remove_security_groups);
        self.transport.query(&params).await.map(drop)
    }

    /// [DeleteVpcEndpoints](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteVpcEndpoints.html):
    /// the endpoints AWS could not delete, with the error code it gave for each (the call
    /// itself succeeds when some fail).
    pub async fn delete_vpc_endpoints(&self, ids: &[&str]) -> CallResult<Vec<(String, String)>> {
        let mut params = Params::new("DeleteVpcEndpoints");
        params.list("VpcEndpointId", ids);
        let root = self.transport.query(&params).await?;
        Ok(root
            .items("unsuccessful")
            .map(|item| {
                let code = item
                    .child("error")
                    .map(|e| e.string("code"))
                    .unwrap_or_default();
                (item.string("resourceId"), code)
            })
            .collect())
    }

    /// [DescribeVpcAttribute](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVpcAttribute.html):
    /// whether `attribute` (`enableDnsSupport`, `enableDnsHostnames`) is on.
    pub async fn vpc_attribute(&self, vpc_id: &str, attribute: &str) -> CallResult<bool> {
        let mut params = Params::new("DescribeVpcAttribute");
        params.set("VpcId", vpc_id).set("Attribute", attribute);
        let root = self.transport.query(&params).await?;
        // The answer names the attribute with a lowercase first letter.
        let mut element = attribute.to_string();
        element[..1].make_ascii_lowercase();
        Ok(root
            .child(&element)
            .and_then(|a| a.text_of("value"))
            .is_some_and(|v| v == "true"))
    }

    /// [DescribeManagedPrefixLists](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeManagedPrefixLists.html):
    /// the id of the prefix list of that name (AWS's managed lists have the same name in
    /// every region and a different id in each), `None` when the region has none.
    pub async fn prefix_list_id(&self, name: &str) -> CallResult<Option<String>> {
        let mut params = Params::new("DescribeManagedPrefixLists");
        params.filters(&[Filter::new("prefix-list-name", [name])]);
        let lists = self.describe_all(params, "prefixListSet").await?;
        Ok(lists.first().map(|l| l.string("prefixListId")))
    }

    /// [DescribeImages](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImages.html):
    /// the device name of the image's root volume (`/dev/xvda` on Amazon Linux), `None` when
    /// no such image is visible to the account.
    pub async fn root_device_name(&self, image_id: &str) -> CallResult<Option<String>> {
        let mut params = Params::new("DescribeImages");
        params.list("ImageId", &[image_id]);
        let images = self.describe_all(params, "imagesSet").await?;
        Ok(images
            .first()
            .map(|i| i.string("rootDeviceName"))
            .filter(|name| !name.is_empty()))
    }

    /// [CreateTags](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateTags.html):
    /// adds `tags` to the resources, overwriting the values of keys they already have.
    pub async fn create_tags(&self, resource_ids: &[&str], tags: &[Tag]) -> CallResult<()> {
        let mut params = Params::new("CreateTags");
        params.list("ResourceId", resource_ids);
        for (i, tag) in tags.iter().enumerate() {
            params
                .set(format!("Tag.{}.Key", i + 1), &tag.key)
                .set(format!("Tag.{}.Value", i + 1), &tag.value);
        }
        self.transport.query(&params).await.map(drop)
    }

    /// [DeleteLaunchTemplate](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteLaunchTemplate.html)
    pub async fn delete_launch_template(&self, id: &str) -> CallResult<()> {
        let mut params = Params::new("DeleteLaunchTemplate");
        params.set("LaunchTemplateId", id);
        self.transport.query(&params).await.map(drop)
    }
}

/// The same request asking for the page after `token`.
fn params_with_token(params: &Params, token: &str) -> Params {
    let mut next = params.without("NextToken");
    next.set("NextToken", token);
    next
}

fn tags(element: &Element, list: &str) -> Vec<Tag> {
    element
        .items(list)
        .map(|t| Tag::new(t.string("key"), t.string("value")))
        .collect()
}

fn security_group(group: &Element) -> SecurityGroup {
    SecurityGroup {
        id: group.string("groupId"),
        name: group.string("groupName"),
        vpc_id: group.string("vpcId"),
        tags: tags(group, "tagSet"),
        ingress: group
            .items("ipPermissions")
            .map(|p| IpPermission {
                protocol: p.string("ipProtocol"),
                from_port: p.number("fromPort"),
                to_port: p.number("toPort"),
                ipv4_ranges: p.items("ipRanges").map(|r| r.string("cidrIp")).collect(),
                ipv6_ranges: p
                    .items("ipv6Ranges")
                    .map(|r| r.string("cidrIpv6"))
                    .collect(),
                source_groups: p.items("groups").map(|g| g.string("groupId")).collect(),
                prefix_lists: p
                    .items("prefixListIds")
                    .map(|l| l.string("prefixListId"))
                    .collect(),
            })
            .collect(),
    }
}

fn route_table(table: &Element) -> RouteTable {
    let associations: Vec<&Element> = table.items("associationSet").collect();
    RouteTable {
        id: table.string("routeTableId"),
        vpc_id: table.string("vpcId"),
        main: associations
            .iter()
            .any(|a| a.text_of("main") == Some("true")),
        subnets: associations
            .iter()
            .map(|a| a.string("subnetId"))
            .filter(|s| !s.is_empty())
            .collect(),
        internet_route: table.items("routeSet").any(|r| {
            r.text_of("destinationCidrBlock") == Some("0.0.0.0/0")
                && r.string("gatewayId").starts_with("igw-")
        }),
    }
}

fn vpc_endpoint(endpoint: &Element) -> VpcEndpoint {
    let texts = |list: &str| -> Vec<String> {
        endpoint
            .items(list)
            .map(|i| i.text.trim().to_string())
            .collect()
    };
    VpcEndpoint {
        id: endpoint.string("vpcEndpointId"),
        vpc_id: endpoint.string("vpcId"),
        service_name: endpoint.string("serviceName"),
        kind: endpoint.string("vpcEndpointType"),
        state: endpoint.string("state").to_ascii_lowercase(),
        route_tables: texts("routeTableIdSet"),
        subnets: texts("subnetIdSet"),
        security_groups: endpoint
            .items("groupSet")
            .map(|g| g.string("groupId"))
            .collect(),
        private_dns: endpoint.text_of("privateDnsEnabled") == Some("true"),
        tags: tags(endpoint, "tagSet"),
    }
}

fn launch_template(template: &Element) -> LaunchTemplate {
    LaunchTemplate {
        id: template.string("launchTemplateId"),
        name: template.string("launchTemplateName"),
        latest_version: template.number("latestVersionNumber").unwrap_or(0),
        default_version: template.number("defaultVersionNumber").unwrap_or(0),
        tags: tags(template, "tagSet"),
    }
}

fn template_data(data: &Element) -> LaunchTemplateData {
    let metadata = data.child("metadataOptions");
    LaunchTemplateData {
        image_id: data.string("imageId"),
        instance_type: data.string("instanceType"),
        security_group_ids: data
            .items("securityGroupIdSet")
            .map(|g| g.text.trim().to_string())
            .collect(),
        user_data: data.string("userData"),
        instance_profile: data
            .child("iamInstanceProfile")
            .and_then(|p| {
                p.text_of("name").map(str::to_string).or_else(|| {
                    p.text_of("arn")
                        .and_then(|a| a.rsplit('/').next())
                        .map(str::to_string)
                })
            })
            .filter(|name| !name.is_empty()),
        metadata: MetadataOptions {
            http_endpoint: metadata
                .map(|m| m.string("httpEndpoint"))
                .unwrap_or_default(),
            http_tokens: metadata.map(|m| m.string("httpTokens")).unwrap_or_default(),
            hop_limit: metadata.and_then(|m| m.number("httpPutResponseHopLimit")),
        },
        volumes: data
            .items("blockDeviceMappingSet")
            .filter_map(|m| {
                let ebs = m.child("ebs")?;
                Some(Volume {
                    device_name: m.string("deviceName"),
                    encrypted: ebs.text_of("encrypted") == Some("true"),
                    volume_type: ebs.string("volumeType"),
                })
            })
            .collect(),
        cpu_credits: data
            .child("creditSpecification")
            .map(|c| c.string("cpuCredits"))
            .filter(|c| !c.is_empty()),
        tag_specifications: data
            .items("tagSpecificationSet")
            .map(|s| (s.string("resourceType"), tags(s, "tagSet")))
            .collect(),
        network_interface: data
            .items("networkInterfaceSet")
            .find(|n| n.number::<i32>("deviceIndex").unwrap_or(0) == 0)
            .map(|n| NetworkInterface {
                associate_public_ip: n.text_of("associatePublicIpAddress").map(|v| v == "true"),
                // Unlike most EC2 lists, this one names its members `groupId`.
                security_group_ids: n
                    .list("groupSet")
                    .map(|g| g.text.trim().to_string())
                    .collect(),
            }),
    }
}

fn template_data_params(params: &mut Params, data: &LaunchTemplateData) {
    const P: &str = "LaunchTemplateData";
    params
        .set(format!("{P}.ImageId"), &data.image_id)
        .set(format!("{P}.InstanceType"), &data.instance_type)
        .list(&format!("{P}.SecurityGroupId"), &data.security_group_ids)
        .set(format!("{P}.UserData"), &data.user_data);
    if let Some(profile) = &data.instance_profile {
        params.set(format!("{P}.IamInstanceProfile.Name"), profile);
    }
    if let Some(credits) = &data.cpu_credits {
        params.set(format!("{P}.CreditSpecification.CpuCredits"), credits);
    }
    if let Some(interface) = &data.network_interface {
        let nic = format!("{P}.NetworkInterface.1");
        params
            .set(format!("{nic}.DeviceIndex"), 0)
            .set(format!("{nic}.DeleteOnTermination"), true)
            .list(
                &format!("{nic}.SecurityGroupId"),
                &interface.security_group_ids,
            );
        if let Some(public) = interface.associate_public_ip {
            params.set(format!("{nic}.AssociatePublicIpAddress"), public);
        }
    }
    params
        .set(
            format!("{P}.MetadataOptions.HttpEndpoint"),
            &data.metadata.http_endpoint,
        )
        .set(
            format!("{P}.MetadataOptions.HttpTokens"),
            &data.metadata.http_tokens,
        );
    if let Some(hops) = data.metadata.hop_limit {
        params.set(format!("{P}.MetadataOptions.HttpPutResponseHopLimit"), hops);
    }
    for (i, volume) in data.volumes.iter().enumerate() {
        let mapping = format!("{P}.BlockDeviceMapping.{}", i + 1);
        params
            .set(format!("{mapping}.DeviceName"), &volume.device_name)
            .set(format!("{mapping}.Ebs.Encrypted"), volume.encrypted)
            .set(format!("{mapping}.Ebs.DeleteOnTermination"), true);
        if !volume.volume_type.is_empty() {
            params.set(format!("{mapping}.Ebs.VolumeType"), &volume.volume_type);
        }
    }
    let specs: Vec<(&str, &[Tag])> = data
        .tag_specifications
        .iter()
        .map(|(kind, tags)| (kind.as_str(), tags.as_slice()))
        .collect();
    params.tag_specifications(&format!("{P}.TagSpecification"), &specs);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_security_group_reads_its_rules_tags_and_sources() {
        let doc = r#"<DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
          <requestId>r</requestId>
          <securityGroupInfo><item>
            <ownerId>123</ownerId><groupId>sg-1</groupId><groupName>web-lb</groupName>
            <groupDescription>d</groupDescription><vpcId>vpc-1</vpcId>
            <ipPermissions>
              <item><ipProtocol>tcp</ipProtocol><fromPort>80</fromPort><toPort>80</toPort>
                <groups/><ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges>
                <ipv6Ranges><item><cidrIpv6>::/0</cidrIpv6></item></ipv6Ranges>
                <prefixListIds><item><prefixListId>pl-3b927c52</prefixListId></item></prefixListIds></item>
              <item><ipProtocol>-1</ipProtocol>
                <groups><item><userId>123</userId><groupId>sg-2</groupId></item></groups>
                <ipRanges/></item>
            </ipPermissions>
            <ipPermissionsEgress><item><ipProtocol>-1</ipProtocol></item></ipPermissionsEgress>
            <tagSet><item><key>modu:stack</key><value>web</value></item></tagSet>
          </item></securityGroupInfo>
        </DescribeSecurityGroupsResponse>"#;
        let root = Element::parse(doc).unwrap();
        let groups: Vec<SecurityGroup> = root
            .items("securityGroupInfo")
            .map(security_group)
            .collect();
        assert_eq!(
            groups,
            vec![SecurityGroup {
                id: "sg-1".into(),
                name: "web-lb".into(),
                vpc_id: "vpc-1".into(),
                tags: vec![Tag::new("modu:stack", "web")],
                ingress: vec![
                    IpPermission {
                        protocol: "tcp".into(),
                        from_port: Some(80),
                        to_port: Some(80),
                        ipv4_ranges: vec!["0.0.0.0/0".into()],
                        ipv6_ranges: vec!["::/0".into()],
                        source_groups: vec![],
                        prefix_lists: vec!["pl-3b927c52".into()],
                    },
                    IpPermission {
                        protocol: "-1".into(),
                        source_groups: vec!["sg-2".into()],
                        ..IpPermission::default()
                    },
                ],
            }]
        );
    }

    #[test]
    fn launch_template_data_round_trips_through_its_names() {
        let doc = r#"<launchTemplateData>
            <imageId>ami-1</imageId><instanceType>t3.micro</instanceType>
            <securityGroupIdSet><item>sg-1</item></securityGroupIdSet>
            <userData>IyEvYmluL2Jhc2g=</userData>
            <metadataOptions><httpTokens>required</httpTokens><httpPutResponseHopLimit>2</httpPutResponseHopLimit>
              <httpEndpoint>enabled</httpEndpoint></metadataOptions>
            <blockDeviceMappingSet><item><deviceName>/dev/xvda</deviceName>
              <ebs><encrypted>true</encrypted><volumeType>gp3</volumeType></ebs></item></blockDeviceMappingSet>
            <tagSpecificationSet><item><resourceType>instance</resourceType>
              <tagSet><item><key>Name</key><value>web-app</value></item></tagSet></item></tagSpecificationSet>
            <networkInterfaceSet><item><associatePublicIpAddress>false</associatePublicIpAddress>
              <deleteOnTermination>true</deleteOnTermination><deviceIndex>0</deviceIndex>
              <groupSet><groupId>sg-2</groupId></groupSet></item></networkInterfaceSet>
            <creditSpecification><cpuCredits>unlimited</cpuCredits></creditSpecification>
          </launchTemplateData>"#;
        let data = template_data(&Element::parse(doc).unwrap());
        assert_eq!(
            data,
            LaunchTemplateData {
                image_id: "ami-1".into(),
                instance_type: "t3.micro".into(),
                security_group_ids: vec!["sg-1".into()],
                user_data: "IyEvYmluL2Jhc2g=".into(),
                instance_profile: None,
                metadata: MetadataOptions {
                    http_endpoint: "enabled".into(),
                    http_tokens: "required".into(),
                    hop_limit: Some(2),
                },
                volumes: vec![Volume {
                    device_name: "/dev/xvda".into(),
                    encrypted: true,
                    volume_type: "gp3".into(),
                }],
                tag_specifications: vec![("instance".into(), vec![Tag::new("Name", "web-app")])],
                network_interface: Some(NetworkInterface {
                    associate_public_ip: Some(false),
                    security_group_ids: vec!["sg-2".into()],
                }),
                cpu_credits: Some("unlimited".into()),
            }
        );
        let mut params = Params::new("CreateLaunchTemplateVersion");
        template_data_params(&mut params, &data);
        assert_eq!(
            params.encode(),
            "Action=CreateLaunchTemplateVersion&Version=2016-11-15\
             &LaunchTemplateData.ImageId=ami-1&LaunchTemplateData.InstanceType=t3.micro\
             &LaunchTemplateData.SecurityGroupId.1=sg-1\
             &LaunchTemplateData.UserData=IyEvYmluL2Jhc2g%3D\
             &LaunchTemplateData.CreditSpecification.CpuCredits=unlimited\
             &LaunchTemplateData.NetworkInterface.1.DeviceIndex=0\
             &LaunchTemplateData.NetworkInterface.1.DeleteOnTermination=true\
             &LaunchTemplateData.NetworkInterface.1.SecurityGroupId.1=sg-2\
             &LaunchTemplateData.NetworkInterface.1.AssociatePublicIpAddress=false\
             &LaunchTemplateData.MetadataOptions.HttpEndpoint=enabled\
             &LaunchTemplateData.MetadataOptions.HttpTokens=required\
             &LaunchTemplateData.MetadataOptions.HttpPutResponseHopLimit=2\
             &LaunchTemplateData.BlockDeviceMapping.1.DeviceName=%2Fdev%2Fxvda\
             &LaunchTemplateData.BlockDeviceMapping.1.Ebs.Encrypted=true\
             &LaunchTemplateData.BlockDeviceMapping.1.Ebs.DeleteOnTermination=true\
             &LaunchTemplateData.BlockDeviceMapping.1.Ebs.VolumeType=gp3\
             &LaunchTemplateData.TagSpecification.1.ResourceType=instance\
             &LaunchTemplateData.TagSpecification.1.Tag.1.Key=Name\
             &LaunchTemplateData.TagSpecification.1.Tag.1.Value=web-app"
        );
    }

    #[test]
    fn the_next_page_replaces_the_token() {
        let mut params = Params::new("DescribeVpcs");
        params.set("NextToken", "a");
        let next = params_with_token(&params, "b");
        assert_eq!(
            next.encode(),
            "Action=DescribeVpcs&Version=2016-11-15&NextToken=b"
        );
    }
}
