#!/usr/bin/env python3
"""Fault-injecting proxy: a reverse HTTP proxy in front of the emulator that makes it
fail the way AWS does, reproducibly, so tests can show modu converges anyway.

    python3 scripts/faults.py --upstream http://127.0.0.1:PORT [--port 0] [--seed N]
        [--throttle RATE] [--error RATE] [--reset RATE] [--lost-reply RATE]
        [--lost-reply-as 500|reset] [--latency-ms MS] [--latency-rate RATE]
        [--only-mutating] [--skip-first N] [--hold-after OP[,OP...]]
        [--lose-reply-of OP[,OP...]] [--log FILE]
        [--exit-on-stdin-eof]

Binds 127.0.0.1 only; with --port 0 a free port is picked, and once listening it prints
`ready http://127.0.0.1:PORT` on stdout, like the emulator. Point a client's endpoint at
it instead of the emulator's.

Per request, one of these faults may be injected (each RATE is a probability, 0 to 1;
together at most 1):
  throttle    the service's own throttling error (EC2 RequestLimitExceeded, Query and
              REST-XML Throttling, JSON ThrottlingException, S3 SlowDown), not forwarded
  error       500 InternalError or 503 ServiceUnavailable in the service's shape, not forwarded
  reset       the connection closed without an answer, not forwarded
  lost-reply  mutating calls only: forwarded (the change happens), then answered with a
              500 (or a reset, --lost-reply-as reset) instead of the real reply
and, independently, --latency-ms of delay (on a --latency-rate share of requests).
--hold-after names operations whose first call is forwarded (the change happens) and then
never answered until the client hangs up: the client is caught right after that change,
where a test can kill it (`held` in the stats counts them).
--lose-reply-of names operations whose first call meets a lost reply, whatever the rates:
every change a run makes can be shown to survive its reply being lost, in one run.
--only-mutating keeps throttle, error, reset and latency to mutating calls too;
--skip-first N lets the first N requests through untouched (a test's setup).

Reproducible: the decision for a request depends only on the seed, its call (service and
operation) and how many of that call came before it, never on timing, so the same calls
in the same order meet the same faults. Concurrent calls of one operation may swap their
decisions between them; the set of faults stays the same.

With --log, every injected fault is appended to FILE as one JSON line:
    {"ts": "...Z", "service": "ec2", "operation": "CreateSecurityGroup", "fault": "lost-reply"}
(a latency line also has "ms"), written before the client gets its answer.

Controls (not forwarded): `GET /_faults/stats` counts requests and injected faults;
`GET /_faults/config` shows the settings and `POST /_faults/config` with a JSON object of
settings (`{"throttle": 0.1, "lost_reply": 0.08}`, the option names with `_`) changes them
and starts counting afresh, as if the proxy had just started with them — so one emulator
can serve a whole test, faults on only where the test wants them.

Everything not faulted passes through unchanged: the request's target, headers (Host and
Authorization included, so signatures still verify) and body; the answer's status, headers
and body (bodies are buffered, not streamed).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import struct
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from aws_calls import environ_of, is_mutating, operation_of, service_of

FAULTS = ("throttle", "error", "reset", "lost_reply")


@dataclass
class Settings:
    seed: int = 0
    throttle: float = 0.0
    error: float = 0.0
    reset: float = 0.0
    lost_reply: float = 0.0
    lost_reply_as: str = "500"
    latency_ms: int = 0
    latency_rate: float = 1.0
    only_mutating: bool = False
    skip_first: int = 0
    hold_after: list[str] = field(default_factory=list)
    lose_reply_of: list[str] = field(default_factory=list)

    def check(self) -> None:
        for name in (*FAULTS, "latency_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability, from 0 to 1: {getattr(self, name)}")
        if sum(getattr(self, name) for name in FAULTS) > 1.0:
            raise ValueError("throttle + error + reset + lost_reply is more than 1")
        if self.lost_reply_as not in ("500", "reset"):
            raise ValueError(f"lost_reply_as is 500 or reset: {self.lost_reply_as!r}")
        if self.latency_ms < 0 or self.skip_first < 0:
            raise ValueError("latency_ms and skip_first are not negative")
        for name in ("hold_after", "lose_reply_of"):
            operations = getattr(self, name)
            if not isinstance(operations, list) or not all(isinstance(op, str) for op in operations):
                raise ValueError(f"{name} is a list of operation names: {operations!r}")

    def updated(self, changes: dict) -> Settings:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(unknown)}")
        if "lost_reply_as" in changes:  # JSON may say 500, the option says "500"
            changes = {**changes, "lost_reply_as": str(changes["lost_reply_as"])}
        settings = Settings(**{**asdict(self), **changes})
        settings.check()
        return settings


@dataclass
class Decision:
    fault: str | None  # one of FAULTS
    status: int = 500  # for `error`: 500 or 503
    latency_ms: int = 0
    hold: bool = False  # forward, then never answer


class Injector:
    """Decides each request's fault and keeps the counts."""

    def __init__(self, settings: Settings):
        self.lock = threading.Lock()
        self.configure(settings)

    def configure(self, settings: Settings) -> None:
        with self.lock:
            self.settings = settings
            self.requests = 0
            self.seen: dict[tuple[str, str], int] = {}
            self.injected = {name: 0 for name in (*FAULTS, "latency", "held")}

    def decide(self, service: str, operation: str, mutating: bool) -> Decision:
        with self.lock:
            settings = self.settings
            self.requests += 1
            skipped = self.requests <= settings.skip_first
            nth = self.seen[(service, operation)] = self.seen.get((service, operation), 0) + 1
        if skipped:
            return Decision(None)
        if nth == 1 and operation in settings.hold_after:
            with self.lock:
                self.injected["held"] += 1
            return Decision(None, hold=True)
        if nth == 1 and mutating and operation in settings.lose_reply_of:
            with self.lock:
                self.injected["lost_reply"] += 1
            return Decision("lost_reply")
        # A string seed is hashed with SHA-512 by `random`, the same in every process
        # (unlike hash()), so a decision is a pure function of these four.
        rng = random.Random(f"{settings.seed}/{service}/{operation}/{nth}")
        # Every draw is made whatever the outcome, so one setting never shifts another's dice.
        draw, status_draw, latency_draw = rng.random(), rng.random(), rng.random()
        eligible = mutating or not settings.only_mutating
        fault, floor = None, 0.0
        for name in FAULTS:
            rate = getattr(settings, name)
            if floor <= draw < floor + rate:
                fault = name
            floor += rate
        if (fault == "lost_reply" and not mutating) or (fault != "lost_reply" and not eligible):
            fault = None
        delay = settings.latency_ms if eligible and latency_draw < settings.latency_rate else 0
        with self.lock:
            if fault:
                self.injected[fault] += 1
            if delay:
                self.injected["latency"] += 1
        return Decision(fault, 503 if status_draw < 0.5 else 500, delay)

    def stats(self) -> dict:
        with self.lock:
            return {"requests": self.requests, "faults": dict(self.injected)}


# --------------------------------------------------------------------------
# Error answers in each protocol's shape
# --------------------------------------------------------------------------

# (code, HTTP status) of throttling, an internal error and unavailability, per wire
# protocol, as AWS documents them (EC2's error codes, the common errors of Query and
# JSON services, S3's error responses). Each throttling code is one botocore (and the
# other SDKs) retries as throttling.
CODES = {
    "ec2": {"throttle": ("RequestLimitExceeded", 503), 500: ("InternalError", 500), 503: ("Unavailable", 503)},
    "query": {"throttle": ("Throttling", 400), 500: ("InternalFailure", 500), 503: ("ServiceUnavailable", 503)},
    "json": {"throttle": ("ThrottlingException", 400), 500: ("InternalFailure", 500), 503: ("ServiceUnavailable", 503)},
    "rest-xml": {"throttle": ("Throttling", 400), 500: ("InternalFailure", 500), 503: ("ServiceUnavailable", 503)},
    "rest-json": {"throttle": ("ThrottlingException", 429), 500: ("InternalFailure", 500), 503: ("ServiceUnavailable", 503)},
    "s3": {"throttle": ("SlowDown", 503), 500: ("InternalError", 500), 503: ("ServiceUnavailable", 503)},
}
CODES["cbor"] = CODES["json"]
MESSAGES = {"throttle": "Rate exceeded", 500: "We encountered an internal error. Please try again.",
            503: "Service is unavailable. Please try again."}


def protocol_of(service: str, headers, target: str) -> str:
    """The wire protocol a request speaks, which its error answer must speak too."""
    content_type = headers.get("Content-Type", "")
    if service == "s3":
        return "s3"
    if headers.get("Smithy-Protocol") == "rpc-v2-cbor" or content_type.startswith("application/cbor"):
        return "cbor"
    if content_type.startswith("application/x-amz-json"):
        return "json"
    if "x-www-form-urlencoded" in content_type or "Action=" in target:
        return "ec2" if service == "ec2" else "query"
    import botocore.session
    from botocore.exceptions import UnknownServiceError

    try:
        model = botocore.session.get_session().get_service_model(service)
    except UnknownServiceError:
        return "rest-xml"
    return "rest-json" if model.protocol == "rest-json" else "rest-xml"


def cbor_text_map(items: dict[str, str]) -> bytes:
    """A CBOR map of short text strings (RFC 8949: major type 5 map, 3 text), all an
    RPC v2 CBOR error body needs."""

    def head(major: int, length: int) -> bytes:
        if length < 24:
            return bytes([major << 5 | length])
        if length < 256:
            return bytes([major << 5 | 24, length])
        return bytes([major << 5 | 25]) + struct.pack(">H", length)

    out = head(5, len(items))
    for key, value in items.items():
        for text in (key.encode(), value.encode()):
            out += head(3, len(text)) + text
    return out


def error_answer(kind, protocol: str, headers, method: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) of a `kind` error ("throttle", 500 or 503) in `protocol`."""
    code, status = CODES[protocol][kind]
    message = MESSAGES[kind]
    request_id = str(uuid.uuid4())
    party = "Sender" if status < 500 else "Receiver"
    answer_headers = [("x-amzn-RequestId", request_id)]
    if protocol == "ec2":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
                f"<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>")
        content_type = "text/xml;charset=UTF-8"
    elif protocol in ("query", "rest-xml"):
        body = (f"<ErrorResponse><Error><Type>{party}</Type><Code>{code}</Code><Message>{message}</Message>"
                f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
        content_type = "text/xml"
    elif protocol == "s3":
        answer_headers = [("x-amz-request-id", request_id), ("x-amz-id-2", request_id)]
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
                f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>")
        content_type = "application/xml"
    elif protocol == "rest-json":
        answer_headers.append(("X-Amzn-ErrorType", code))
        body, content_type = json.dumps({"message": message}), "application/json"
    else:  # json, cbor
        # Services that moved from Query to JSON/CBOR ask, with this header, for the
        # Query error code (awsQueryCompatible), which they answer in x-amzn-query-error.
        if headers.get("x-amzn-query-mode") == "true":
            query_code = CODES["query"][kind][0]
            answer_headers.append(("x-amzn-query-error", f"{query_code};{party}"))
        if protocol == "cbor":
            answer_headers.append(("Smithy-Protocol", "rpc-v2-cbor"))
            body, content_type = cbor_text_map({"__type": code, "message": message}), "application/cbor"
        else:
            body = json.dumps({"__type": code, "message": message})
            content_type = headers.get("Content-Type") or "application/x-amz-json-1.1"
    data = body if isinstance(body, bytes) else body.encode()
    if method == "HEAD":  # a HEAD answer has no body; S3's says only its status
        data = b""
    return status, [*answer_headers, ("Content-Type", content_type), ("Content-Length", str(len(data)))], data


# --------------------------------------------------------------------------
# The proxy
# --------------------------------------------------------------------------

# Per hop, not per message: this proxy answers with its own framing.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


class FaultLog:
    def __init__(self, path: str | None):
        self.path = path
        self.lock = threading.Lock()
        if path:
            open(path, "a").close()

    def write(self, service: str, operation: str, fault: str, **extra) -> None:
        if not self.path:
            return
        entry = {
            "ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "service": service, "operation": operation, "fault": fault.replace("_", "-"), **extra,
        }
        with self.lock, open(self.path, "a") as log:
            log.write(json.dumps(entry) + "\n")


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as SDK clients expect
    upstream: tuple[str, int]
    injector: Injector
    faults: FaultLog

    def log_message(self, format, *args):  # the fault log says what matters
        pass

    def handle_any(self) -> None:
        body = self.read_body()
        if self.path.startswith("/_faults/"):
            return self.control(body)
        environ = environ_of(self.command, self.path, self.headers)
        service = service_of(environ)
        operation = operation_of(environ, service, body)
        decision = self.injector.decide(service, operation, is_mutating(self.command, operation))

        if decision.latency_ms:
            self.faults.write(service, operation, "latency", ms=decision.latency_ms)
            time.sleep(decision.latency_ms / 1000)
        if decision.fault:
            self.faults.write(service, operation, decision.fault)
        if decision.fault == "reset":
            return self.reset()
        protocol = protocol_of(service, self.headers, self.path)
        if decision.fault == "throttle":
            return self.answer(*error_answer("throttle", protocol, self.headers, self.command))
        if decision.fault == "error":
            return self.answer(*error_answer(decision.status, protocol, self.headers, self.command))

        try:
            status, reason, headers, answer = self.forward(body)
        except OSError as err:  # the emulator is down or hung up: say so, as a gateway does
            data = f"upstream {self.upstream[0]}:{self.upstream[1]}: {err}".encode()
            return self.answer(502, [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))], data)
        if decision.hold:
            self.faults.write(service, operation, "held")
            return self.hold()
        if decision.fault == "lost_reply":
            # The upstream has made the change; the client never learns it.
            if self.injector.settings.lost_reply_as == "reset":
                return self.reset()
            return self.answer(*error_answer(500, protocol, self.headers, self.command))
        self.answer(status, headers, answer, reason)

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        host, port = self.upstream
        connection = http.client.HTTPConnection(host, port, timeout=300)
        try:
            # The client's own Host and headers, in order: the SigV4 signature covers them.
            connection.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            chunked = False
            for name, value in self.headers.items():
                if name.lower() == "transfer-encoding":
                    chunked = True  # re-sent as one chunk: same body, same headers
                if name.lower() not in ("connection", "keep-alive", "proxy-connection"):
                    connection.putheader(name, value)
            connection.endheaders()
            if chunked:
                connection.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n")
            elif body:
                connection.send(body)
            response = connection.getresponse()
            answer = response.read()
            headers = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
            if self.command != "HEAD" and not any(k.lower() == "content-length" for k, _ in headers):
                headers.append(("Content-Length", str(len(answer))))
            return response.status, response.reason, headers, answer
        finally:
            connection.close()

    def answer(self, status: int, headers, body: bytes, reason: str | None = None) -> None:
        # send_response_only: no Server or Date of this proxy's added to the upstream's.
        self.send_response_only(status, reason)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def hold(self) -> None:
        """Answers nothing until the client hangs up (or ten minutes pass)."""
        self.connection.settimeout(600)
        try:
            while self.connection.recv(4096):
                pass
        except OSError:
            pass
        self.close_connection = True

    def reset(self) -> None:
        # Linger 0: close() sends a RST, not a FIN, as a dropped connection does.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def control(self, body: bytes) -> None:
        status = 200
        if self.path == "/_faults/stats":
            answer = self.injector.stats()
        elif self.path == "/_faults/config" and self.command == "POST":
            try:
                self.injector.configure(self.injector.settings.updated(json.loads(body or b"{}")))
                answer = asdict(self.injector.settings)
            except (ValueError, TypeError) as err:
                status, answer = 400, {"error": str(err)}
        elif self.path == "/_faults/config":
            answer = asdict(self.injector.settings)
        else:
            status, answer = 404, {"error": f"no control {self.path}"}
        data = json.dumps(answer).encode()
        self.answer(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))], data)


for _method in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
    setattr(Proxy, f"do_{_method}", Proxy.handle_any)


def rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability (0 to 1)")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="the emulator's URL, e.g. http://127.0.0.1:5000")
    parser.add_argument("--port", type=int, default=0, help="0 (the default) picks a free port")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--throttle", type=rate, default=0.0, metavar="RATE")
    parser.add_argument("--error", type=rate, default=0.0, metavar="RATE", help="500 or 503, half each")
    parser.add_argument("--reset", type=rate, default=0.0, metavar="RATE")
    parser.add_argument("--lost-reply", type=rate, default=0.0, metavar="RATE", help="mutating calls only")
    parser.add_argument("--lost-reply-as", choices=("500", "reset"), default="500")
    parser.add_argument("--latency-ms", type=int, default=0, metavar="MS")
    parser.add_argument("--latency-rate", type=rate, default=1.0, metavar="RATE")
    parser.add_argument("--only-mutating", action="store_true", help="no faults nor latency on read-only calls")
    parser.add_argument("--skip-first", type=int, default=0, metavar="N", help="let the first N requests through")
    parser.add_argument("--hold-after", type=lambda text: [op for op in text.split(",") if op], default=[],
                        metavar="OP[,OP...]", help="forward these calls' first time, then never answer")
    parser.add_argument("--lose-reply-of", type=lambda text: [op for op in text.split(",") if op], default=[],
                        metavar="OP[,OP...]", help="forward these calls' first time, then lose the reply")
    parser.add_argument("--log", help="append one JSON line per injected fault to this file")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="stop when stdin closes (a test harness's pipe)")
    args = parser.parse_args()

    settings = Settings(**{f.name: getattr(args, f.name) for f in fields(Settings)})
    try:
        settings.check()
    except ValueError as err:
        parser.error(str(err))
    upstream = urlsplit(args.upstream)
    Proxy.upstream = (upstream.hostname, upstream.port or 80)
    Proxy.injector = Injector(settings)
    Proxy.faults = FaultLog(args.log)

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Proxy)
    server.daemon_threads = True
    if args.exit_on_stdin_eof:
        threading.Thread(target=lambda: (sys.stdin.buffer.read(), os._exit(0)), daemon=True).start()
    print(f"ready http://127.0.0.1:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
