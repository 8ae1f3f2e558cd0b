"""Fixtures of the emulator's own tests (scripts/tests/), run as

    python3 -m pytest -q scripts/tests
"""

from __future__ import annotations

import sys

import pytest

from support import SCRIPTS, Emulator

# emulator_pin and moto_patches are imported by some tests, as emulator.py imports them.
sys.path.insert(0, str(SCRIPTS))


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    """One emulator for the whole session: tests name their resources uniquely."""
    running = Emulator(tmp_path_factory.mktemp("emulator") / "calls.log")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def client(emulator):
    return emulator.client


@pytest.fixture
def fresh_emulator(tmp_path):
    """A new, empty emulator per call, with extra flags and environment
    (`fresh_emulator("--page-size", "1")`), for tests that count everything a list returns."""
    started = []

    def start(*flags: str, env: dict[str, str] | None = None) -> Emulator:
        running = Emulator(tmp_path / f"calls-{len(started)}.log", *flags, env=env)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
