"""The local cloud's data planes, run for real (scripts/localcloud/): instances boot their
user data in sandboxes of their own, with IMDSv2 and systemd's semantics; load balancers
route to healthy targets by their real health checks; the proxy reaches them by name."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from support import LocalCloud, get, uid, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the local cloud needs root (network namespaces)")

IMAGE = "ami-12c6146b"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    running = LocalCloud(tmp_path_factory.mktemp("local-cloud"))
    yield running
    running.stop()


def subnet_of(cloud) -> str:
    return cloud.client("ec2").describe_subnets()["Subnets"][0]["SubnetId"]


def launch(cloud, user_data: str, count: int = 1, **extra) -> list[str]:
    reply = cloud.client("ec2").run_instances(
        ImageId=IMAGE, MinCount=count, MaxCount=count, InstanceType="t3.micro",
        SubnetId=subnet_of(cloud), UserData=user_data, **extra,
    )
    return [i["InstanceId"] for i in reply["Instances"]]


def console(cloud, instance_id: str) -> str:
    output = cloud.client("ec2").get_console_output(InstanceId=instance_id).get("Output", "")
    return output


def boot_finished(cloud, instance_id: str) -> str:
    return wait_for(
        f"{instance_id} to finish its user data",
        lambda: "user data finished" in (text := console(cloud, instance_id)) and text,
        timeout=60,
    )


def terminate(cloud, *instance_ids: str) -> None:
    cloud.client("ec2").terminate_instances(InstanceIds=list(instance_ids))


def test_user_data_runs_as_root_in_a_sandbox_of_its_own(cloud):
    [instance] = launch(cloud, """#!/bin/bash
set -eu
echo "uid: $(id -u)"
echo hello > /etc/localcloud-test
mkdir -p /opt/app && echo opt > /opt/app/file
if touch /usr/localcloud-test 2>/dev/null; then echo "usr: writable"; else echo "usr: read-only"; fi
echo "hostname: $(hostname)"
echo "address: $(ip -4 -o addr show eth0 | awk '{print $4}')"
python3 -c 'print("python3: runs")'
echo "os: $(. /etc/os-release; echo $ID $VERSION_ID)"
""")
    text = boot_finished(cloud, instance)
    described = cloud.client("ec2").describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    address = described["PrivateIpAddress"]
    assert "uid: 0" in text
    assert "usr: read-only" in text
    assert "python3: runs" in text
    assert "os: amzn 2023" in text
    assert f"hostname: ip-{address.replace('.', '-')}" in text
    assert f"address: {address}/" in text
    assert "exit code 0" in text
    root = cloud.instance_root(instance)
    assert (root / "etc" / "localcloud-test").read_text() == "hello\n"
    assert (root / "opt" / "app" / "file").read_text() == "opt\n"
    assert not Path("/etc/localcloud-test").exists()
    assert not Path("/usr/localcloud-test").exists()
    terminate(cloud, instance)


def test_imdsv2_and_instance_profile_credentials_from_the_emulators_sts(cloud):
    iam = cloud.client("iam")
    role = uid("role-")
    iam.create_role(
        RoleName=role,
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
    )
    profile = iam.create_instance_profile(InstanceProfileName=role)["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName=role, RoleName=role)
    template = cloud.client("ec2").create_launch_template(
        LaunchTemplateName=uid("lt-"),
        LaunchTemplateData={
            "ImageId": IMAGE,
            "IamInstanceProfile": {"Arn": profile["Arn"]},
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
        },
    )["LaunchTemplate"]
    [instance] = launch(cloud, """#!/bin/bash
set -u
echo "without a token: $(curl -s -o /dev/null -w '%{http_code}' http://169.254.169.254/latest/meta-data/instance-id)"
token=$(curl -s -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 60')
md() { curl -s -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"; }
echo "instance-id: $(md instance-id)"
echo "local-ipv4: $(md local-ipv4)"
echo "zone: $(md placement/availability-zone)"
echo "region: $(md placement/region)"
echo "role: $(md iam/security-credentials/)"
echo "caller: $(aws sts get-caller-identity --query Arn --output text)"
""", LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"]})
    text = boot_finished(cloud, instance)
    described = cloud.client("ec2").describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    assert "without a token: 401" in text
    assert f"instance-id: {instance}" in text
    assert f"local-ipv4: {described['PrivateIpAddress']}" in text
    assert f"zone: {described['Placement']['AvailabilityZone']}" in text
    assert "region: us-east-1" in text
    assert f"role: {role}" in text
    assert f"caller: arn:aws:sts::123456789012:assumed-role/{role}/{instance}" in text, text
    terminate(cloud, instance)


UNITS = r"""#!/bin/bash
set -eu
cat > /etc/envtest.env <<'ENV'
# a comment
C="three"
ENV
cat > /etc/systemd/system/envtest.service <<'UNIT'
[Service]
Environment="A=1" "B=two words"
EnvironmentFile=/etc/envtest.env
EnvironmentFile=-/etc/missing.env
ExecStart=/bin/sh -c 'echo "$A|$B|$C" > /var/log/envtest.out; exec sleep 1000'
[Install]
WantedBy=multi-user.target
UNIT
cat > /etc/systemd/system/flaky.service <<'UNIT'
[Service]
ExecStart=/bin/sh -c 'echo start >> /var/log/flaky.out; sleep 0.2; exit 1'
Restart=always
RestartSec=0.2
UNIT
cat > /etc/systemd/system/stubborn.service <<'UNIT'
[Service]
ExecStart=/bin/sh -c 'trap "echo term >> /var/log/stubborn.out" TERM; while true; do sleep 0.1; done'
TimeoutStopSec=1
UNIT
cat > /etc/systemd/system/graceful.service <<'UNIT'
[Service]
User=nobody
ExecStart=/usr/bin/python3 -c 'import os, signal, sys, time; open("/tmp/graceful.uid", "w").write(str(os.getuid())); signal.signal(signal.SIGTERM, lambda *a: (open("/tmp/graceful.out", "a").write("term\n"), sys.exit(0))); time.sleep(1000)'
UNIT
systemctl daemon-reload
systemctl enable --now envtest.service
systemctl start flaky stubborn graceful
echo "envtest: $(systemctl is-active envtest)"
echo "enabled: $(systemctl is-enabled envtest)"
systemctl start nosuch.service || echo "nosuch: refused with $?"
"""


def test_systemd_units_environment_restart_and_stop_with_sigterm_then_sigkill(cloud):
    [instance] = launch(cloud, UNITS)
    text = boot_finished(cloud, instance)
    root = cloud.instance_root(instance)
    assert "envtest: active" in text
    assert "enabled: enabled" in text
    assert "nosuch: refused with 5" in text
    assert wait_for("envtest's output", lambda: (root / "var/log/envtest.out").exists()
                    and (root / "var/log/envtest.out").read_text()) == "1|two words|three\n"
    wait_for("flaky to be restarted", lambda: (root / "var/log/flaky.out").exists()
             and (root / "var/log/flaky.out").read_text().count("start") >= 3)
    assert wait_for("graceful to start", lambda: (root / "tmp/graceful.uid").exists()
                    and (root / "tmp/graceful.uid").read_text()) == "65534"
    started = time.monotonic()
    terminate(cloud, instance)
    text = wait_for("the instance to power off", lambda: "powered off" in (t := console(cloud, instance)) and t, timeout=30)
    assert time.monotonic() - started < 10
    assert "stopping stubborn.service: SIGTERM, SIGKILL after 1s" in text
    assert (root / "var/log/stubborn.out").read_text().startswith("term")
    assert (root / "tmp/graceful.out").read_text() == "term\n"


APP = r"""#!/bin/bash
set -eu
mkdir -p /opt/app
token=$(curl -s -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 60')
curl -s -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/instance-id > /opt/app/id
touch /opt/app/healthy
cat > /opt/app/app.py <<'APP'
import http.server, json, os
ID = open("/opt/app/id").read().strip()
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/healthz":
            code = 200 if os.path.exists("/opt/app/healthy") else 503
            body = b"ok" if code == 200 else b"sick"
        else:
            code, body = 200, json.dumps({"instance": ID, "headers": dict(self.headers)}).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("", 8000), Handler).serve_forever()
APP
cat > /etc/systemd/system/app.service <<'UNIT'
[Service]
ExecStart=/usr/bin/python3 /opt/app/app.py
Restart=always
UNIT
systemctl daemon-reload
systemctl enable --now app
"""


def health(cloud, group_arn: str) -> dict:
    found = cloud.client("elbv2").describe_target_health(TargetGroupArn=group_arn)["TargetHealthDescriptions"]
    return {d["Target"]["Id"]: d["TargetHealth"] for d in found}


def balanced(cloud, health_path: str = "/healthz", deregistration_delay: int | None = None):
    """A target group on port 8000 (checks every 5 s, 2 to turn either way) behind a new
    internet-facing load balancer's HTTP listener on port 80: (target group ARN, balancer)."""
    ec2, elbv2 = cloud.client("ec2"), cloud.client("elbv2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
    group = elbv2.create_target_group(
        Name=uid("tg-"), Protocol="HTTP", Port=8000, VpcId=vpc, HealthCheckPath=health_path,
        HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2, UnhealthyThresholdCount=2,
    )["TargetGroups"][0]
    if deregistration_delay is not None:
        elbv2.modify_target_group_attributes(TargetGroupArn=group["TargetGroupArn"], Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": str(deregistration_delay)}])
    balancer = elbv2.create_load_balancer(Name=uid("lb-"), Subnets=subnets)["LoadBalancers"][0]
    elbv2.create_listener(
        LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}],
    )
    return group["TargetGroupArn"], balancer


def subnets_of(cloud, count: int = 2) -> list[str]:
    return [s["SubnetId"] for s in cloud.client("ec2").describe_subnets()["Subnets"]][:count]


def test_load_balancer_routes_round_robin_to_healthy_targets_reached_by_name(cloud):
    elbv2, route53 = cloud.client("elbv2"), cloud.client("route53")
    group_arn, balancer = balanced(cloud)
    zone_name = f"{uid('z')}.test"
    zone = route53.create_hosted_zone(Name=zone_name, CallerReference=uid("ref-"))["HostedZone"]
    route53.change_resource_record_sets(HostedZoneId=zone["Id"], ChangeBatch={"Changes": [{
        "Action": "CREATE",
        "ResourceRecordSet": {"Name": f"www.{zone_name}", "Type": "A", "AliasTarget": {
            "HostedZoneId": balancer["CanonicalHostedZoneId"], "DNSName": f"dualstack.{balancer['DNSName']}",
            "EvaluateTargetHealth": False}},
    }]})
    lb_url = f"http://{balancer['DNSName']}/"

    # Nothing registered yet: 503, as ELB answers.
    status, headers, body = get(cloud.proxy, lb_url)
    assert status == 503 and b"503 Service Temporarily Unavailable" in body and headers["Server"] == "awselb/2.0"

    instances = launch(cloud, APP, count=2)
    for instance in instances:
        boot_finished(cloud, instance)
    elbv2.register_targets(TargetGroupArn=group_arn, Targets=[{"Id": i} for i in instances])
    assert {h["State"] for h in health(cloud, group_arn).values()} == {"initial"}
    wait_for("both targets healthy", lambda: all(
        h["State"] == "healthy" for h in health(cloud, group_arn).values()), timeout=30)

    seen = []
    for url in [lb_url] * 6 + [f"http://www.{zone_name}/"] * 6:
        status, _, body = get(cloud.proxy, url)
        assert status == 200, body
        answer = json.loads(body)
        seen.append(answer["instance"])
        assert answer["headers"]["X-Forwarded-For"] == "127.0.0.1"
        assert answer["headers"]["X-Forwarded-Proto"] == "http"
        assert answer["headers"]["X-Forwarded-Port"] == "80"
        assert answer["headers"]["X-Amzn-Trace-Id"].startswith("Root=1-")
    assert set(seen[:6]) == set(instances) and set(seen[6:]) == set(instances)

    # One app stops passing its check: unhealthy within interval x threshold (+ one interval),
    # and no more requests reach it.
    sick, well = instances
    (cloud.instance_root(sick) / "opt/app/healthy").unlink()
    started = time.monotonic()
    wait_for("the sick target unhealthy", lambda: health(cloud, group_arn)[sick]["State"] == "unhealthy",
             timeout=20)
    assert time.monotonic() - started <= 5 * 2 + 5 + 1
    described = health(cloud, group_arn)[sick]
    assert described["Reason"] == "Target.ResponseCodeMismatch"
    assert "[503]" in described["Description"]
    assert {json.loads(get(cloud.proxy, lb_url)[2])["instance"] for _ in range(6)} == {well}

    (cloud.instance_root(sick) / "opt/app/healthy").touch()
    wait_for("the target healthy again", lambda: health(cloud, group_arn)[sick]["State"] == "healthy",
             timeout=20)
    assert {json.loads(get(cloud.proxy, lb_url)[2])["instance"] for _ in range(6)} == set(instances)

    status, _, body = get(cloud.proxy, "http://nothing.invalid/")
    assert status == 502 and b"nothing.invalid is not a name" in body
    terminate(cloud, *instances)


def test_stopping_leaves_nothing_running_or_mounted(tmp_path):
    cloud = LocalCloud(tmp_path)
    [instance] = launch(cloud, "#!/bin/bash\nsystemd-run --help >/dev/null 2>&1 || true\nsleep 1000 &\necho started\n")
    boot_finished(cloud, instance)
    state = cloud.state
    prefix = f"lc{cloud.pid}-"
    assert any(n.startswith(prefix) for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())
    cloud.stop()
    assert cloud.process.returncode == 0, cloud.log()
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert prefix not in names
    assert not state.exists()
    assert str(state) not in Path("/proc/mounts").read_text()
    leftovers = subprocess.run(["pgrep", "-f", str(state)], capture_output=True, text=True).stdout
    assert leftovers == ""


def test_a_killed_local_cloud_leaves_no_instance_running(tmp_path):
    cloud = LocalCloud(tmp_path / "first")
    [instance] = launch(cloud, "#!/bin/bash\nsleep 1000 &\necho started\n")
    boot_finished(cloud, instance)
    prefix = f"lc{cloud.pid}-"
    cloud.process.kill()
    cloud.process.wait()
    # Its instances power off by themselves: their lifeline to the cloud closed.
    wait_for("the orphaned sandbox to end", lambda: subprocess.run(
        ["pgrep", "-f", str(cloud.state)], capture_output=True).returncode == 1, timeout=20)
    # The next local cloud removes the dead one's namespaces.
    second = LocalCloud(tmp_path / "second")
    try:
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert prefix not in names
    finally:
        second.stop()


SLOW_APP = r"""#!/bin/bash
set -eu
mkdir -p /opt/app
cat > /opt/app/app.py <<'APP'
import http.server, os, signal, threading, time
EVENTS = "/var/log/app-events"
def note(text):
    with open(EVENTS, "a") as f:
        f.write(f"{time.time():.3f} {text}\n")
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/slow":
            note("slow started")
            time.sleep(3)
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.path == "/slow":
            note("slow answered")
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("", 8000), Handler)
server.daemon_threads = False
server.block_on_close = True
def stop(*_):
    note("sigterm")
    threading.Thread(target=server.shutdown).start()
signal.signal(signal.SIGTERM, stop)
server.serve_forever()
server.server_close()
note("exited")
APP
cat > /etc/systemd/system/app.service <<'UNIT'
[Service]
ExecStart=/usr/bin/python3 /opt/app/app.py
Restart=on-failure
TimeoutStopSec=20
UNIT
systemctl daemon-reload
systemctl enable --now app
"""


def test_scale_in_drains_the_target_then_stops_its_app_with_sigterm(cloud):
    import threading

    ec2, autoscaling = cloud.client("ec2"), cloud.client("autoscaling")
    subnets = subnets_of(cloud)
    group_arn, balancer = balanced(cloud, health_path="/", deregistration_delay=30)
    template = ec2.create_launch_template(
        LaunchTemplateName=uid("lt-"),
        LaunchTemplateData={"ImageId": IMAGE, "InstanceType": "t3.micro",
                            "UserData": base64.b64encode(SLOW_APP.encode()).decode()},
    )["LaunchTemplate"]
    name = uid("asg-")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=0, MaxSize=2, DesiredCapacity=2,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"]},
        VPCZoneIdentifier=",".join(subnets), TargetGroupARNs=[group_arn],
    )
    wait_for("both targets healthy", lambda: len(h := health(cloud, group_arn)) == 2
             and all(t["State"] == "healthy" for t in h.values()), timeout=40)
    members = {i["InstanceId"] for i in autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["Instances"]}

    url = f"http://{balancer['DNSName']}/slow"
    answers = []
    slow = [threading.Thread(target=lambda: answers.append(get(cloud.proxy, url, timeout=20)[0])) for _ in range(2)]
    for thread in slow:
        thread.start()
    wait_for("both slow requests in flight", lambda: sum(
        (cloud.instance_root(i) / "var/log/app-events").exists() for i in members) == 2, timeout=10, every=0.05)
    autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=1)
    for thread in slow:
        thread.join()
    assert answers == [200, 200]
    remaining = {i["InstanceId"] for i in autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["Instances"]}
    [gone] = members - remaining
    text = wait_for("the scaled-in instance to power off",
                    lambda: "powered off" in (t := console(cloud, gone)) and t, timeout=30)
    events = [line.split(" ", 1) for line in (cloud.instance_root(gone) / "var/log/app-events").read_text().splitlines()]
    order = [what for _, what in events]
    assert order == ["slow started", "slow answered", "sigterm", "exited"], order
    assert "stopping app.service: SIGTERM" in text
    autoscaling.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)


def redis(sock, *command: str) -> bytes:
    """One RESP command, its reply's first line."""
    sock.sendall(b"*%d\r\n" % len(command) + b"".join(b"$%d\r\n%s\r\n" % (len(c.encode()), c.encode()) for c in command))
    reply = b""
    while not reply.endswith(b"\r\n"):
        reply += sock.recv(4096)
    if reply.startswith(b"$") and not reply.startswith(b"$-1"):
        while reply.count(b"\r\n") < 2:
            reply += sock.recv(4096)
        return reply.split(b"\r\n")[1]
    return reply.strip()


def test_a_replication_group_is_a_real_redis_with_tls_and_auth_at_its_endpoints(cloud):
    import ssl

    elasticache = cloud.client("elasticache")
    token = "a-token-of-at-least-16-chars"
    group = elasticache.create_replication_group(
        ReplicationGroupId=uid("rg-"), ReplicationGroupDescription="local cloud test",
        Engine="redis", CacheNodeType="cache.t3.micro", NumCacheClusters=2,
        TransitEncryptionEnabled=True, AuthToken=token, AutomaticFailoverEnabled=True,
    )["ReplicationGroup"]
    node_group = elasticache.describe_replication_groups(
        ReplicationGroupId=group["ReplicationGroupId"])["ReplicationGroups"][0]["NodeGroups"][0]
    primary = node_group["PrimaryEndpoint"]["Address"]
    reader = node_group["ReaderEndpoint"]["Address"]
    context = ssl.create_default_context(cafile=cloud.ready["ca_bundle"])

    def session(name: str):
        raw = wait_for(f"{name} to answer", lambda: _try_connect(cloud.proxy, name, 6379), timeout=30)
        return context.wrap_socket(raw, server_hostname=name)

    with session(primary) as conn:
        assert redis(conn, "PING").startswith(b"-NOAUTH")
        assert redis(conn, "AUTH", "wrong-token-0123456789") .startswith(b"-WRONGPASS")
        assert redis(conn, "AUTH", token) == b"+OK"
        assert redis(conn, "SET", "greeting", "hello") == b"+OK"
        assert redis(conn, "ROLE").startswith(b"*")
    with session(reader) as conn:
        assert redis(conn, "AUTH", token) == b"+OK"
        wait_for("the replica to have the key", lambda: redis(conn, "GET", "greeting") == b"hello", timeout=15)
        assert redis(conn, "SET", "x", "y").startswith(b"-READONLY")

    # Inside the VPC the endpoint resolves too: an instance reaches it as an app would.
    [instance] = launch(cloud, f"""#!/bin/bash
echo "ping: $(redis-cli --tls --cacert /etc/pki/ca-trust/source/anchors/localcloud.pem -h {primary} -p 6379 --no-auth-warning -a {token} PING)"
""")
    assert "ping: PONG" in boot_finished(cloud, instance)
    terminate(cloud, instance)

    elasticache.delete_replication_group(ReplicationGroupId=group["ReplicationGroupId"])
    wait_for("the endpoint to go", lambda: _try_connect(cloud.proxy, primary, 6379) is None, timeout=20)


def _try_connect(proxy: str, host: str, port: int):
    from support import connect_through

    try:
        return connect_through(proxy, host, port)
    except (ConnectionError, OSError):
        return None


def test_a_postgres_db_instance_is_a_real_postgresql_with_its_managed_secret_and_tls(cloud):
    from support import Tunnel

    rds, secrets = cloud.client("rds"), cloud.client("secretsmanager")
    instance = rds.create_db_instance(
        DBInstanceIdentifier=uid("db-"), Engine="postgres", EngineVersion="16.4", DBInstanceClass="db.t4g.micro",
        AllocatedStorage=20, MasterUsername="modu", ManageMasterUserPassword=True, DBName="resumes",
        StorageEncrypted=True,
    )["DBInstance"]
    secret = json.loads(secrets.get_secret_value(SecretId=instance["MasterUserSecret"]["SecretArn"])["SecretString"])
    assert secret["username"] == "modu" and secret["password"] != "P@55w0rd!" and len(secret["password"]) >= 16
    address = rds.describe_db_instances(DBInstanceIdentifier=instance["DBInstanceIdentifier"])["DBInstances"][0]["Endpoint"]["Address"]
    wait_for("the database to listen", lambda: _try_connect(cloud.proxy, address, 5432), timeout=60)
    tunnel = Tunnel(cloud.proxy, address, 5432)
    try:
        def psql(sslmode: str, sql: str, password: str = secret["password"]):
            return subprocess.run(
                ["psql", f"host={address} hostaddr=127.0.0.1 port={tunnel.port} dbname=resumes user=modu "
                         f"sslmode={sslmode} sslrootcert={cloud.ready['ca_bundle']}", "-tAc", sql],
                capture_output=True, text=True, env={**os.environ, "PGPASSWORD": password}, timeout=30,
            )

        done = psql("verify-full", "select current_user || ' ' || current_database() || ' ' || (select ssl from pg_stat_ssl where pid = pg_backend_pid())")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "modu resumes true"
        plain = psql("disable", "select 1")
        assert plain.returncode != 0 and "no encryption" in plain.stderr, plain.stderr
        wrong = psql("require", "select 1", password="not-the-password")
        assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr
    finally:
        tunnel.close()
    rds.delete_db_instance(DBInstanceIdentifier=instance["DBInstanceIdentifier"], SkipFinalSnapshot=True)
    wait_for("the database to stop", lambda: _try_connect(cloud.proxy, address, 5432) is None, timeout=30)


def versioned_app(version: str, healthy: bool = True) -> str:
    """APP, answering with its version too; with healthy=False its health check fails."""
    script = APP.replace('touch /opt/app/healthy\n', f'echo {version} > /opt/app/version\n' + ('touch /opt/app/healthy\n' if healthy else ''))
    return script.replace('json.dumps({"instance": ID, ', 'json.dumps({"version": open("/opt/app/version").read().strip(), "instance": ID, ')


def refresh_stack(cloud):
    """An Auto Scaling group of 2 behind a load balancer, launch template version 1."""
    ec2, autoscaling = cloud.client("ec2"), cloud.client("autoscaling")
    subnets = subnets_of(cloud)
    group_arn, balancer = balanced(cloud, deregistration_delay=5)
    template = ec2.create_launch_template(LaunchTemplateName=uid("lt-"), LaunchTemplateData={
        "ImageId": IMAGE, "UserData": base64.b64encode(versioned_app("v1").encode()).decode()})["LaunchTemplate"]
    name = uid("asg-")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=2, MaxSize=4, DesiredCapacity=2,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "1"},
        VPCZoneIdentifier=",".join(subnets), TargetGroupARNs=[group_arn],
        # A short grace period: a broken release's instances count as failed soon after it.
        HealthCheckType="ELB", HealthCheckGracePeriod=10,
    )
    wait_for("both targets healthy", lambda: len(h := health(cloud, group_arn)) == 2
             and all(t["State"] == "healthy" for t in h.values()), timeout=40)
    return name, template["LaunchTemplateId"], group_arn, f"http://{balancer['DNSName']}/"


class Stream:
    """A steady stream of requests through the proxy, every status kept."""

    def __init__(self, cloud, url: str):
        import threading

        self.statuses, self.versions = [], []
        self.stopping = threading.Event()

        def run():
            while not self.stopping.is_set():
                status, _, body = get(cloud.proxy, url, timeout=10)
                self.statuses.append(status)
                if status == 200:
                    self.versions.append(json.loads(body)["version"])
                time.sleep(0.05)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.thread.join()


def refreshes(cloud, name):
    return cloud.client("autoscaling").describe_instance_refreshes(AutoScalingGroupName=name)["InstanceRefreshes"]


def members(cloud, name):
    groups = cloud.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    return {i["InstanceId"] for i in groups[0]["Instances"]}


def test_an_instance_refresh_replaces_every_instance_without_a_failed_request(cloud):
    ec2, autoscaling = cloud.client("ec2"), cloud.client("autoscaling")
    name, template, _, url = refresh_stack(cloud)
    before = members(cloud, name)
    ec2.create_launch_template_version(LaunchTemplateId=template, SourceVersion="1", LaunchTemplateData={
        "UserData": base64.b64encode(versioned_app("v2").encode()).decode()})
    stream = Stream(cloud, url)
    refresh_id = autoscaling.start_instance_refresh(
        AutoScalingGroupName=name,
        DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": template, "Version": "2"}},
        Preferences={"MinHealthyPercentage": 100, "MaxHealthyPercentage": 200, "InstanceWarmup": 1},
    )["InstanceRefreshId"]
    with pytest.raises(Exception, match="InstanceRefreshInProgress"):
        autoscaling.start_instance_refresh(AutoScalingGroupName=name)
    done = wait_for("the refresh to succeed", lambda: (r := refreshes(cloud, name)[0])["Status"] in (
        "Successful", "Failed", "Cancelled") and r, timeout=120)
    time.sleep(1)
    stream.stop()
    assert done["InstanceRefreshId"] == refresh_id and done["Status"] == "Successful", done
    assert done["PercentageComplete"] == 100
    after = members(cloud, name)
    assert len(after) == 2 and not after & before
    assert stream.statuses and set(stream.statuses) == {200}, sorted(set(stream.statuses))
    assert stream.versions[0] == "v1" and stream.versions[-1] == "v2"
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    assert group["LaunchTemplate"]["Version"] == "2"
    autoscaling.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)


def test_a_refresh_whose_instances_fail_their_health_check_rolls_back(cloud):
    ec2, autoscaling = cloud.client("ec2"), cloud.client("autoscaling")
    name, template, _, url = refresh_stack(cloud)
    before = members(cloud, name)
    ec2.create_launch_template_version(LaunchTemplateId=template, SourceVersion="1", LaunchTemplateData={
        "UserData": base64.b64encode(versioned_app("broken", healthy=False).encode()).decode()})
    stream = Stream(cloud, url)
    autoscaling.start_instance_refresh(
        AutoScalingGroupName=name,
        DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": template, "Version": "2"}},
        Preferences={"MinHealthyPercentage": 100, "MaxHealthyPercentage": 200, "AutoRollback": True},
    )
    done = wait_for("the rollback to end", lambda: (r := refreshes(cloud, name)[0])["Status"] in (
        "RollbackSuccessful", "RollbackFailed", "Successful", "Failed") and r, timeout=120)
    stream.stop()
    assert done["Status"] == "RollbackSuccessful", done
    assert "failed its health checks" in done["StatusReason"]
    assert set(stream.statuses) == {200} and set(stream.versions) == {"v1"}
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    assert group["LaunchTemplate"]["Version"] == "1"
    # The old instances were never touched: only the broken ones came and went.
    assert members(cloud, name) == before
    autoscaling.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)


BURNER = r"""#!/bin/bash
set -eu
cat > /etc/systemd/system/burn.service <<'UNIT'
[Service]
ExecStart=/bin/bash -c 'while true; do if [ -e /opt/burn ]; then for i in $(seq 20000); do :; done; else sleep 0.2; fi; done'
UNIT
systemctl daemon-reload
systemctl start burn
"""


def test_target_tracking_scales_out_on_real_cpu_and_back_in(tmp_path):
    # CloudWatch's minute and the policy's warm-up, at 2 % of their real length.
    cloud = LocalCloud(tmp_path, "--time-scale", "0.02")
    try:
        ec2, autoscaling, cloudwatch = cloud.client("ec2"), cloud.client("autoscaling"), cloud.client("cloudwatch")
        subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
        template = ec2.create_launch_template(LaunchTemplateName=uid("lt-"), LaunchTemplateData={
            "ImageId": IMAGE, "UserData": base64.b64encode(BURNER.encode()).decode()})["LaunchTemplate"]
        name = uid("asg-")
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name, MinSize=1, MaxSize=3, DesiredCapacity=1,
            LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"]}, VPCZoneIdentifier=",".join(subnets),
        )
        autoscaling.put_scaling_policy(
            AutoScalingGroupName=name, PolicyName="cpu", PolicyType="TargetTrackingScaling",
            TargetTrackingConfiguration={"PredefinedMetricSpecification": {
                "PredefinedMetricType": "ASGAverageCPUUtilization"}, "TargetValue": 40.0},
        )
        [first] = members(cloud, name)
        boot_finished(cloud, first)
        (cloud.instance_root(first) / "opt/burn").touch()
        wait_for("a scale-out", lambda: len(members(cloud, name)) >= 2, timeout=60)
        high = [a for a in cloudwatch.describe_alarms()["MetricAlarms"] if "-AlarmHigh-" in a["AlarmName"]]
        assert [a["StateValue"] for a in high] == ["ALARM"]
        datapoints = cloudwatch.get_metric_statistics(
            Namespace="AWS/EC2", MetricName="CPUUtilization", Dimensions=[{"Name": "InstanceId", "Value": first}],
            StartTime=datetime.now(timezone.utc) - timedelta(minutes=10), EndTime=datetime.now(timezone.utc),
            Period=60, Statistics=["Maximum"],
        )["Datapoints"]
        assert max(d["Maximum"] for d in datapoints) > 40
        (cloud.instance_root(first) / "opt/burn").unlink()
        wait_for("a scale-in back to the minimum", lambda: len(members(cloud, name)) == 1, timeout=90)
        assert "target tracking cpu" in cloud.log()
    finally:
        cloud.stop()


def test_realistic_latency_holds_each_resource_in_its_transitional_state_for_its_time(tmp_path):
    from localcloud.latency import SECONDS

    # 0.03: the shortest window (an instance's boot) is 0.9 s, which the three calls before
    # the first look fit in on a loaded machine (at 0.01 it was 0.3 s, and sometimes not).
    scale = 0.03
    cloud = LocalCloud(tmp_path, "--latency", "realistic", "--time-scale", str(scale))
    try:
        ec2, elbv2, elasticache = cloud.client("ec2"), cloud.client("elbv2"), cloud.client("elasticache")
        subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
        started = time.monotonic()
        balancer = elbv2.create_load_balancer(Name=uid("lb-"), Subnets=subnets)["LoadBalancers"][0]
        [instance] = launch(cloud, "#!/bin/bash\necho booted\n")
        group_id = uid("rg-")
        elasticache.create_replication_group(ReplicationGroupId=group_id, ReplicationGroupDescription="latency",
                                             CacheNodeType="cache.t3.micro", NumCacheClusters=1)

        def lb_state():
            return elbv2.describe_load_balancers(LoadBalancerArns=[balancer["LoadBalancerArn"]])[
                "LoadBalancers"][0]["State"]["Code"]

        def instance_state():
            return ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["State"]["Name"]

        def group_status():
            found = elasticache.describe_replication_groups()["ReplicationGroups"]
            return next((g["Status"] for g in found if g["ReplicationGroupId"] == group_id), None)

        assert (lb_state(), instance_state(), group_status()) == ("provisioning", "pending", "creating")
        wait_for("the instance to run", lambda: instance_state() == "running", timeout=20, every=0.05)
        assert time.monotonic() - started >= SECONDS["instance_boot"] * scale
        boot_finished(cloud, instance)
        wait_for("the load balancer to be active", lambda: lb_state() == "active", timeout=30, every=0.1)
        assert time.monotonic() - started >= SECONDS["load_balancer"] * scale
        wait_for("the group to be available", lambda: group_status() == "available", timeout=60, every=0.1)
        assert time.monotonic() - started >= SECONDS["cache_create"] * scale
        deleting = time.monotonic()
        elasticache.delete_replication_group(ReplicationGroupId=group_id)
        assert group_status() == "deleting"
        wait_for("the group to be gone", lambda: group_status() is None, timeout=40, every=0.1)
        assert time.monotonic() - deleting >= SECONDS["cache_delete"] * scale
    finally:
        cloud.stop()
