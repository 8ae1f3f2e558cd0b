#!/usr/bin/env python3
"""The emulator's pinned Python packages (`requirements-emulator.txt` beside this file)
and whether they are the ones installed.

    python3 scripts/emulator_pin.py

exits 0 when every pin is installed at its version, else 1 with one line per
difference on stderr. The installer scripts (test.sh, local-cloud-deps.sh, app-test-deps.sh) run
it to decide whether to `pip install -r`; scripts/emulator.py calls `require()` before
it serves anything, so a test never runs on a moto the corrections were not written for.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path
from typing import Callable, NamedTuple

REQUIREMENTS = Path(__file__).resolve().with_name("requirements-emulator.txt")
INSTALL = "python3 -m pip install -r scripts/requirements-emulator.txt"
# `name==version` or `name[extras]==version`: exact pins only.
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;]+)$")


class Pin(NamedTuple):
    name: str
    version: str


class Mismatch(NamedTuple):
    name: str
    pinned: str
    installed: str | None

    def describe(self) -> str:
        found = f"{self.name} {self.installed} is installed" if self.installed else f"{self.name} is not installed"
        return f"{found}, the emulator is pinned to {self.name} {self.pinned}"


def pins(path: Path = REQUIREMENTS) -> list[Pin]:
    """The pins of the requirements file; anything but an exact pin is an error."""
    result = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.match(line)
        if not match:
            raise ValueError(f"{path.name}:{number}: {line!r} is not an exact pin (name==version)")
        result.append(Pin(match.group(1), match.group(2)))
    return result


def installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def running_version(name: str) -> str | None:
    """The version that runs: moto's own `__version__` (the module the server imports),
    the installed metadata for the others."""
    if name != "moto":
        return installed_version(name)
    try:
        import moto
    except ImportError:
        return None
    return getattr(moto, "__version__", None)


def mismatches(pinned: list[Pin], version_of: Callable[[str], str | None] = installed_version) -> list[Mismatch]:
    found = [(pin, version_of(pin.name)) for pin in pinned]
    return [Mismatch(pin.name, pin.version, version) for pin, version in found if version != pin.version]


def report(problems: list[Mismatch]) -> str:
    lines = [f"the installed packages differ from {REQUIREMENTS.name}:"]
    lines += [f"  {problem.describe()}" for problem in problems]
    lines.append(f"install the pinned versions with: {INSTALL}")
    return "\n".join(lines)


def require() -> None:
    """Stops the process, naming what differs and the install command, unless the
    running moto and every other pin are the pinned versions."""
    problems = mismatches(pins(), running_version)
    if problems:
        sys.exit("emulator: " + report(problems))


def main() -> int:
    problems = mismatches(pins())
    if problems:
        print(report(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
