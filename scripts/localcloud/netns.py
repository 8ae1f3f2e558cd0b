"""The local cloud's network: one namespace per VPC router, one per instance.

    VPC namespace ("<cloud>-vpc")              instance namespace ("<cloud>-<n>")
      br0: 169.254.169.254 (IMDS)                 eth0: 172.31.5.7/20 (the instance's private IP)
           169.254.169.253 (AWS endpoints)        default via 172.31.0.1
           172.31.0.1/20, 172.31.16.1/20, ...
      i<n> --- veth ----------------------------- eth0

The router holds the first address of every subnet an instance was started in, as a VPC's
router does, and the link-local addresses where an instance finds its metadata and the AWS
endpoints. The local cloud's own process never enters a namespace: it creates sockets in
them (`socket_in`), so the data planes run in one process on the host while their traffic
stays inside the cloud's namespaces. Namespaces carry the local cloud's process id in their
names, so a cloud that died without cleaning up is recognised and removed by the next one.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import re
import socket
import subprocess
import threading

IMDS_ADDRESS = "169.254.169.254"
ENDPOINT_ADDRESS = "169.254.169.253"
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"
_libc = ctypes.CDLL(None, use_errno=True)


# A locally administered unicast address (the 0x02 bit), fixed for the VPC router.
BRIDGE_MAC = "02:6c:63:00:00:01"


class NetworkError(RuntimeError):
    pass


def ip(*args: str, namespace: str | None = None) -> str:
    command = ["ip", *(["-n", namespace] if namespace else []), *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise NetworkError(f"`{' '.join(command)}` failed: {done.stderr.strip()}")
    return done.stdout


def socket_in(namespace: str, family=socket.AF_INET, kind=socket.SOCK_STREAM) -> socket.socket:
    """A socket that belongs to `namespace`: created by a short-lived thread that entered it
    (a namespace is a property of the thread in Linux, and sockets keep the one they were
    created in)."""
    result: dict = {}

    def enter() -> None:
        try:
            fd = os.open(f"{NETNS_DIR}/{namespace}", os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {namespace}")
            finally:
                os.close(fd)
            result["socket"] = socket.socket(family, kind)
        except BaseException as err:  # handed to the caller's thread
            result["error"] = err

    thread = threading.Thread(target=enter, name=f"netns-{namespace}")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["socket"]


async def open_from(make_socket, address: str, port: int, timeout: float | None = None, limit: int = 2**16):
    """asyncio streams to address:port over a socket from `make_socket()` (one in a
    namespace); the socket is closed when the connection fails or times out."""
    import asyncio

    sock = make_socket()
    sock.setblocking(False)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (address, port)), timeout)
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock, limit=limit)


def listener_in(namespace: str, address: str, port: int) -> socket.socket:
    sock = socket_in(namespace)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(512)
    sock.setblocking(False)
    return sock


def remove_stale(prefix: str = "lc") -> None:
    """Deletes the namespaces of local clouds whose process is gone."""
    pattern = re.compile(rf"^{prefix}(\d+)-")
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return
    for name in names:
        match = pattern.match(name)
        if match and not os.path.exists(f"/proc/{match.group(1)}"):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


class Network:
    """The namespaces of one local cloud."""

    def __init__(self) -> None:
        remove_stale()
        self.prefix = f"lc{os.getpid()}"
        self.router = f"{self.prefix}-vpc"
        self.lock = threading.Lock()
        self.subnets: set[str] = set()
        self.instances: dict[str, str] = {}  # instance id -> namespace
        self.next_index = 0
        ip("netns", "add", self.router)
        ip("link", "set", "lo", "up", namespace=self.router)
        ip("link", "add", "br0", "type", "bridge", namespace=self.router)
        # A bridge takes the lowest MAC of its ports unless it has one of its own: each
        # instance booting or shutting down would move the gateways' and the stores'
        # addresses to another MAC, and every other instance's ARP entry for them would
        # blackhole its traffic for seconds (seen as Redis and PostgreSQL timeouts).
        ip("link", "set", "br0", "address", BRIDGE_MAC, namespace=self.router)
        ip("link", "set", "br0", "up", namespace=self.router)
        for address in (IMDS_ADDRESS, ENDPOINT_ADDRESS):
            ip("addr", "add", f"{address}/32", "dev", "br0", namespace=self.router)
        subprocess.run(
            ["ip", "netns", "exec", self.router, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
            check=True,
            capture_output=True,
        )

    def gateway(self, cidr: str) -> str:
        """The router's address in a subnet (its first host address, as in a VPC); added on
        first use."""
        network = ipaddress.ip_network(cidr, strict=False)
        gateway = str(network.network_address + 1)
        with self.lock:
            if cidr not in self.subnets:
                ip("addr", "add", f"{gateway}/{network.prefixlen}", "dev", "br0", namespace=self.router)
                self.subnets.add(cidr)
        return gateway

    def attach(self, instance_id: str, private_ip: str, cidr: str) -> str:
        """A namespace for one instance, its private IP on eth0; returns its name."""
        gateway = self.gateway(cidr)
        with self.lock:
            self.next_index += 1
            index = self.next_index
        namespace = f"{self.prefix}-{index}"
        port = f"i{index}"
        ip("netns", "add", namespace)
        try:
            ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", namespace, namespace=self.router)
            ip("link", "set", port, "master", "br0", "up", namespace=self.router)
            ip("link", "set", "lo", "up", namespace=namespace)
            prefix = ipaddress.ip_network(cidr, strict=False).prefixlen
            ip("addr", "add", f"{private_ip}/{prefix}", "dev", "eth0", namespace=namespace)
            ip("link", "set", "eth0", "up", namespace=namespace)
            ip("route", "add", "default", "via", gateway, namespace=namespace)
        except NetworkError:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
            raise
        with self.lock:
            self.instances[instance_id] = namespace
        return namespace

    def detach(self, instance_id: str) -> None:
        with self.lock:
            namespace = self.instances.pop(instance_id, None)
        if namespace:
            # Deleting the namespace deletes eth0 and with it its peer on the bridge.
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)

    def close(self) -> None:
        for instance_id in list(self.instances):
            self.detach(instance_id)
        subprocess.run(["ip", "netns", "del", self.router], capture_output=True)
