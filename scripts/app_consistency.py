"""What a consistent store of the resume service is, read straight from its SQLite file
and its image directory (SQLite + disk, as `scripts/app-fuzz.py` runs it):

    problems(db_path, media_dir, Limits(max_images=4, quota_bytes=2 << 20))

answers one line per inconsistency, none when the store is whole. The rules come from
the schema (app/migrations/sqlite/) and the domain's parsers (app/src/domain/):

- the database is intact and every reference resolves (foreign keys, task ids);
- a resume has its required fields as the domain accepts them: a UUIDv7 id, a name and
  a motivation that are not blank and hold no control characters (a motivation keeps
  line breaks and tabs), within their lengths; created no later than updated; at most
  `max_images` images, each at its own position;
- an image row names a key `resumes/<its resume>/<uuid>.<ext>` whose extension is its
  content type's, and the file at that key exists, is the size the row says and starts
  the way its format starts;
- every file in the image directory is the image of some row: a save or an edit that
  failed left nothing behind;
- no user stores more image bytes than the quota (saves are checked one at a time; two
  racing saves of one user may overshoot, so this holds for a sequential run only).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif"}
MAGIC = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/webp": (b"RIFF",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}
KEY = re.compile(r"^resumes/(?P<resume>[^/]+)/(?P<image>[0-9a-f-]{36})\.(?P<ext>[a-z]+)$")
NAME_MAX_CHARS = 50
MOTIVATION_MAX_CHARS = 2000


@dataclass(frozen=True)
class Limits:
    max_images: int
    quota_bytes: int


def disk_path(media_dir: Path, key: str) -> Path:
    """Where the disk store keeps `key` (app/src/storage/disk.rs): `kind/group/name` at
    `kind/<first byte of sha256(group), hex>/group_name`."""
    kind, group, name = key.split("/")
    shard = hashlib.sha256(group.encode()).hexdigest()[:2]
    return media_dir / kind / shard / f"{group}_{name}"


def _is_control(c: str) -> bool:
    return unicodedata.category(c) == "Cc"


def text_problem(label: str, value: str, max_chars: int, keep_line_breaks: bool) -> str | None:
    """Why the domain would refuse `value`, or None."""
    if not value.strip():
        return f"{label} is blank"
    if len(value) > max_chars:
        return f"{label} has {len(value)} characters (at most {max_chars})"
    allowed = "\n\r\t" if keep_line_breaks else ""
    if any(_is_control(c) and c not in allowed for c in value):
        return f"{label} holds control characters"
    return None


def _is_uuid7(value: str) -> bool:
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return False
    return str(parsed) == value and parsed.version == 7


def problems(db_path: Path, media_dir: Path, limits: Limits) -> list[str]:
    found: list[str] = []
    db = sqlite3.connect(db_path)
    try:
        found += _database(db)
        found += _resumes(db, limits)
        found += _images(db, media_dir)
        found += _users(db, limits)
    finally:
        db.close()
    return found


def _database(db: sqlite3.Connection) -> list[str]:
    found = []
    integrity = [row[0] for row in db.execute("PRAGMA integrity_check")]
    if integrity != ["ok"]:
        found.append(f"database integrity check: {'; '.join(integrity)}")
    for table, rowid, parent, _ in db.execute("PRAGMA foreign_key_check"):
        found.append(f"{table} row {rowid} refers to a missing {parent} row")
    return found


def _resumes(db: sqlite3.Connection, limits: Limits) -> list[str]:
    found = []
    tasks = {row[0] for row in db.execute("SELECT id FROM tasks")}
    rows = db.execute("SELECT id, task_id, name, motivation, created_at, updated_at FROM resumes")
    for resume_id, task_id, name, motivation, created, updated in rows:
        where = f"resume {resume_id}"
        if not _is_uuid7(resume_id):
            found.append(f"{where}: its id is not a UUIDv7 in canonical form")
        if task_id not in tasks:
            found.append(f"{where}: task {task_id} is not a job category")
        for label, value, max_chars, keep in (
            ("name", name, NAME_MAX_CHARS, False),
            ("motivation", motivation, MOTIVATION_MAX_CHARS, True),
        ):
            problem = text_problem(label, value, max_chars, keep)
            if problem:
                found.append(f"{where}: {problem}")
        if not created <= updated:
            found.append(f"{where}: updated ({updated}) before it was created ({created})")
    counts = db.execute(
        "SELECT resume_id, COUNT(*), COUNT(DISTINCT position) FROM resume_images GROUP BY resume_id"
    )
    for resume_id, images, positions in counts:
        if images > limits.max_images:
            found.append(f"resume {resume_id}: {images} images (at most {limits.max_images})")
        if positions != images:
            found.append(f"resume {resume_id}: two images share a position")
    return found


def _images(db: sqlite3.Connection, media_dir: Path) -> list[str]:
    found = []
    expected: set[Path] = set()
    rows = db.execute("SELECT key, resume_id, content_type, width, height, size_bytes FROM resume_images")
    for key, resume_id, content_type, width, height, size in rows:
        where = f"image {key}"
        match = KEY.match(key)
        if not match or match["resume"] != resume_id:
            found.append(f"{where}: the key is not resumes/{resume_id}/<uuid>.<ext>")
            continue
        if EXTENSIONS.get(content_type) != match["ext"]:
            found.append(f"{where}: content type {content_type} with extension .{match['ext']}")
        if width < 1 or height < 1:
            found.append(f"{where}: {width} x {height} pixels")
        path = disk_path(media_dir, key)
        expected.add(path)
        if not path.is_file():
            found.append(f"{where}: its file is missing ({path.relative_to(media_dir)})")
            continue
        data = path.read_bytes()
        if len(data) != size:
            found.append(f"{where}: the file has {len(data)} bytes, the row says {size}")
        if not data.startswith(MAGIC.get(content_type, (b"\0\0\0\0\0\0\0\0",))):
            found.append(f"{where}: the file is not {content_type}")
    stored = {p for p in media_dir.rglob("*") if p.is_file()} if media_dir.is_dir() else set()
    for orphan in sorted(stored - expected):
        found.append(f"stored file {orphan.relative_to(media_dir)} is no resume's image")
    return found


def _users(db: sqlite3.Connection, limits: Limits) -> list[str]:
    found = []
    for user_id, username, password_hash in db.execute("SELECT id, username, password_hash FROM users"):
        if not 3 <= len(username) <= 32 or any(c.isspace() or _is_control(c) for c in username):
            found.append(f"user {user_id}: username {username!r} is not one sign-up accepts")
        if not password_hash.startswith("$argon2id$"):
            found.append(f"user {user_id}: the password is not an Argon2id hash")
    totals = db.execute(
        "SELECT r.owner_id, SUM(i.size_bytes) FROM resume_images i JOIN resumes r ON r.id = i.resume_id "
        "GROUP BY r.owner_id"
    )
    for owner, total in totals:
        if total > limits.quota_bytes:
            found.append(f"user {owner} stores {total} image bytes (quota {limits.quota_bytes})")
    return found
