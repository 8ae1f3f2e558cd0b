"""The fault-injecting proxy (scripts/faults.py): each fault in the shape botocore (like
the other SDKs) classifies as AWS's, lost replies that leave the change made, the same
faults for the same seed, and everything else passed through unchanged."""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.exceptions
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker, TransientRetryableChecker
from support import FaultProxy, error_code, uid

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})
STANDARD_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 3})

# One read-only call per wire protocol modu's services speak (and SQS: JSON that asks for
# Query error codes, x-amzn-query-mode), with what AWS answers when it throttles it.
CALLS = {
    "ec2": ("ec2", "describe_vpcs", "RequestLimitExceeded", 503),
    "query": ("elbv2", "describe_load_balancers", "Throttling", 400),
    "json": ("ssm", "describe_parameters", "ThrottlingException", 400),
    "json-query-compatible": ("sqs", "list_queues", "Throttling", 400),
    # CloudWatch, once Query, asks for Query codes too.
    "cbor": ("cloudwatch", "list_metrics", "Throttling", 400),
    "rest-xml": ("route53", "list_hosted_zones", "Throttling", 400),
    "s3": ("s3", "list_buckets", "SlowDown", 503),
}


@pytest.fixture
def proxy(emulator, tmp_path):
    """A fault proxy in front of the session's emulator, with extra flags:
    `proxy("--throttle", "1")`."""
    started = []

    def start(*flags: str, upstream: str | None = None) -> FaultProxy:
        running = FaultProxy(upstream or emulator.url, tmp_path / f"faults-{len(started)}.log", *flags)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def failed_call(client, operation: str, **params):
    """Calls `operation`, which must fail, and returns botocore's view of the failure:
    the retry context its retry handler would judge, and the exception."""
    seen = {}

    def capture(response=None, caught_exception=None, **_):
        http_response, parsed = response if response else (None, None)
        seen["context"] = RetryContext(
            attempt_number=1, parsed_response=parsed, http_response=http_response, caught_exception=caught_exception
        )

    client.meta.events.register("needs-retry", capture)
    with pytest.raises((ClientError, botocore.exceptions.BotoCoreError)) as excinfo:
        getattr(client, operation)(**params)
    return seen["context"], excinfo.value


@pytest.mark.parametrize("protocol", CALLS)
def test_a_throttle_is_the_services_own_throttling_error(proxy, protocol):
    service, operation, code, status = CALLS[protocol]
    context, error = failed_call(proxy("--throttle", "1").client(service, NO_RETRIES), operation)
    assert isinstance(error, ClientError)
    assert (context.get_error_code(), context.http_response.status_code) == (code, status)
    assert ThrottledRetryableChecker().is_retryable(context), f"botocore does not see {code} as throttling"


@pytest.mark.parametrize("protocol", CALLS)
def test_an_error_is_a_500_or_503_botocore_retries_as_transient(proxy, protocol):
    service, operation, _, _ = CALLS[protocol]
    running = proxy("--error", "1")
    client = running.client(service, NO_RETRIES)
    answered = set()
    # The n-th call of an operation draws its own status: a few calls see both.
    for _ in range(20):
        context, error = failed_call(client, operation)
        assert isinstance(error, ClientError)
        answered.add((context.http_response.status_code, context.get_error_code()))
        assert TransientRetryableChecker().is_retryable(context)
        assert not ThrottledRetryableChecker().is_retryable(context)
    assert {status for status, _ in answered} == {500, 503}
    assert all(code for _, code in answered), answered


def test_a_reset_is_a_connection_error_botocore_retries(proxy):
    context, error = failed_call(proxy("--reset", "1").client("sts", NO_RETRIES), "get_caller_identity")
    assert isinstance(error, (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)), error
    assert TransientRetryableChecker().is_retryable(context)


def security_group_exists(emulator, name: str) -> bool:
    found = emulator.client("ec2").describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])
    return len(found["SecurityGroups"]) == 1


@pytest.mark.parametrize("answer", ["500", "reset"])
def test_a_lost_reply_makes_the_change_and_hides_it(emulator, proxy, answer):
    ec2 = proxy("--lost-reply", "1", "--lost-reply-as", answer).client("ec2", NO_RETRIES)
    name = uid("lost-")
    context, error = failed_call(ec2, "create_security_group", GroupName=name, Description="lost reply")
    if answer == "500":
        assert (context.http_response.status_code, context.get_error_code()) == (500, "InternalError")
    else:
        assert isinstance(error, botocore.exceptions.HTTPClientError), error
    assert security_group_exists(emulator, name), "the emulator never got the call"


def test_a_retried_lost_create_meets_its_own_change(emulator, proxy):
    """Issue 12's failure: the SDK retries a create whose reply was lost, and the retry is
    refused as a duplicate of what the first attempt made."""
    running = proxy()
    # A seed whose first CreateSecurityGroup loses its reply and whose second does not
    # (decisions are a pure function of the seed, the call and its count).
    from faults import Injector, Settings

    def faults_of(seed):
        injector = Injector(Settings(seed=seed, lost_reply=0.5))
        return [injector.decide("ec2", "CreateSecurityGroup", True).fault for _ in range(2)]

    seed = next(s for s in range(100) if faults_of(s) == ["lost_reply", None])
    running.control("config", {"seed": seed, "lost_reply": 0.5})
    name = uid("dup-")
    with pytest.raises(ClientError) as excinfo:
        running.client("ec2", STANDARD_RETRIES).create_security_group(GroupName=name, Description="retried")
    assert error_code(excinfo) == "InvalidGroup.Duplicate"
    assert security_group_exists(emulator, name)
    assert [(f["operation"], f["fault"]) for f in running.faults()] == [("CreateSecurityGroup", "lost-reply")]


def test_hold_after_makes_the_first_change_and_never_answers_it(emulator, proxy):
    running = proxy("--hold-after", "CreateSecurityGroup")
    ec2 = running.client("ec2", NO_RETRIES.merge(Config(read_timeout=2)))
    held, answered = uid("held-"), uid("answered-")
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        ec2.create_security_group(GroupName=held, Description="held")
    assert security_group_exists(emulator, held), "the held call was not forwarded"
    # Only the first call of the operation is held.
    ec2.create_security_group(GroupName=answered, Description="answered")
    assert running.control("stats")["faults"]["held"] == 1
    assert [(f["operation"], f["fault"]) for f in running.faults()] == [("CreateSecurityGroup", "held")]


def test_lose_reply_of_loses_the_first_reply_of_each_named_change(emulator, proxy):
    running = proxy("--lose-reply-of", "CreateSecurityGroup,DescribeVpcs")
    ec2 = running.client("ec2", NO_RETRIES)
    lost, answered = uid("lost-"), uid("answered-")
    context, _ = failed_call(ec2, "create_security_group", GroupName=lost, Description="lost")
    assert (context.http_response.status_code, context.get_error_code()) == (500, "InternalError")
    assert security_group_exists(emulator, lost), "the call was not forwarded"
    # Only the first call of a change; a read-only call named is left alone.
    ec2.create_security_group(GroupName=answered, Description="answered")
    ec2.describe_vpcs()
    assert running.control("stats")["faults"]["lost_reply"] == 1
    assert [(f["operation"], f["fault"]) for f in running.faults()] == [("CreateSecurityGroup", "lost-reply")]


def test_lost_replies_and_only_mutating_leave_reads_alone(proxy):
    running = proxy("--lost-reply", "0.5", "--throttle", "0.5", "--only-mutating")
    ec2 = running.client("ec2", NO_RETRIES)
    for _ in range(10):
        ec2.describe_vpcs()
    assert running.faults() == []
    assert running.control("stats") == {
        "requests": 10, "faults": {"throttle": 0, "error": 0, "reset": 0, "lost_reply": 0, "latency": 0, "held": 0}
    }


def test_skip_first_lets_setup_through(proxy):
    running = proxy("--throttle", "1", "--skip-first", "2")
    sts = running.client("sts", NO_RETRIES)
    sts.get_caller_identity()
    sts.get_caller_identity()
    with pytest.raises(ClientError) as excinfo:
        sts.get_caller_identity()
    assert error_code(excinfo) == "Throttling"


def outcomes(running: FaultProxy) -> list[str]:
    """What a fixed sequence of calls meets: ok, an error code, or a dropped connection."""
    clients = {service: running.client(service, NO_RETRIES) for service in ("sts", "ec2", "ssm")}
    calls = [("sts", "get_caller_identity"), ("ec2", "describe_vpcs"), ("ssm", "describe_parameters")] * 10
    seen = []
    for service, operation in calls:
        try:
            getattr(clients[service], operation)()
            seen.append("ok")
        except ClientError as err:
            seen.append(err.response["Error"]["Code"])
        except botocore.exceptions.HTTPClientError:
            seen.append("connection")
    return seen


def test_the_same_seed_meets_the_same_faults(proxy):
    rates = ("--throttle", "0.3", "--error", "0.2", "--reset", "0.1")
    first, second = proxy("--seed", "7", *rates), proxy("--seed", "7", *rates)
    met = outcomes(first)
    assert outcomes(second) == met
    assert len(set(met)) >= 4, met  # ok, a throttle, a 5xx and a reset, at least
    logged = [[(f["service"], f["operation"], f["fault"]) for f in p.faults()] for p in (first, second)]
    assert logged[0] == logged[1] and len(logged[0]) == sum(m != "ok" for m in met)
    # A new configuration starts counting afresh: the same seed, the same faults again.
    first.control("config", {"seed": 7})
    assert outcomes(first) == met
    first.control("config", {"seed": 8})
    assert outcomes(first) != met


def test_latency_delays_and_is_logged(proxy):
    import time

    running = proxy("--latency-ms", "300")
    started = time.monotonic()
    running.client("sts", NO_RETRIES).get_caller_identity()
    assert time.monotonic() - started >= 0.3
    assert [(f["fault"], f["ms"]) for f in running.faults()] == [("latency", 300)]


def test_a_bad_configuration_is_refused(proxy):
    running = proxy()
    for settings in ({"throttle": 2}, {"throttle": 0.6, "error": 0.6}, {"nope": 1}):
        with pytest.raises(Exception) as excinfo:
            running.control("config", settings)
        assert getattr(excinfo.value, "code", None) == 400, settings
    assert running.control("config")["throttle"] == 0.0


def test_at_rate_zero_answers_are_the_emulators(emulator, proxy):
    running = proxy()
    bucket, name = uid("faults-"), uid("sg-")
    s3 = running.client("s3", NO_RETRIES)
    s3.create_bucket(Bucket=bucket)
    payload = bytes(range(256)) * 40_000  # 10 MB, every byte value
    s3.put_object(Bucket=bucket, Key="big", Body=payload)
    direct = emulator.client("s3").get_object(Bucket=bucket, Key="big")
    proxied = s3.get_object(Bucket=bucket, Key="big")
    assert direct["Body"].read() == proxied["Body"].read() == payload
    assert direct["ETag"] == proxied["ETag"]
    group = running.client("ec2", NO_RETRIES).create_security_group(GroupName=name, Description="passed")["GroupId"]
    for client in (emulator.client("ec2"), running.client("ec2", NO_RETRIES)):
        [found] = client.describe_security_groups(GroupIds=[group])["SecurityGroups"]
        assert found["GroupName"] == name
    assert running.faults() == []


class Echo(BaseHTTPRequestHandler):
    """An upstream that answers with exactly what it received."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def echo(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        seen = (self.requestline + "\n" + "".join(f"{k}: {v}\n" for k, v in self.headers.items())).encode() + body
        self.send_response_only(207, "Echoed")
        self.send_header("X-Odd", "kept")
        self.send_header("Content-Length", str(len(seen)))
        self.end_headers()
        self.wfile.write(seen)

    do_GET = do_POST = do_PUT = echo


def test_requests_and_answers_pass_byte_for_byte(proxy):
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    try:
        running = proxy(upstream=f"http://127.0.0.1:{upstream.server_port}")
        port = int(running.url.rsplit(":", 1)[1])
        connection = http.client.HTTPConnection("127.0.0.1", port)
        body = b"Action=DescribeVpcs&Version=2016-11-15&X=%2F%20%00"
        headers = {
            "Host": "ec2.us-east-1.amazonaws.com",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/ec2/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=abc",
            "X-Amz-Date": "20250101T000000Z",
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        }
        connection.request("POST", "/a%2Fb/?x=1&y=%20", body=body, headers=headers)
        answer = connection.getresponse()
        echoed = answer.read()
        assert (answer.status, answer.reason, answer.getheader("X-Odd")) == (207, "Echoed", "kept")
        assert echoed.startswith(b"POST /a%2Fb/?x=1&y=%20 HTTP/1.1\n")
        for name, value in headers.items():
            assert f"{name}: {value}\n".encode() in echoed
        assert echoed.endswith(b"\n" + body)
        # The same connection serves a second request (keep-alive).
        connection.request("GET", "/again", headers={"Host": "example"})
        assert connection.getresponse().read().startswith(b"GET /again HTTP/1.1\n")
    finally:
        upstream.shutdown()
