"""Starts the local cloud in the foreground; SIGINT or SIGTERM stops it, children included.

    scripts/local-cloud.sh --ready-file FILE [--latency none|realistic] [--time-scale F]
                           [--log FILE] [--state-dir DIR]

When everything listens it writes FILE (JSON):

    {"endpoint_url": "http://127.0.0.1:P",   the AWS APIs, for --endpoint-url
     "http_proxy": "http://127.0.0.1:Q",     the stack's public names (proxy.py)
     "ca_bundle": "/…/ca.pem",               the CA of the cloud's HTTPS names (ca.py)
     "ca_spki_sha256": "…",                  its key's hash, for Chromium's
                                              --ignore-certificate-errors-spki-list
     "state_dir": "/…", "pid": N}

Layout: cloud.py reads moto's state for the data planes; hooks.py makes moto answer from
them; netns.py is the network, sandbox.py and compute.py the instances (guest/ runs inside
them), imds.py their metadata, health.py and alb.py the load balancers, proxy.py the way in.
Needs root (network namespaces), iproute2, util-linux's nsenter and bubblewrap.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent
TICK = 0.25  # seconds between two looks at the control plane


def say(text: str) -> None:
    print(f"local cloud: {text}", file=sys.stderr, flush=True)


STATE_PREFIX = "modu-local-cloud-"


def remove_stale_state() -> None:
    """Removes the temporary state folders of local clouds that were killed."""
    for folder in Path(tempfile.gettempdir()).glob(STATE_PREFIX + "*"):
        try:
            pid = int((folder / "pid").read_text())
        except (OSError, ValueError):
            continue
        if not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)


def preflight() -> None:
    if os.geteuid() != 0:
        sys.exit("local cloud: needs root (it creates network namespaces for its instances)")
    for tool, package in (("ip", "iproute2"), ("nsenter", "util-linux"), ("bwrap", "bubblewrap")):
        if shutil.which(tool) is None:
            sys.exit(f"local cloud: `{tool}` is missing: apt-get install -y {package}")


class Locked:
    """WSGI middleware: one API request at a time, under the lock the data planes take to
    read moto's state (moto's models are not thread-safe)."""

    def __init__(self, app, lock):
        self.app = app
        self.lock = lock

    def __call__(self, environ, start_response):
        with self.lock:
            return list(self.app(environ, start_response))


async def relay(sock, port: int) -> asyncio.AbstractServer:
    """Instances reach the AWS endpoint at 169.254.169.253:P: bytes relayed to the API server
    on the host's loopback."""

    async def pump(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def connection(reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    return await asyncio.start_server(connection, sock=sock)


def main() -> None:
    parser = argparse.ArgumentParser(description="the local cloud: AWS APIs plus real data planes")
    parser.add_argument("--ready-file", required=True, help="written as JSON once everything listens")
    parser.add_argument("--latency", choices=("none", "realistic"), default="none")
    parser.add_argument(
        "--time-scale", type=float, default=1.0,
        help="multiplies realistic durations (latency.py), CloudWatch's period and scaling warm-ups",
    )
    parser.add_argument("--log", help="append one JSON line per API request to this file")
    parser.add_argument("--state-dir", help="where instances' files live (default: a new temporary folder)")
    parser.add_argument("--page-size", type=int, default=None, help="as scripts/emulator.py --page-size")
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="stop (cleanly) when stdin closes: a test harness passes a pipe, so the cloud ends with it",
    )
    args = parser.parse_args()
    preflight()

    sys.path.insert(0, str(SCRIPTS))
    import emulator
    import emulator_pin
    import moto_patches

    from . import hooks
    from .alb import LoadBalancers
    from .ca import Authority, Certificates
    from .cdn import Distributions
    from .cloud import Control, Snapshot
    from .compute import Compute
    from .scaling import Scaling
    from .dns import serve as serve_dns
    from .stores import Stores
    from .health import Board, HealthChecker
    from .imds import Metadata
    from .netns import ENDPOINT_ADDRESS, IMDS_ADDRESS, Network, listener_in, socket_in
    from .proxy import Proxy, Resolver

    emulator_pin.require()
    moto_patches.apply(page_size=args.page_size)
    if args.latency == "realistic":
        from . import latency

        latency.install(args.time_scale)
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    started = time.monotonic()
    remove_stale_state()
    state = Path(args.state_dir or tempfile.mkdtemp(prefix=STATE_PREFIX))
    own_state = args.state_dir is None
    state.mkdir(parents=True, exist_ok=True)
    (state / "pid").write_text(f"{os.getpid()}\n")
    authority = Authority(state)

    control = Control()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = emulator.Controls(
        emulator.RequestLog(Locked(DomainDispatcherApplication(create_backend_app), control.lock), args.log),
        control.lock,
    )
    api = make_server("127.0.0.1", 0, app, threaded=True)
    api_port = api.server_port
    os.environ["MOTO_PORT"] = str(api_port)
    threading.Thread(target=api.serve_forever, name="api", daemon=True).start()

    network = Network()
    latest = {"snapshot": Snapshot()}
    board = Board()
    compute = Compute(state, network, board, api_port, authority.bundle, say)
    hooks.install(board, compute.console_of)

    def snapshot() -> Snapshot:
        return latest["snapshot"]

    def refresh() -> Snapshot:
        latest["snapshot"] = control.snapshot()
        return latest["snapshot"]

    def router_socket():
        return socket_in(network.router)

    loop = asyncio.new_event_loop()
    checker = HealthChecker(board, snapshot, router_socket, say)
    balancers = LoadBalancers(board, snapshot, router_socket, say)
    metadata = Metadata(snapshot, control, say)
    stores = Stores(network, state, authority, say)
    scaling = Scaling(control, compute, args.time_scale, say)
    resolver = Resolver(snapshot, refresh, stores)
    distributions = Distributions(control, resolver, balancers, say)
    proxy = Proxy(resolver, balancers, distributions, Certificates(authority), router_socket, say)
    servers = []

    async def start_data_planes() -> int:
        servers.append(await metadata.serve(listener_in(network.router, IMDS_ADDRESS, 80)))
        servers.append(await relay(listener_in(network.router, ENDPOINT_ADDRESS, api_port), api_port))
        dns_socket = socket_in(network.router, kind=socket.SOCK_DGRAM)
        dns_socket.bind((ENDPOINT_ADDRESS, 53))
        servers.append(serve_dns(dns_socket, stores, snapshot))
        front = await proxy.serve("127.0.0.1", 0)
        servers.append(front)
        return front.sockets[0].getsockname()[1]

    async def watch() -> None:
        said = None
        while True:
            try:
                await loop.run_in_executor(None, control.advance)
                latest["snapshot"] = await loop.run_in_executor(None, control.snapshot)
                compute.reconcile(latest["snapshot"])
                checker.reconcile(latest["snapshot"])
                stores.reconcile(latest["snapshot"])
                await loop.run_in_executor(None, scaling.sample)
            except Exception:  # a bug of the local cloud: said once, and the next look tries again
                problem = traceback.format_exc()
                if problem != said:
                    say("reading the control plane failed: " + problem)
                    said = problem
            await asyncio.sleep(TICK)

    proxy_port = loop.run_until_complete(start_data_planes())
    loop.create_task(watch())

    ready = {
        "endpoint_url": f"http://127.0.0.1:{api_port}",
        "http_proxy": f"http://127.0.0.1:{proxy_port}",
        "ca_bundle": str(authority.bundle),
        "ca_spki_sha256": authority.spki_sha256,
        "state_dir": str(state),
        "pid": os.getpid(),
        "latency": args.latency,
        "time_scale": args.time_scale,
    }
    ready_file = Path(args.ready_file)
    partial = ready_file.with_name(ready_file.name + ".partial")
    partial.write_text(json.dumps(ready, indent=2) + "\n")
    partial.rename(ready_file)
    say(f"ready in {time.monotonic() - started:.2f}s: API {ready['endpoint_url']}, proxy {ready['http_proxy']}")

    stop = asyncio.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    if args.exit_on_stdin_eof:

        def wait_for_eof() -> None:
            sys.stdin.buffer.read()
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=wait_for_eof, name="stdin", daemon=True).start()
    try:
        loop.run_until_complete(stop.wait())
    finally:
        say("stopping")
        compute.close()
        stores.close()
        for server in servers:
            server.close()
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
        network.close()
        api.shutdown()
        try:
            ready_file.unlink()
        except FileNotFoundError:
            pass
        if own_state:
            shutil.rmtree(state, ignore_errors=True)
        say("stopped")
