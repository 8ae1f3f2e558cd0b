#!/usr/bin/env python3
"""Local AWS emulator for modu's tests and demo: moto, a request log, and a few
corrections where moto differs from documented AWS behaviour.

    python3 scripts/emulator.py [--port 0] [--log FILE] [--exit-on-stdin-eof] [--page-size N]

Binds 127.0.0.1 only. With --port 0 a free port is picked. Once the socket is
listening it prints one line, `ready http://127.0.0.1:PORT`, on stdout.

With --log, every request is appended to FILE as one JSON object per line:
    {"ts": "...Z", "service": "ec2", "method": "POST", "path": "/",
     "operation": "CreateSecurityGroup", "mutating": true, "status": 200}
The line is written before the response is sent, so a client that has its
answer can read its call in the log. `operation` is the API's name for the call and
`mutating` whether it changes anything, both read from the request by aws_calls.py
(beside this file), which the fault-injecting proxy (faults.py) shares.

The corrections (scripts/moto_patches/, one module per service) restore what AWS
documents; modu's own code never knows it is talking to an emulator. They are written
against one moto version, pinned in scripts/requirements-emulator.txt: the emulator
refuses to start on another one and says how to install the pinned one.

--page-size N (default: $MODU_EMULATOR_PAGE_SIZE, else no limit) answers at most N items
per page of the lists the emulator pages (Route 53 ListHostedZones, CloudFront
ListDistributions), whatever MaxItems asks, so a test can walk a client's pagination
with a handful of resources.

`POST /_emulator/publish-image?region=R` does what AWS does when it releases an Amazon
Linux 2023 image: a new AMI becomes the public parameter's value (see `Controls`).
`POST /_emulator/confirm-subscriptions?topic=ARN` does what the recipients of AWS's
confirmation emails do: the topic's pending subscriptions are confirmed.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
import threading
from datetime import datetime, timezone
from urllib.parse import parse_qs

from aws_calls import is_mutating, operation_of, service_of


# --------------------------------------------------------------------------
# Request log
# --------------------------------------------------------------------------


class RequestLog:
    """WSGI middleware: logs each request (see the module doc), then hands the
    request, body intact, to moto."""

    def __init__(self, app, path: str | None):
        self.app = app
        self.path = path
        self.lock = threading.Lock()
        if path:
            open(path, "a").close()

    def __call__(self, environ, start_response):
        if not self.path:
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > 0:
            body = environ["wsgi.input"].read(length)
        elif environ.get("wsgi.input_terminated"):  # chunked upload, no length
            body = environ["wsgi.input"].read()
        else:
            body = b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))

        service = service_of(environ)
        method = environ.get("REQUEST_METHOD", "GET")
        operation = operation_of(environ, service, body)
        status = {}

        def capture(status_line, headers, exc_info=None):
            status["code"] = int(status_line.split(" ", 1)[0])
            return start_response(status_line, headers, exc_info)

        # moto answers with a materialized body; take it now so the log line
        # is on disk before the client sees the response.
        try:
            response = list(self.app(environ, capture))
        except Exception:
            status["code"] = 500
            raise
        finally:
            self.write(environ, service, method, operation, status.get("code"))
        return response

    def write(self, environ, service, method, operation, status) -> None:
        entry = {
            "ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "service": service,
            "method": method,
            "path": environ.get("PATH_INFO", "/"),
            "operation": operation,
            "mutating": is_mutating(method, operation),
            "status": status,
        }
        with self.lock, open(self.path, "a") as log:
            log.write(json.dumps(entry) + "\n")


# --------------------------------------------------------------------------
# Test controls: what AWS does by itself, done on request
# --------------------------------------------------------------------------

AL2023_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


def publish_image(region: str, parameter: str = AL2023_PARAMETER) -> dict:
    """Publishes a new AMI as AWS does when it releases an image: a copy of the one the
    public parameter names, made its new value (a new parameter version)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends
    from moto.ssm.models import Parameter, ssm_backends

    ssm = ssm_backends[DEFAULT_ACCOUNT_ID][region]
    current = ssm.get_parameter(parameter)
    if current is None:
        raise KeyError(parameter)
    ec2 = ec2_backends[DEFAULT_ACCOUNT_ID][region]
    source = ec2.describe_images(ami_ids=[current.value])[0]
    stamp = datetime.now(timezone.utc)
    image = ec2.copy_image(current.value, region, f"{source.name}-{stamp:%Y%m%d%H%M%S}", source.description)
    image.owner_id, image.owner_alias = source.owner_id, source.owner_alias
    if {"Group": "all"} not in image.launch_permissions:
        image.launch_permissions.append({"Group": "all"})
    ssm._parameters[parameter].append(
        Parameter(
            account_id=DEFAULT_ACCOUNT_ID, name=parameter, value=image.id, parameter_type=current.parameter_type,
            description=current.description, allowed_pattern=None, keyid=None,
            last_modified_date=stamp.replace(tzinfo=None), version=current.version + 1,
            data_type=current.data_type, tier=current.tier,
        )
    )
    return {"parameter": parameter, "image_id": image.id, "version": current.version + 1}


class Controls:
    """WSGI middleware: `POST /_emulator/publish-image?region=R` runs `publish_image` and
    `POST /_emulator/confirm-subscriptions?topic=ARN` confirms the topic's pending
    subscriptions, each answering JSON; every other request goes on to `app` (these are not
    AWS calls, so they are not in the request log)."""

    def __init__(self, app, lock=None):
        self.app = app
        self.lock = lock or threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO")
        if path not in ("/_emulator/publish-image", "/_emulator/confirm-subscriptions"):
            return self.app(environ, start_response)
        query = parse_qs(environ.get("QUERY_STRING", ""))
        with self.lock:
            if path == "/_emulator/confirm-subscriptions":
                from moto_patches import sns

                topic = (query.get("topic") or [""])[0]
                answer, status = {"confirmed": sns.confirm_all(topic)}, "200 OK"
            else:
                region = (query.get("region") or ["us-east-1"])[0]
                try:
                    answer, status = publish_image(region), "200 OK"
                except (KeyError, IndexError) as err:
                    answer, status = {"error": f"nothing to publish from: {err}"}, "404 Not Found"
        body = json.dumps(answer).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


# --------------------------------------------------------------------------


PAGE_SIZE_VARIABLE = "MODU_EMULATOR_PAGE_SIZE"


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def exit_on_stdin_eof() -> None:
    sys.stdin.buffer.read()
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=5000, help="0 picks a free port")
    parser.add_argument("--log", help="append one JSON line per request to this file")
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="stop when stdin closes (a test harness passes a pipe, so the server dies with it)",
    )
    parser.add_argument(
        "--page-size",
        type=positive,
        default=os.environ.get(PAGE_SIZE_VARIABLE) or None,
        metavar="N",
        help=f"at most N items per page of the paged lists (default: ${PAGE_SIZE_VARIABLE}, else no limit)",
    )
    args = parser.parse_args()

    # Both beside this file (the script's folder is on sys.path).
    import emulator_pin
    import moto_patches

    emulator_pin.require()
    moto_patches.apply(page_size=args.page_size)

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    # The request log replaces werkzeug's access lines on stderr.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = Controls(RequestLog(DomainDispatcherApplication(create_backend_app), args.log))
    server = make_server("127.0.0.1", args.port, app, threaded=True)
    port = server.server_port
    # moto builds some URLs (queue URLs, presigned links) from MOTO_PORT.
    os.environ["MOTO_PORT"] = str(port)
    if args.exit_on_stdin_eof:
        threading.Thread(target=exit_on_stdin_eof, daemon=True).start()
    print(f"ready http://127.0.0.1:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
