"""The instance metadata service (IMDSv2) at 169.254.169.254, as instances see it on EC2.

One server in the VPC router's namespace answers every instance; it tells them apart by the
source address (their private IP). Sessions: `PUT /latest/api/token` with a TTL header gives
a token bound to the instance; with the launch template's `HttpTokens: required` a request
without a valid token is refused (401), as EC2 refuses it. Instance profile credentials are
issued by the emulator's STS for the profile's role and renewed before they expire.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from datetime import datetime, timezone

from . import http1

CREDENTIAL_SECONDS = 6 * 3600
RENEW_BEFORE = 15 * 60


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Metadata:
    def __init__(self, snapshot, control, log):
        self.snapshot = snapshot
        self.control = control
        self.log = log
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (instance id, expiry)
        self.credentials: dict[str, dict] = {}  # instance id -> credential document

    async def serve(self, sock) -> asyncio.AbstractServer:
        return await asyncio.start_server(self.connection, sock=sock)

    async def connection(self, reader, writer) -> None:
        peer = writer.get_extra_info("peername")[0]
        try:
            while True:
                request = await http1.read_request(reader)
                if request is None:
                    break
                response = self.answer(request, peer)
                writer.write(http1.encode_response(response, request.keep_alive))
                await writer.drain()
                if not request.keep_alive:
                    break
        except (http1.ProtocolError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def answer(self, request: http1.Request, peer: str) -> http1.Response:
        instance = self.snapshot().instance_by_ip(peer)
        if instance is None:
            return http1.text_response(404, "not an instance of this cloud\n")
        if request.headers.get("X-Forwarded-For"):
            return http1.text_response(403, "Forbidden\n")
        path = request.target.split("?")[0]
        if request.method == "PUT" and path == "/latest/api/token":
            ttl = request.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            if not ttl or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return http1.text_response(400, "Bad Request\n")
            token = secrets.token_urlsafe(42)
            self.tokens[token] = (instance.id, time.monotonic() + int(ttl))
            return http1.text_response(200, token, "text/plain", X_Aws_Ec2_Metadata_Token_Ttl_Seconds=ttl)
        if request.method not in ("GET", "HEAD"):
            return http1.text_response(405, "Method Not Allowed\n")
        token = request.headers.get("X-aws-ec2-metadata-token")
        if token is not None:
            owner = self.tokens.get(token)
            if owner is None or owner[0] != instance.id or owner[1] < time.monotonic():
                return http1.text_response(401, "Unauthorized\n")
        elif instance.http_tokens == "required":
            return http1.text_response(401, "Unauthorized\n")
        value = self.lookup(instance, path)
        if value is None:
            return http1.text_response(404, "Not Found\n", "text/html")
        if isinstance(value, bytes):
            return http1.Response(200, "OK", http1.Headers([("Content-Type", "application/octet-stream")]), value)
        return http1.text_response(200, value, "text/plain")

    def lookup(self, instance, path: str):
        hostname = f"ip-{instance.private_ip.replace('.', '-')}.ec2.internal"
        profile = instance.profile_arn
        if path in ("/latest/user-data", "/latest/user-data/"):
            return instance.user_data or None
        if path == "/latest/dynamic/instance-identity/document":
            return json.dumps(
                {
                    "accountId": instance.account,
                    "architecture": "x86_64",
                    "availabilityZone": instance.zone,
                    "imageId": instance.image_id,
                    "instanceId": instance.id,
                    "instanceType": instance.instance_type,
                    "privateIp": instance.private_ip,
                    "region": instance.region,
                    "version": "2017-09-30",
                },
                indent=2,
            )
        tree = {
            "ami-id": instance.image_id,
            "hostname": hostname,
            "instance-id": instance.id,
            "instance-type": instance.instance_type,
            "local-hostname": hostname,
            "local-ipv4": instance.private_ip,
            "mac": "0e:00:00:00:00:01",
            "placement/availability-zone": instance.zone,
            "placement/region": instance.region,
            "services/domain": "amazonaws.com",
            "services/partition": "aws",
        }
        if profile:
            role = self.role_of(instance)
            tree["iam/info"] = json.dumps(
                {"Code": "Success", "LastUpdated": iso(datetime.now(timezone.utc)), "InstanceProfileArn": profile,
                 "InstanceProfileId": "AIPA" + instance.id[2:].upper()},
                indent=2,
            )
            if role:
                tree[f"iam/security-credentials/{role[0]}"] = lambda: self.credentials_for(instance, role[1])
        prefix = "/latest/meta-data/"
        if not path.startswith(prefix) and path != prefix.rstrip("/"):
            return None
        key = path[len(prefix):] if path.startswith(prefix) else ""
        if key in tree:
            value = tree[key]
            return value() if callable(value) else value
        base = key.rstrip("/") + "/" if key.rstrip("/") else ""
        children = set()
        for name in tree:
            if name.startswith(base):
                head, slash, _ = name[len(base):].partition("/")
                children.add(head + slash)
        return "\n".join(sorted(children)) if children else None

    def role_of(self, instance) -> tuple[str, str] | None:
        """(role name, role arn) of the instance's profile, from the emulator's IAM."""
        from moto.iam.models import iam_backends

        with self.control.lock:
            backend = iam_backends[instance.account]["aws"]
            try:
                found = backend.get_instance_profile_by_arn(instance.profile_arn)
            except Exception:
                name = instance.profile_arn.rsplit("/", 1)[-1]
                try:
                    found = backend.get_instance_profile(name)
                except Exception:
                    return None
            if not found.roles:
                return None
            return found.roles[0].name, found.roles[0].arn

    def credentials_for(self, instance, role_arn: str) -> str:
        from moto.sts.models import sts_backends

        held = self.credentials.get(instance.id)
        if held and held["RoleArn"] == role_arn and held["expires"] - time.time() > RENEW_BEFORE:
            return held["document"]
        with self.control.lock:
            assumed = sts_backends[instance.account]["aws"].assume_role(
                region_name=instance.region,
                role_session_name=instance.id,
                role_arn=role_arn,
                policy=None,
                duration=CREDENTIAL_SECONDS,
                external_id=None,
            )
        expiration = assumed.expiration.replace(tzinfo=timezone.utc)
        document = json.dumps(
            {
                "Code": "Success",
                "LastUpdated": iso(datetime.now(timezone.utc)),
                "Type": "AWS-HMAC",
                "AccessKeyId": assumed.access_key_id,
                "SecretAccessKey": assumed.secret_access_key,
                "Token": assumed.session_token,
                "Expiration": iso(expiration),
            },
            indent=2,
        )
        self.credentials[instance.id] = {"RoleArn": role_arn, "expires": expiration.timestamp(), "document": document}
        return document
