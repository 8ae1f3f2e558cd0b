"""RDS: a DB subnet group's name is taken once."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from support import error_code, uid


def test_a_second_db_subnet_group_of_one_name_is_refused(client):
    ec2, rds = client("ec2"), client("rds")
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
    name = uid("dbg-")
    rds.create_db_subnet_group(DBSubnetGroupName=name, DBSubnetGroupDescription="first", SubnetIds=subnets)
    with pytest.raises(ClientError) as refused:
        rds.create_db_subnet_group(DBSubnetGroupName=name, DBSubnetGroupDescription="second", SubnetIds=subnets)
    assert error_code(refused) == "DBSubnetGroupAlreadyExists"
    group = rds.describe_db_subnet_groups(DBSubnetGroupName=name)["DBSubnetGroups"][0]
    assert group["DBSubnetGroupDescription"] == "first"
