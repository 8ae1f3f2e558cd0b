"""The store check of the API fuzzing (scripts/app_consistency.py): silent on a whole
store made by the service's own migrations, and naming each kind of half-write."""

from __future__ import annotations

import sqlite3
import uuid

import pytest
from app_consistency import Limits, disk_path, problems
from support import SCRIPTS

MIGRATIONS = SCRIPTS.parent / "app" / "migrations" / "sqlite"
LIMITS = Limits(max_images=2, quota_bytes=1000)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)


class Store:
    """A database made by the service's migrations and its image directory."""

    def __init__(self, root):
        self.db_path = root / "modu.db"
        self.media = root / "media"
        self.db = sqlite3.connect(self.db_path, isolation_level=None)
        for migration in sorted(MIGRATIONS.glob("*.sql")):
            self.db.executescript(migration.read_text())
        self.db.execute(
            "INSERT INTO users (id, username, password_hash, created_at) VALUES (1, 'kim', '$argon2id$v=19$x', 1)"
        )

    def resume(self, name="Kim", motivation="I build.\nThings.", task=3, images=1) -> tuple[str, list[str]]:
        resume_id = _uuid7()
        self.db.execute(
            "INSERT INTO resumes (id, owner_id, task_id, name, motivation, created_at, updated_at) "
            "VALUES (?, 1, ?, ?, ?, 10, 20)",
            (resume_id, task, name, motivation),
        )
        keys = [self.image(resume_id, position) for position in range(images)]
        return resume_id, keys

    def image(self, resume_id: str, position: int) -> str:
        key = f"resumes/{resume_id}/{uuid.uuid4()}.png"
        self.db.execute(
            "INSERT INTO resume_images (key, resume_id, position, content_type, width, height, size_bytes) "
            "VALUES (?, ?, ?, 'image/png', 1, 1, ?)",
            (key, resume_id, position, len(PNG)),
        )
        path = disk_path(self.media, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(PNG)
        return key

    def problems(self) -> list[str]:
        return problems(self.db_path, self.media, LIMITS)


def _uuid7() -> str:
    """A random id with version 7's bits, as the service's ids have."""
    value = uuid.uuid4().int & ~(0xF << 76) | (0x7 << 76)
    return str(uuid.UUID(int=value))


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path)


def test_a_whole_store_has_no_problem(store):
    store.resume(images=2)
    store.resume(images=0)
    assert store.problems() == []


def test_a_file_left_by_a_save_that_failed_is_found(store):
    resume_id, _ = store.resume()
    orphan = disk_path(store.media, f"resumes/{resume_id}/{uuid.uuid4()}.png")
    orphan.write_bytes(PNG)
    assert store.problems() == [f"stored file {orphan.relative_to(store.media)} is no resume's image"]


def test_a_row_whose_file_is_gone_or_cut_is_found(store):
    _, (gone, cut) = store.resume(images=2)
    disk_path(store.media, gone).unlink()
    disk_path(store.media, cut).write_bytes(PNG[:10])
    assert sorted(store.problems()) == sorted([
        f"image {gone}: its file is missing ({disk_path(store.media, gone).relative_to(store.media)})",
        f"image {cut}: the file has 10 bytes, the row says {len(PNG)}",
    ])


def test_a_resume_the_domain_would_refuse_is_found(store):
    store.resume(name="   ")
    store.resume(name="a\x00b")
    store.resume(motivation="x" * 2001)
    store.resume(task=99)
    found = " | ".join(store.problems())
    assert "name is blank" in found
    assert "name holds control characters" in found
    assert "motivation has 2001 characters" in found
    assert "task 99 is not a job category" in found


def test_image_rows_of_a_deleted_resume_and_too_many_images_are_found(store):
    resume_id, keys = store.resume(images=3)
    found = store.problems()
    assert f"resume {resume_id}: 3 images (at most 2)" in found
    store.db.execute("PRAGMA foreign_keys = OFF")
    store.db.execute("DELETE FROM resumes WHERE id = ?", (resume_id,))
    found = store.problems()
    assert any("resume_images row" in p and "missing resumes row" in p for p in found), found


def test_more_than_the_quota_is_found(store):
    for _ in range(1 + LIMITS.quota_bytes // len(PNG)):
        store.resume()
    assert store.problems() == [f"user 1 stores 1024 image bytes (quota {LIMITS.quota_bytes})"]
