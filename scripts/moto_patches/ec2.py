"""EC2: a block device mapping that names neither a size nor a snapshot; the network
interface of a launch template; the client tokens of CreateVpcEndpoint, CreateLaunchTemplate
and CreateLaunchTemplateVersion."""

from __future__ import annotations


def apply() -> None:
    from moto.ec2.models.instances import Instance

    # AWS (EC2 User Guide, "Block device mappings", and RunInstances'
    # BlockDeviceMapping.Ebs): a mapping at the image's root device that gives no
    # VolumeSize or SnapshotId changes only what it names (here: encryption, volume type)
    # and takes the image's root snapshot and its size. moto refuses it with
    # MissingParameter size/snapshot; its images have no real snapshots, so the volume gets
    # moto's default root size.
    ROOT_SIZE_GIB = 8
    original = Instance.add_block_device

    def add_block_device(self, size, device_path, snapshot_id, encrypted, delete_on_termination,
                         kms_key_id, volume_type=None):
        if size is None and snapshot_id is None:
            size = ROOT_SIZE_GIB
        return original(self, size, device_path, snapshot_id, encrypted, delete_on_termination,
                        kms_key_id, volume_type=volume_type)

    Instance.add_block_device = add_block_device

    _apply_template_network_interface()
    _apply_gateway_endpoint_routes()
    _apply_launch_template_client_tokens()


def _template_interface(backend, launch_template) -> dict | None:
    """The primary network interface (device 0) of the launch template version a launch
    names, or None."""
    version = backend._get_template_from_args(launch_template)
    for interface in version.data.get("NetworkInterfaces") or []:
        if str(interface.get("DeviceIndex", "0")) == "0":
            return interface
    return None


def _apply_template_network_interface() -> None:
    from moto.ec2.models.instances import InstanceBackend

    # AWS (RunInstances → LaunchTemplate; EC2 User Guide, "Launch template network
    # settings"; EC2 Auto Scaling User Guide, "Network interfaces in a launch template"):
    # an instance launched from a template that describes its primary network interface
    # gets that interface's security groups and public-address choice
    # (AssociatePublicIpAddress=false: no public IPv4 address, whatever the subnet maps);
    # a group's subnet replaces only the interface's subnet. moto ignores the template's
    # network interfaces: such instances get the subnet's public-address default and the
    # VPC's default security group.
    original = InstanceBackend.run_instances

    def run_instances(self, image_id, count, user_data, security_group_names, **kwargs):
        template = kwargs.get("launch_template")
        interface = _template_interface(self, template) if template and not kwargs.get("nics") else None
        if interface is not None:
            public = interface.get("AssociatePublicIpAddress")
            if public is not None:
                kwargs["associate_public_ip"] = str(public).lower() == "true"
            groups = interface.get("Groups") or []
            if groups and not kwargs.get("security_group_ids") and not security_group_names:
                kwargs["security_group_ids"] = list(groups)
        return original(self, image_id, count, user_data, security_group_names, **kwargs)

    InstanceBackend.run_instances = run_instances


def _apply_gateway_endpoint_routes() -> None:
    from moto.ec2.models.vpcs import VPCEndPoint

    # AWS (ModifyVpcEndpoint → AddRouteTableIds / RemoveRouteTableIds; VPC User Guide,
    # "Gateway endpoints": "we add a route to each route table you associate"): associating
    # a route table with a gateway endpoint adds the route to the service's prefix list
    # through the endpoint, and dissociating removes it. moto only edits the endpoint's
    # list, so the route stays behind (and a newly associated table gets none).
    original = VPCEndPoint.modify

    def modify(self, policy_doc, add_subnets, remove_subnets, add_route_tables, remove_route_tables,
               add_security_groups, remove_security_groups):
        before = set(self.route_table_ids or [])
        original(self, policy_doc, add_subnets, remove_subnets, add_route_tables, remove_route_tables,
                 add_security_groups, remove_security_groups)
        prefix_list = getattr(self, "destination_prefix_list_id", None)
        if not prefix_list:
            return
        after = set(self.route_table_ids or [])
        for table in sorted(after - before):
            self.ec2_backend.create_route(table, None, gateway_id=self.id,
                                          destination_prefix_list_id=prefix_list)
        for table in sorted(before - after):
            self.ec2_backend.delete_route(table, None, destination_prefix_list_id=prefix_list)

    VPCEndPoint.modify = modify

    # AWS (EC2 API Reference, CreateVpcEndpoint → ClientToken, and "Ensuring idempotency"):
    # a request repeated with the same client token returns the endpoint the first one
    # made. moto made another endpoint, so a retried create (its first reply lost) left two.
    from moto.ec2.models.vpcs import VPCBackend

    create_vpc_endpoint = VPCBackend.create_vpc_endpoint

    def create_vpc_endpoint_once(self, *args, **kwargs):
        token = kwargs.get("client_token")
        if token:
            for endpoint in self.vpc_end_points.values():
                if getattr(endpoint, "client_token", None) == token:
                    return endpoint
        return create_vpc_endpoint(self, *args, **kwargs)

    VPCBackend.create_vpc_endpoint = create_vpc_endpoint_once


def _apply_launch_template_client_tokens() -> None:
    import threading

    from moto.ec2.models.launch_templates import LaunchTemplate, LaunchTemplateBackend
    from moto.ec2.responses.launch_templates import LaunchTemplates

    # AWS (EC2 API Reference, CreateLaunchTemplate and CreateLaunchTemplateVersion →
    # ClientToken; "Ensuring idempotency"): a request repeated with the same client token
    # returns what the first one made. moto ignores the token: a retried
    # CreateLaunchTemplateVersion (its first reply lost) added a second version, and a
    # retried CreateLaunchTemplate was refused as a duplicate name. The token of the request
    # being handled reaches the models through this thread's slot.
    request = threading.local()

    def with_token(handler):
        def handle(self):
            request.token = self._get_param("ClientToken")
            try:
                return handler(self)
            finally:
                request.token = None

        return handle

    LaunchTemplates.create_launch_template = with_token(LaunchTemplates.create_launch_template)
    LaunchTemplates.create_launch_template_version = with_token(LaunchTemplates.create_launch_template_version)

    create_template = LaunchTemplateBackend.create_launch_template

    def create_template_once(self, name, *args, **kwargs):
        token = getattr(request, "token", None)
        if token:
            for template in self.launch_templates.values():
                if getattr(template, "client_token", None) == token:
                    return template
        template = create_template(self, name, *args, **kwargs)
        template.client_token = token
        return template

    LaunchTemplateBackend.create_launch_template = create_template_once

    create_version = LaunchTemplate.create_version

    def create_version_once(self, data, description):
        token = getattr(request, "token", None)
        tokens = self.__dict__.setdefault("version_tokens", {})
        if token and token in tokens:
            return self.get_version(tokens[token])
        version = create_version(self, data, description)
        if token:
            tokens[token] = version.number
        return version

    LaunchTemplate.create_version = create_version_once
