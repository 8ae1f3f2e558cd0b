"""The local cloud's front door: an HTTP proxy on the host that reaches a stack by its
public names.

    curl -x $http_proxy http://modu-lb-1.us-east-1.elb.amazonaws.com/
    curl -x $http_proxy http://awstest.example.com/        (a Route 53 record aliased to it)

A name is looked up as the internet would: a Route 53 record in a public hosted zone (alias,
CNAME) leads to a resource's name; a load balancer's DNS name leads to its listener on the
requested port. Plain HTTP arrives in absolute form; `CONNECT name:port` opens a tunnel to
the same place (the bytes inside are then served as that listener serves them). A name
that is no resource of the cloud answers 502 and says so: nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import ssl
import traceback
from urllib.parse import urlsplit

from . import http1
from .netns import open_from

MAX_ALIAS_HOPS = 8


class Resolver:
    def __init__(self, snapshot, refresh, stores=None):
        self.snapshot = snapshot  # () -> the latest Snapshot
        self.refresh = refresh  # () -> a Snapshot taken now
        self.stores = stores  # the data stores' endpoints (stores.py)

    def resolve(self, host: str):
        """('load_balancer', LoadBalancer) or ('distribution', Distribution) for a name of
        the cloud, or None. A name the
        latest snapshot does not know is looked up once more in a fresh one, so a resource
        is reachable as soon as its create call has answered."""
        if self.stores is not None and (endpoint := self.stores.resolve(host)):
            return "endpoint", endpoint
        return self._resolve(host, self.snapshot()) or self._resolve(host, self.refresh())

    def _resolve(self, host: str, snap):
        """What a name leads to, following Route 53 aliases and CNAMEs as DNS would."""
        name = host.rstrip(".").lower()
        for _ in range(MAX_ALIAS_HOPS):
            bare = name[len("dualstack."):] if name.startswith("dualstack.") else name
            if bare in snap.load_balancers:
                return "load_balancer", snap.load_balancers[bare]
            if name in snap.distributions:
                return "distribution", snap.distributions[name]
            record = snap.records.get((name, "A")) or snap.records.get((name, "AAAA"))
            if record and record.alias:
                name = record.alias
                continue
            record = snap.records.get((name, "CNAME"))
            if record and record.values:
                name = record.values[0].rstrip(".").lower()
                continue
            return None
        return None


def no_such_name(host: str) -> http1.Response:
    return http1.text_response(
        502,
        f"local cloud: {host} is not a name of any resource in this cloud (a load balancer, or a "
        "Route 53 record in a public hosted zone leading to one); the proxy reaches nothing else\n",
    )


class Proxy:
    def __init__(self, resolver: Resolver, load_balancers, distributions, certificates, router_socket, log):
        self.resolver = resolver
        self.router_socket = router_socket
        self.load_balancers = load_balancers
        self.distributions = distributions
        self.certificates = certificates  # ca.Certificates: the TLS contexts AWS would present
        self.log = log

    async def serve(self, host: str, port: int) -> asyncio.AbstractServer:
        return await asyncio.start_server(self.connection, host, port, limit=2**20)

    async def connection(self, reader, writer) -> None:
        viewer = writer.get_extra_info("peername")[0]
        tunnel: tuple[str, int] | None = None
        scheme = "http"
        try:
            while True:
                request = await http1.read_request(reader)
                if request is None:
                    break
                if request.method == "CONNECT" and tunnel is None:
                    host, _, port = request.target.rpartition(":")
                    host = host.strip("[]")
                    if not port.isdigit():
                        writer.write(http1.encode_response(http1.text_response(400, "CONNECT needs host:port\n"), False))
                        break
                    found = self.resolver.resolve(host)
                    if found is None:
                        writer.write(http1.encode_response(no_such_name(host), False))
                        break
                    if found[0] == "endpoint":
                        await self.tunnel(reader, writer, host, int(port), found[1])
                        return
                    writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                    await writer.drain()
                    tunnel = (host, int(port))
                    if found[0] == "distribution" and int(port) == 443:
                        # CloudFront's viewers speak TLS: terminated here with a certificate
                        # from the local cloud's CA, for the name CloudFront would cover.
                        await writer.start_tls(self.certificates.for_viewer(host, found[1]))
                        scheme = "https"
                    elif found[0] == "load_balancer":
                        listener = next((l for l in found[1].listeners if l.port == int(port)), None)
                        if listener is not None and listener.protocol == "HTTPS":
                            await writer.start_tls(self.certificates.for_listener(listener))
                            scheme = "https"
                    continue
                if tunnel:
                    host, port = tunnel
                    path = request.target
                else:
                    url = urlsplit(request.target)
                    if url.scheme != "http" or not url.hostname:
                        response = http1.text_response(
                            400, "local cloud: this is a proxy: send absolute http:// URLs, or CONNECT\n"
                        )
                        writer.write(http1.encode_response(response, False))
                        break
                    host, port = url.hostname, url.port or 80
                    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
                response = await self.dispatch(request, host, port, path, viewer, scheme)
                keep = request.keep_alive
                writer.write(http1.encode_response(response, keep, head_only=request.method == "HEAD"))
                await writer.drain()
                if not keep:
                    break
        except (http1.ProtocolError, ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        except Exception:  # a bug of the local cloud: said, and the viewer gets an answer
            self.log("proxy: " + traceback.format_exc())
            writer.write(http1.encode_response(http1.text_response(500, "local cloud: internal error\n"), False))
        finally:
            writer.close()

    async def tunnel(self, reader, writer, host: str, port: int, endpoint: tuple[str, int]) -> None:
        """CONNECT to a private endpoint (a cache's, a database's): bytes both ways to the
        server inside the VPC, as an instance would reach it."""
        address, served = endpoint
        if port != served:
            writer.write(http1.encode_response(
                http1.text_response(502, f"local cloud: {host} answers on port {served}, not {port}\n"), False))
            return
        try:
            up_reader, up_writer = await open_from(self.router_socket, address, port)
        except OSError as err:
            writer.write(http1.encode_response(http1.text_response(502, f"local cloud: {host}: {err}\n"), False))
            return
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        await writer.drain()

        async def pump(source, sink):
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    async def dispatch(self, request, host: str, port: int, path: str, viewer: str, scheme: str) -> http1.Response:
        found = self.resolver.resolve(host)
        if found is None:
            return no_such_name(host)
        kind, resource = found
        if kind == "endpoint":
            return http1.text_response(400, f"local cloud: {host} is a private endpoint: reach it with CONNECT\n")
        if kind == "distribution":
            if port not in (80, 443):
                return http1.text_response(502, f"local cloud: CloudFront answers on ports 80 and 443, not {port}\n")
            # The Host a viewer sends is the name it asked for (an alias, or the domain).
            viewer_host = (request.headers.get("Host") or host).split(":")[0]
            return await self.distributions.handle(resource, request, viewer, path, scheme, viewer_host)
        listener = next((l for l in resource.listeners if l.port == port), None)
        if listener is None or listener.protocol.lower() != scheme:
            return http1.text_response(
                502, f"local cloud: load balancer {resource.name} has no {scheme.upper()} listener on port {port}\n"
            )
        return await self.load_balancers.handle(resource, listener, request, viewer, path)
