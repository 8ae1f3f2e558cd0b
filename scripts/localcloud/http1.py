"""Just enough HTTP/1.1 for the data planes: read and write messages on asyncio streams.

Bodies are read whole (Content-Length or chunked); the data planes forward them as
Content-Length messages. Header names keep their case; lookups ignore it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

MAX_HEAD = 64 * 1024
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade",
}
REASONS = {
    200: "OK", 204: "No Content", 301: "Moved Permanently", 302: "Found", 304: "Not Modified",
    400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    413: "Payload Too Large", 421: "Misdirected Request", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}


class ProtocolError(Exception):
    pass


@dataclass
class Headers:
    items: list = field(default_factory=list)  # [(name, value)]

    def get(self, name: str, default: str | None = None) -> str | None:
        lower = name.lower()
        for key, value in self.items:
            if key.lower() == lower:
                return value
        return default

    def remove(self, name: str) -> None:
        lower = name.lower()
        self.items = [(k, v) for k, v in self.items if k.lower() != lower]

    def set(self, name: str, value: str) -> None:
        self.remove(name)
        self.items.append((name, value))

    def add(self, name: str, value: str) -> None:
        self.items.append((name, value))

    def copy(self) -> "Headers":
        return Headers(list(self.items))

    def without_hop_by_hop(self) -> "Headers":
        named = {h.strip().lower() for h in (self.get("Connection") or "").split(",") if h.strip()}
        return Headers([(k, v) for k, v in self.items if k.lower() not in HOP_BY_HOP | named])


@dataclass
class Request:
    method: str
    target: str  # as sent: origin-form path, absolute URL, or authority for CONNECT
    version: str
    headers: Headers
    body: bytes = b""

    @property
    def keep_alive(self) -> bool:
        connection = (self.headers.get("Connection") or self.headers.get("Proxy-Connection") or "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


@dataclass
class Response:
    status: int
    reason: str
    headers: Headers
    body: bytes = b""


async def _read_head(reader: asyncio.StreamReader) -> list[str] | None:
    try:
        data = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as err:
        if not err.partial.strip():
            return None
        raise ProtocolError("the connection closed inside a message head")
    except asyncio.LimitOverrunError:
        raise ProtocolError("message head too large")
    if len(data) > MAX_HEAD:
        raise ProtocolError("message head too large")
    return data.decode("latin-1").split("\r\n")[:-2]


def _headers(lines: list[str]) -> Headers:
    headers = Headers()
    for line in lines:
        if ":" not in line:
            raise ProtocolError(f"malformed header line {line!r}")
        name, value = line.split(":", 1)
        headers.add(name.strip(), value.strip())
    return headers


async def _read_body(reader: asyncio.StreamReader, headers: Headers, until_close: bool) -> bytes:
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        body = bytearray()
        while True:
            size_line = await reader.readline()
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise ProtocolError("malformed chunk size")
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(body)
            body += await reader.readexactly(size)
            await reader.readline()
    length = headers.get("Content-Length")
    if length is not None:
        try:
            count = int(length)
        except ValueError:
            raise ProtocolError("malformed Content-Length")
        return await reader.readexactly(count) if count else b""
    return await reader.read() if until_close else b""


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    lines = await _read_head(reader)
    if lines is None:
        return None
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ProtocolError(f"malformed request line {lines[0]!r}")
    headers = _headers(lines[1:])
    request = Request(parts[0].upper(), parts[1], parts[2], headers)
    if request.method != "CONNECT":
        request.body = await _read_body(reader, headers, until_close=False)
    return request


async def read_response(reader: asyncio.StreamReader, method: str) -> Response:
    lines = await _read_head(reader)
    if lines is None:
        raise ProtocolError("the connection closed before a response")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ProtocolError(f"malformed status line {lines[0]!r}")
    status = int(parts[1])
    headers = _headers(lines[1:])
    response = Response(status, parts[2] if len(parts) > 2 else REASONS.get(status, ""), headers)
    if method != "HEAD" and status not in (204, 304) and not 100 <= status < 200:
        response.body = await _read_body(reader, headers, until_close=True)
    return response


def encode_request(request: Request) -> bytes:
    headers = request.headers.without_hop_by_hop()
    headers.remove("Content-Length")
    if request.body or request.method in ("POST", "PUT", "PATCH"):
        headers.add("Content-Length", str(len(request.body)))
    headers.add("Connection", "close")
    head = f"{request.method} {request.target} HTTP/1.1\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items) + "\r\n"
    return head.encode("latin-1") + request.body


def encode_response(response: Response, keep_alive: bool, head_only: bool = False) -> bytes:
    headers = response.headers.without_hop_by_hop()
    if not (100 <= response.status < 200 or response.status in (204, 304)):
        headers.set("Content-Length", str(len(response.body)))
    headers.add("Connection", "keep-alive" if keep_alive else "close")
    head = f"HTTP/1.1 {response.status} {response.reason}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items) + "\r\n"
    return head.encode("latin-1") + (b"" if head_only else response.body)


def text_response(status: int, text: str, content_type: str = "text/plain; charset=utf-8", **extra) -> Response:
    headers = Headers([("Content-Type", content_type)])
    for name, value in extra.items():
        headers.add(name.replace("_", "-"), value)
    return Response(status, REASONS.get(status, ""), headers, text.encode())
