"""IAM: a role an instance profile does not hold cannot be removed from it."""

from __future__ import annotations

import json

import pytest
from support import uid


def test_removing_a_role_the_profile_does_not_hold_is_no_such_entity(client):
    iam = client("iam")
    role, profile = uid("role-"), uid("profile-")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
    iam.create_instance_profile(InstanceProfileName=profile)
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
    iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=role)
    with pytest.raises(iam.exceptions.NoSuchEntityException) as raised:
        iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=role)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"] == []
