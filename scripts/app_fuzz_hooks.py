"""schemathesis hooks of scripts/app-fuzz.py: what the fuzzer cannot find by itself.

- A session. Every request carries `Authorization: Bearer <token>` of one user these
  hooks sign up, so the fuzzer reaches what only a logged-in user can do. Logout would
  revoke that token for every later case, so each logout case gets a session of its
  own. The hooks' sign-ups name another client (`X-Forwarded-For`, which the service
  reads when nothing stands in front of it), so the fuzzer's own sign-up cases, which
  the per-client limit may refuse, never starve them.
- Images. The forms declare their image parts as JPEG, PNG, WebP or GIF; a part drawn
  for one of those types is a real image of it (PNGs of drawn sizes, from a few bytes to
  a few hundred KiB, so the quota is reached too), not random bytes, which the service
  would refuse before anything is stored.
- A confirmed password. Drawn apart, `password_confirm` is almost never the password,
  and a sign-up stops there; in about half of the sign-ups that send a password, the
  confirmation is made equal to it, so drawn sign-ups also reach the checks after it
  (a username taken, then hashing and the new account).
- Keys to remove. A `remove_image` the fuzzer makes up names no image; in about half of
  the edits that send one, it is replaced by the key of one of the resume's own images,
  chosen from the drawn value, so removals happen and the seed still decides them.

$MODU_FUZZ_URL is the service; the hooks' own requests are counted into
$MODU_FUZZ_HOOK_STATS (JSON) when the run ends.
"""

from __future__ import annotations

import atexit
import collections
import hashlib
import itertools
import json
import os
import random
import struct
import uuid
import zlib

import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.core.file_samples import FILE_SAMPLES

BASE = os.environ["MODU_FUZZ_URL"].rstrip("/")
PASSWORD = "fuzzing the resume service"
# Not a network address: only the key the service's sign-up limit counts this client by.
HARNESS_CLIENT = "127.0.0.2"
_numbers = itertools.count(1)
_requests: collections.Counter[str] = collections.Counter()


@atexit.register
def _write_stats() -> None:
    path = os.environ.get("MODU_FUZZ_HOOK_STATS")
    if path:
        with open(path, "w") as out:
            json.dump(dict(_requests), out)


def sign_up(kind: str) -> str | None:
    """A new user's session token, or None when the service refused (rate limit)."""
    username = f"{kind}-{next(_numbers)}-{uuid.uuid4().hex[:8]}"
    _requests["POST /api/auth/signup"] += 1
    response = requests.post(
        f"{BASE}/api/auth/signup",
        json={"username": username, "password": PASSWORD, "password_confirm": PASSWORD},
        headers={"X-Forwarded-For": HARNESS_CLIENT},
        timeout=30,
    )
    if response.status_code != 201:
        return None
    return response.json()["token"]


# Fetched once and kept: the token lives a week, and nothing but logout revokes it.
@schemathesis.auth(refresh_interval=None, retry_on=[])
class Session:
    token: str | None = None

    def get(self, case, context):
        if Session.token is None:
            Session.token = sign_up("fuzz")
            if Session.token is None:
                raise RuntimeError("the fuzzing user could not sign up")
        return Session.token

    def set(self, case, data, context):
        token = data
        if case.operation.path == "/api/auth/logout":
            token = sign_up("logout")
        if token is not None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}


def png(width: int, height: int, noise: int | None) -> bytes:
    """A grey PNG: flat (a few dozen bytes), or random pixels from `noise` (barely
    compressible, so its size is about width × height)."""
    if noise is None:
        pixels = bytes(width * height)
    else:
        pixels = random.Random(noise).randbytes(width * height)
    rows = b"".join(b"\x00" + pixels[y * width : (y + 1) * width] for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PNGS = st.one_of(
    st.builds(png, st.integers(1, 64), st.integers(1, 64), st.none()),
    st.builds(png, st.integers(64, 700), st.integers(64, 700), st.integers(0, 2**32)),
)
schemathesis.openapi.media_type("image/png", PNGS)
schemathesis.openapi.media_type("image/jpeg", st.just(FILE_SAMPLES["jpg"]))
schemathesis.openapi.media_type("image/gif", st.just(FILE_SAMPLES["gif"]))
schemathesis.openapi.media_type("image/webp", st.just(FILE_SAMPLES["webp"]))


def drawn_choice(value) -> int:
    """A number decided by a drawn value, so the seed still decides what a hook does."""
    return int.from_bytes(hashlib.sha256(repr(value).encode()).digest()[:4], "big")


@schemathesis.hook
def before_call(context, case, **kwargs):
    body = case.body
    if (
        case.operation.path == "/api/auth/signup"
        and isinstance(body, dict)
        and isinstance(body.get("password"), str)
        and drawn_choice(body) % 2 == 0
    ):
        body["password_confirm"] = body["password"]
        return
    if not (
        case.operation.path == "/api/resumes/{id}"
        and case.method.upper() == "PATCH"
        and isinstance(body, dict)
        and "remove_image" in body
    ):
        return
    drawn = body["remove_image"]
    drawn = drawn if isinstance(drawn, list) else [drawn]
    choice = drawn_choice(drawn)
    if choice % 2:
        return
    resume_id = (case.path_parameters or {}).get("id")
    _requests["GET /api/resumes/{id}"] += 1
    response = requests.get(f"{BASE}/api/resumes/{resume_id}", timeout=30)
    keys = [image["key"] for image in response.json().get("images", [])] if response.ok else []
    if keys:
        body["remove_image"] = [keys[(choice // 2) % len(keys)]]
