"""RDS corrections.

- ManageMasterUserPassword: RDS generates the master password and keeps it in a Secrets
  Manager secret whose SecretString is `{"username": <MasterUsername>, "password": …}`
  (RDS User Guide, "Password management with Amazon RDS and AWS Secrets Manager"). moto
  writes a fixed `admin` / `P@55w0rd!` whatever the master username; here the secret holds
  the instance's own master username and a generated password.
- CreateDBSubnetGroup of a name in use is refused with DBSubnetGroupAlreadyExists (RDS API
  Reference, CreateDBSubnetGroup → Errors); moto replaced the group, so a retried create
  (its first reply lost) succeeded where AWS's answer sends modu to look again.
"""

from __future__ import annotations

import json
import secrets
import string

# RDS leaves out characters that need quoting in connection strings: / @ " and space.
ALPHABET = string.ascii_letters + string.digits + "!#$%&()*+,-.:;<=>?[]^_{|}~"


def generated_password(length: int = 32) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def apply() -> None:
    from moto.rds.models import MasterUserSecret

    def secret_string(self) -> str:
        username = getattr(self.resource, "master_username", None) or "postgres"
        return json.dumps({"username": username, "password": generated_password()})

    MasterUserSecret._generate_secret_string = secret_string

    from moto.rds.exceptions import RDSClientError
    from moto.rds.models import RDSBackend

    class DBSubnetGroupAlreadyExists(RDSClientError):
        def __init__(self, name: str) -> None:
            super().__init__("DBSubnetGroupAlreadyExists", f"DB Subnet Group {name} already exists.")

    create_subnet_group = RDSBackend.create_subnet_group

    def create_subnet_group_once(self, subnet_name, *args, **kwargs):
        if subnet_name in self.subnet_groups:
            raise DBSubnetGroupAlreadyExists(subnet_name)
        return create_subnet_group(self, subnet_name, *args, **kwargs)

    RDSBackend.create_subnet_group = create_subnet_group_once
