"""An instance's first process: what cloud-init and systemd do for a boot script on EC2.

Runs inside the instance's sandbox (see sandbox.py), as root. It runs the user data once, as
cloud-init runs a `#!` script (output to the console log), then serves `systemctl` (the
`systemctl` beside this file talks to it over /run/localcloud/control.sock) and supervises
the units the boot script started: Environment=/EnvironmentFile=, User=/DynamicUser=,
WorkingDirectory=, Restart=/RestartSec=, and stop as systemd does it: KillSignal (SIGTERM)
to the unit's processes, SIGKILL after TimeoutStopSec. A `poweroff` on the control socket
(the host terminating the instance) stops every unit that way, then this process exits.

Standard library only: it runs with whatever Python the host lends the sandbox.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

CONTROL = "/run/localcloud/control.sock"
USER_DATA = "/run/localcloud/user-data"
CONSOLE = "/run/localcloud/console.log"
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system")
JOURNAL = Path("/var/log/journal")
DYNAMIC_UID = 61800  # systemd's DynamicUser= range starts at 61184
DEFAULT_TIMEOUT_STOP = 90.0
REMAINING_TIMEOUT = 5.0


def log(text: str) -> None:
    """A line on the console; a console that is gone (the host removed the instance's
    folder) must not stop a power-off."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        with open(CONSOLE, "a") as console:
            console.write(f"[{stamp}] localcloud-init: {text}\n")
    except OSError:
        pass


def seconds(text: str, default: float) -> float:
    """systemd time spans: `90`, `90s`, `2min`, `500ms`, `infinity`."""
    text = text.strip()
    if not text:
        return default
    if text == "infinity":
        return float("inf")
    units = {"ms": 0.001, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    total, number = 0.0, ""
    parts = text.replace(" ", "")
    i = 0
    while i < len(parts):
        if parts[i].isdigit() or parts[i] == ".":
            number += parts[i]
            i += 1
            continue
        unit = ""
        while i < len(parts) and parts[i].isalpha():
            unit += parts[i]
            i += 1
        total += float(number or 0) * units.get(unit, 1)
        number = ""
    return total + float(number or 0)


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """An INI-like unit file: section -> key -> every value given (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        if current is None or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values = current.setdefault(key.strip(), [])
        if value.strip() == "":
            values.clear()  # an empty assignment resets the list, as in systemd
        else:
            values.append(value.strip())
    return sections


def environment_of(service: dict[str, list[str]], base: dict[str, str]) -> dict[str, str]:
    env = dict(base)
    for line in service.get("Environment", []):
        for assignment in shlex.split(line):
            if "=" in assignment:
                key, value = assignment.split("=", 1)
                env[key] = value
    for entry in service.get("EnvironmentFile", []):
        optional = entry.startswith("-")
        path = entry.lstrip("-")
        try:
            lines = Path(path).read_text().splitlines()
        except OSError:
            if optional:
                continue
            raise RuntimeError(f"EnvironmentFile {path} is missing")
        for line in lines:
            line = line.strip()
            if not line or line[0] in "#;" or "=" not in line:
                continue
            key, value = line.split("=", 1)
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            env[key.strip()] = value
    return env


def command_of(line: str, env: dict[str, str]) -> list[str]:
    line = line.lstrip("-@+!:")
    words = shlex.split(line)
    expanded = []
    for word in words:
        for key, value in env.items():
            word = word.replace("${" + key + "}", value)
        if word.startswith("$") and word[1:] in env:
            expanded.extend(env[word[1:]].split())
        else:
            expanded.append(word)
    return expanded


def manager_environment() -> dict[str, str]:
    """systemd's DefaultEnvironment= (from /etc/systemd/system.conf), on a clean base."""
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    try:
        conf = parse_unit(Path("/etc/systemd/system.conf").read_text())
    except OSError:
        return env
    for line in conf.get("Manager", {}).get("DefaultEnvironment", []):
        for assignment in shlex.split(line):
            if "=" in assignment:
                key, value = assignment.split("=", 1)
                env[key] = value
    return env


class Unit:
    def __init__(self, name: str, manager: "Manager"):
        self.name = name
        self.manager = manager
        self.process: subprocess.Popen | None = None
        self.wanted = False  # started and not stopped: restart policies apply
        self.failed = False
        self.result = ""
        self.lock = threading.RLock()
        self.definition: dict[str, dict[str, list[str]]] = {}
        self.reload()

    def reload(self) -> None:
        for folder in UNIT_DIRS:
            path = Path(folder) / self.name
            if path.exists():
                self.definition = parse_unit(path.read_text())
                return
        self.definition = {}

    @property
    def exists(self) -> bool:
        return bool(self.definition)

    def setting(self, key: str, default: str = "") -> str:
        values = self.definition.get("Service", {}).get(key, [])
        return values[-1] if values else default

    def active(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        with self.lock:
            if self.active():
                return
            self.wanted = True
            self.failed = False
            self._spawn()

    def _spawn(self) -> None:
        service = self.definition.get("Service", {})
        env = environment_of(service, self.manager.environment)
        user = self.setting("User")
        uid = gid = None
        if self.setting("DynamicUser", "no").lower() in ("yes", "true", "1", "on") and not user:
            uid = gid = DYNAMIC_UID
        elif user:
            import pwd

            entry = pwd.getpwnam(user)
            uid, gid = entry.pw_uid, entry.pw_gid
        group = self.setting("Group")
        if group:
            import grp

            gid = grp.getgrnam(group).gr_gid
        JOURNAL.mkdir(parents=True, exist_ok=True)
        out = open(JOURNAL / f"{self.name}.log", "ab")
        for pre in service.get("ExecStartPre", []):
            subprocess.run(command_of(pre, env), env=env, stdout=out, stderr=out, check=not pre.startswith("-"))
        exec_start = service.get("ExecStart", [])
        if not exec_start:
            raise RuntimeError(f"{self.name} has no ExecStart=")
        self.process = subprocess.Popen(
            command_of(exec_start[-1], env),
            env=env,
            cwd=self.setting("WorkingDirectory") or "/",
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            user=uid,
            group=gid,
            extra_groups=[] if uid is not None else None,
            start_new_session=True,
        )
        out.close()
        log(f"started {self.name} (pid {self.process.pid})")
        threading.Thread(target=self._watch, args=(self.process,), daemon=True).start()

    def _watch(self, process: subprocess.Popen) -> None:
        code = process.wait()
        with self.lock:
            if process is not self.process or not self.wanted:
                return
            log(f"{self.name} exited with {code}")
            policy = self.setting("Restart", "no")
            clean = code == 0
            again = policy == "always" or (policy in ("on-failure", "on-abnormal") and not clean)
            if not again:
                self.wanted = False
                self.failed = not clean
                return
        time.sleep(seconds(self.setting("RestartSec"), 0.1))
        with self.lock:
            if self.wanted and process is self.process and not self.manager.powering_off:
                self._spawn()

    def stop(self) -> None:
        with self.lock:
            self.wanted = False
            process = self.process
        if process is None or process.poll() is not None:
            return
        kill = getattr(signal, self.setting("KillSignal", "SIGTERM"), signal.SIGTERM)
        timeout = seconds(self.setting("TimeoutStopSec"), DEFAULT_TIMEOUT_STOP)
        log(f"stopping {self.name}: {kill.name}, SIGKILL after {timeout:g}s")
        try:
            os.killpg(process.pid, kill)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=None if timeout == float("inf") else timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log(f"stopped {self.name}")


class Manager:
    def __init__(self) -> None:
        self.units: dict[str, Unit] = {}
        self.enabled: set[str] = set()
        self.environment = manager_environment()
        self.lock = threading.Lock()
        self.powering_off = False

    def unit(self, name: str) -> Unit:
        if "." not in name:
            name += ".service"
        with self.lock:
            if name not in self.units:
                self.units[name] = Unit(name, self)
            return self.units[name]

    def command(self, argv: list[str]) -> tuple[int, str]:
        flags = [a for a in argv if a.startswith("-")]
        words = [a for a in argv if not a.startswith("-")]
        if not words:
            return 1, "systemctl: no command given\n"
        verb, names = words[0], words[1:]
        if verb == "daemon-reload":
            self.environment = manager_environment()
            for unit in list(self.units.values()):
                unit.reload()
            return 0, ""
        units = [self.unit(n) for n in names]
        missing = [u.name for u in units if not u.exists]
        if verb in ("start", "restart", "enable", "reload-or-restart", "try-restart") and missing:
            return 5, f"Failed to {verb} {' '.join(missing)}: Unit not found.\n"
        out = []
        code = 0
        for unit in units:
            if verb == "enable":
                self.enabled.add(unit.name)
                if "--now" in flags:
                    unit.start()
            elif verb == "disable":
                self.enabled.discard(unit.name)
                if "--now" in flags:
                    unit.stop()
            elif verb == "start":
                unit.start()
            elif verb == "stop":
                unit.stop()
            elif verb in ("restart", "reload-or-restart", "try-restart"):
                if verb != "try-restart" or unit.active():
                    unit.stop()
                    unit.start()
            elif verb == "is-active":
                state = "active" if unit.active() else ("failed" if unit.failed else "inactive")
                out.append(state)
                code = code or (0 if state == "active" else 3)
            elif verb == "is-enabled":
                state = "enabled" if unit.name in self.enabled else "disabled"
                out.append(state)
                code = code or (0 if state == "enabled" else 1)
            elif verb == "is-failed":
                out.append("failed" if unit.failed else "active" if unit.active() else "inactive")
                code = code or (0 if unit.failed else 1)
            elif verb == "status":
                state = "active (running)" if unit.active() else ("failed" if unit.failed else "inactive (dead)")
                pid = unit.process.pid if unit.active() else "-"
                out.append(f"* {unit.name}\n     Active: {state}\n   Main PID: {pid}")
                code = code or (0 if unit.active() else 3)
            else:
                return 1, f"systemctl: {verb} is not supported here\n"
        return code, "".join(line + "\n" for line in out)

    def poweroff(self) -> None:
        log("power off: stopping units")
        self.powering_off = True
        threads = [threading.Thread(target=u.stop) for u in self.units.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # What no unit owns (a boot script's `cmd &`): SIGTERM, then SIGKILL, as systemd's
        # shutdown does. kill(-1) reaches every process of the sandbox's pid namespace but
        # this one and the namespace's pid 1 (bwrap's reaper, which then ends).
        try:
            os.kill(-1, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + REMAINING_TIMEOUT
        while time.monotonic() < deadline:
            try:
                os.kill(-1, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass


def serve(manager: Manager, stopping: threading.Event) -> None:
    try:
        os.unlink(CONTROL)
    except FileNotFoundError:
        pass
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(CONTROL)
    os.chmod(CONTROL, 0o600)
    server.listen(16)

    def handle(conn: socket.socket) -> None:
        with conn:
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            request = json.loads(data or b"{}")
            if request.get("poweroff"):
                conn.sendall(b'{"code": 0, "output": ""}\n')
                stopping.set()
                return
            try:
                code, output = manager.command(request.get("argv", []))
            except Exception as err:  # reported to systemctl's caller, as systemctl would
                code, output = 1, f"{err}\n"
            conn.sendall(json.dumps({"code": code, "output": output}).encode() + b"\n")

    while True:
        conn, _ = server.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def run_user_data(env: dict[str, str]) -> None:
    try:
        data = Path(USER_DATA).read_bytes()
    except FileNotFoundError:
        log("no user data")
        return
    if not data.startswith(b"#!"):
        log("user data is not a script (`#!`): nothing to run")
        return
    script = Path("/var/lib/cloud/instance/scripts/part-001")
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_bytes(data)
    script.chmod(0o700)
    log("running user data")
    with open(CONSOLE, "ab") as console:
        code = subprocess.call([str(script)], env=env, cwd="/", stdin=subprocess.DEVNULL, stdout=console, stderr=console)
    log(f"user data finished with exit code {code}")
    Path("/var/lib/cloud/instance/boot-finished").write_text(f"{code}\n")


def watch_lifeline(fd: int, stopping: threading.Event) -> None:
    """The local cloud holds the other end of this pipe: EOF means it is gone."""
    while os.read(fd, 1024):
        pass
    log("the local cloud is gone: powering off")
    stopping.set()


def main() -> None:
    manager = Manager()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    threading.Thread(target=serve, args=(manager, stopping), daemon=True).start()
    env = dict(manager.environment, HOME="/root", USER="root")
    threading.Thread(target=run_user_data, args=(env,), daemon=True).start()
    lifeline = os.environ.pop("LOCALCLOUD_LIFELINE", None)
    if lifeline:
        os.set_inheritable(int(lifeline), False)
        threading.Thread(target=watch_lifeline, args=(int(lifeline), stopping), daemon=True).start()
    stopping.wait()
    manager.poweroff()
    log("powered off")
    sys.exit(0)


if __name__ == "__main__":
    main()
