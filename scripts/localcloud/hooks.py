"""Where moto's control plane answers from the local cloud's data planes.

Installed only by the local cloud (the plain emulator keeps moto's answers): target health
comes from the health checks that really run (health.py), and an instance's console output
is what its boot really printed; a replication group remembers its AUTH token for the
cache's data plane.
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone

MAX_CONSOLE = 64 * 1024  # EC2 returns the most recent 64 KB


def install(board, console_of) -> None:
    """`board`: health.Board; `console_of(instance_id) -> bytes | None`."""
    from moto.core.types import Base64EncodedString
    from moto.ec2.responses.general import General
    from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup

    original_health = FakeTargetGroup.health_for

    def health_for(self, target, ec2_backend):
        status = original_health(self, target, ec2_backend)
        port = int(target.get("Port") or self.targets.get(target["Id"], {}).get("Port") or self.port)
        found = board.describe(self.arn, target["Id"], port)
        if found is None:
            if status.status == "healthy":  # registered, not yet picked up by a check
                return FakeHealthStatus(
                    target["Id"], port, self.health_check_port, "initial",
                    "Elb.RegistrationInProgress", "Target registration is in progress",
                )
            return status
        state, reason, description = found
        return FakeHealthStatus(target["Id"], port, self.health_check_port, state, reason, description)

    FakeTargetGroup.health_for = health_for

    original_console = General.get_console_output

    def get_console_output(self):
        result = original_console(self)
        instance_id = self._get_param("InstanceId")
        output = console_of(instance_id)
        if output is not None:
            output = output[-MAX_CONSOLE:]
            result.result["Output"] = Base64EncodedString(base64.b64encode(output).decode())
            result.result["Timestamp"] = datetime.now(timezone.utc)
        return result

    General.get_console_output = get_console_output

    # A replication group's AUTH token: moto keeps only whether there is one; the cache's
    # data plane needs the token itself to require it.
    from moto.elasticache.models import ReplicationGroup

    original_group_init = ReplicationGroup.__init__

    def group_init(self, *args, **kwargs):
        original_group_init(self, *args, **kwargs)
        self._local_cloud_auth_token = kwargs.get("auth_token")

    ReplicationGroup.__init__ = group_init
