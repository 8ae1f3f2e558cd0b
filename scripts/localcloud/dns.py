"""The VPC's DNS resolver at 169.254.169.253 (Amazon's "AmazonProvidedDNS" address): it
answers, inside the local cloud, the names of the data stores' endpoints (stores.py) and
the instances' own ip-….ec2.internal names. Any other name is NXDOMAIN: the local cloud has
no internet to resolve it on.

It answers on a thread of its own, not on the event loop that carries the load balancers'
and distributions' traffic: under load that loop can be busy for longer than a resolver
waits (glibc: 5 s), and an instance would see "Temporary failure in name resolution" where
AWS's resolver answers at once.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import struct
import threading

TTL = 5
INSTANCE_NAME = re.compile(r"^ip-(\d+)-(\d+)-(\d+)-(\d+)\.ec2\.internal$")


def _name(packet: bytes, offset: int) -> tuple[str, int]:
    labels = []
    while True:
        length = packet[offset]
        if length == 0:
            return ".".join(labels), offset + 1
        if length & 0xC0:  # compression is not used in questions
            raise ValueError("compressed name in a question")
        labels.append(packet[offset + 1:offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length


def answer(packet: bytes, lookup) -> bytes | None:
    """The reply to one query packet; `lookup(name) -> IPv4 address or None`."""
    if len(packet) < 12:
        return None
    ident, flags, questions = struct.unpack("!HHH", packet[:6])
    if flags & 0x8000 or questions != 1:
        return None
    try:
        name, end = _name(packet, 12)
        qtype, qclass = struct.unpack("!HH", packet[end:end + 4])
    except (ValueError, IndexError, struct.error):
        return None
    question = packet[12:end + 4]
    address = lookup(name.lower().rstrip("."))
    recursion = flags & 0x0100
    if address is None:
        return struct.pack("!HHHHHH", ident, 0x8180 | recursion | 3, 1, 0, 0, 0) + question
    records = b""
    count = 0
    if qtype in (1, 255) and qclass == 1:  # A (or ANY), IN
        records = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, TTL, 4) + ipaddress.IPv4Address(address).packed
        count = 1
    return struct.pack("!HHHHHH", ident, 0x8180 | recursion, 1, count, 0, 0) + question + records


class Resolver:
    def __init__(self, stores, snapshot):
        self.stores = stores
        self.snapshot = snapshot

    def lookup(self, name: str) -> str | None:
        found = self.stores.resolve(name)
        if found:
            return found[0]
        match = INSTANCE_NAME.match(name)
        if match:
            address = ".".join(match.groups())
            if self.snapshot().instance_by_ip(address):
                return address
        return None


class Server:
    """Answers queries on `sock` until closed."""

    def __init__(self, sock: socket.socket, resolver: Resolver):
        self.sock = sock
        self.resolver = resolver
        self.sock.setblocking(True)
        self.sock.settimeout(0.5)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="dns", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                reply = answer(data, self.resolver.lookup)
                if reply is not None:
                    self.sock.sendto(reply, peer)
            except OSError:
                continue

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=2)
        self.sock.close()


def serve(sock, stores, snapshot) -> Server:
    return Server(sock, Resolver(stores, snapshot))
