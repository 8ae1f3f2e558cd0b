"""RDS corrections.

- ManageMasterUserPassword: RDS generates the master password and keeps it in a Secrets
  Manager secret whose SecretString is `{"username": <MasterUsername>, "password": …}`
  (RDS User Guide, "Password management with Amazon RDS and AWS Secrets Manager"). moto
  writes a fixed `admin` / `P@55w0rd!` whatever the master username; here the secret holds
  the instance's own master username and a generated password.
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
