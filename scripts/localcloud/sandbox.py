"""One instance's machine: a bubblewrap sandbox in the instance's network namespace.

The instance sees the host's /usr read-only and folders of its own for everything a boot
script writes (/etc, /opt, /var, /run, /tmp, /root, /home, /srv), all under the instance's
folder in the local cloud's state folder. Its /etc starts as a copy of what programs need
from the host's (users, libraries, certificates, alternatives) plus an Amazon Linux 2023
os-release, its hostname, and systemd's DefaultEnvironment pointing the AWS CLI and SDKs at
the local cloud. `systemctl` and `aws` come from a folder of tools bound at /usr/local/sbin
(guest/); the first process is guest/init.py. Mounts live in the sandbox's own mount
namespace: they end with it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .netns import ENDPOINT_ADDRESS

GUEST = Path(__file__).resolve().parent / "guest"
WRITABLE = ("etc", "opt", "var", "run", "tmp", "root", "home", "srv", "mnt")
# What programs read from /etc that a boot script does not write itself.
ETC_FROM_HOST = (
    "passwd", "group", "shadow", "gshadow", "nsswitch.conf", "ld.so.cache", "ld.so.conf",
    "ld.so.conf.d", "alternatives", "ssl", "ca-certificates", "ca-certificates.conf",
    "protocols", "services", "login.defs", "profile", "profile.d", "bash.bashrc", "inputrc",
    "localtime", "host.conf", "gai.conf", "mime.types", "environment",
)
OS_RELEASE = """NAME="Amazon Linux"
VERSION="2023"
ID="amzn"
ID_LIKE="fedora"
VERSION_ID="2023"
PLATFORM_ID="platform:al2023"
PRETTY_NAME="Amazon Linux 2023 (local cloud)"
"""


class Sandbox:
    def __init__(self, folder: Path, instance_id: str, hostname: str, environment: dict[str, str]):
        self.folder = folder
        self.root = folder / "root"
        self.instance_id = instance_id
        self.hostname = hostname
        self.environment = environment
        self.process: subprocess.Popen | None = None

    @property
    def console(self) -> Path:
        return self.root / "run" / "localcloud" / "console.log"

    @property
    def control(self) -> Path:
        return self.root / "run" / "localcloud" / "control.sock"

    def prepare(self, user_data: bytes, ca_bundle: Path | None) -> None:
        for name in WRITABLE:
            (self.root / name).mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").chmod(0o1777)
        etc = self.root / "etc"
        for name in ETC_FROM_HOST:
            source = Path("/etc") / name
            target = etc / name
            if target.exists() or target.is_symlink() or not (source.exists() or source.is_symlink()):
                continue
            if source.is_dir() and not source.is_symlink():
                shutil.copytree(source, target, symlinks=True, ignore_dangling_symlinks=True)
            else:
                shutil.copy2(source, target, follow_symlinks=False)
        if ca_bundle:
            anchors = etc / "pki" / "ca-trust" / "source" / "anchors"
            anchors.mkdir(parents=True, exist_ok=True)
            shutil.copy(ca_bundle, anchors / "localcloud.pem")
            # Debian's layout, which the host's programs read: append to the bundle.
            bundle = etc / "ssl" / "certs" / "ca-certificates.crt"
            if bundle.exists():
                with open(bundle, "a") as out:
                    out.write(ca_bundle.read_text())
        (etc / "os-release").write_text(OS_RELEASE)
        (etc / "hostname").write_text(self.hostname + "\n")
        (etc / "resolv.conf").write_text(
            f"# the VPC's resolver (localcloud/dns.py)\nnameserver {ENDPOINT_ADDRESS}\nsearch ec2.internal\n"
            "options timeout:1 attempts:2\n"
        )
        (etc / "hosts").write_text(f"127.0.0.1 localhost\n::1 localhost\n127.0.1.1 {self.hostname}\n")
        (etc / "machine-id").write_text(os.urandom(16).hex() + "\n")
        (etc / "systemd" / "system").mkdir(parents=True, exist_ok=True)
        defaults = " ".join(f'"{k}={v}"' for k, v in self.environment.items())
        (etc / "systemd" / "system.conf").write_text(f"[Manager]\nDefaultEnvironment={defaults}\n")
        for folder in ("var/log", "var/lib/cloud", "var/tmp", "run/localcloud", "run/lock"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        (self.root / "var" / "tmp").chmod(0o1777)
        (self.root / "run" / "localcloud" / "user-data").write_bytes(user_data)
        shutil.copy(GUEST / "init.py", self.root / "run" / "localcloud" / "init.py")
        tools = self.folder / "tools"
        tools.mkdir(exist_ok=True)
        shutil.copy(GUEST / "systemctl", tools / "systemctl")
        (tools / "aws").write_text(f'#!/bin/sh\nexec {sys.executable} -m awscli "$@"\n')
        for tool in tools.iterdir():
            tool.chmod(0o755)

    def command(self, namespace: str) -> list[str]:
        python = sys.executable
        prefix = Path(sys.prefix).resolve()
        command = [
            "nsenter", f"--net=/run/netns/{namespace}", "--",
            "bwrap",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/bin", "/bin",
            "--symlink", "usr/sbin", "/sbin",
            "--symlink", "usr/lib", "/lib",
        ]
        if Path("/usr/lib64").exists():
            command += ["--symlink", "usr/lib64", "/lib64"]
        for name in WRITABLE:
            command += ["--bind", str(self.root / name), f"/{name}"]
        if not str(prefix).startswith("/usr/"):
            command += ["--ro-bind", str(prefix), str(prefix)]
        command += ["--ro-bind", str(self.folder / "tools"), "/usr/local/sbin"]
        if Path("/usr/bin/systemctl").exists():
            command += ["--ro-bind", str(self.folder / "tools" / "systemctl"), "/usr/bin/systemctl"]
        command += [
            "--proc", "/proc",
            "--dev", "/dev",
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--hostname", self.hostname,
            "--clearenv",
            "--setenv", "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--setenv", "LOCALCLOUD_PYTHON", python,
            "--setenv", "HOME", "/root",
            "--chdir", "/",
            python, "/run/localcloud/init.py",
        ]
        return command

    def start(self, namespace: str, lifeline: int) -> None:
        """`lifeline`: the read end of a pipe whose write end only the local cloud holds;
        init powers the instance off when it closes (the cloud died, even by SIGKILL)."""
        log = open(self.folder / "sandbox.log", "ab")
        command = self.command(namespace)
        self.process = subprocess.Popen(
            command[:-2] + ["--setenv", "LOCALCLOUD_LIFELINE", str(lifeline)] + command[-2:],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            pass_fds=(lifeline,),
        )
        log.close()

    def poweroff(self, timeout: float) -> None:
        """Asks init to stop the units (SIGTERM, then SIGKILL after each unit's
        TimeoutStopSec) and waits; kills the sandbox when it does not end in time."""
        if self.process is None or self.process.poll() is not None:
            return
        import json
        import socket

        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(2)
                conn.connect(str(self.control))
                conn.sendall(json.dumps({"poweroff": True}).encode() + b"\n")
                conn.recv(1024)
        except OSError:
            pass
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            # The process group holds bwrap, the pid 1 it forks into the sandbox's pid
            # namespace, and init: when that pid 1 dies, the kernel kills every other
            # process of the namespace (units run in sessions of their own).
            os.killpg(self.process.pid, 9)
            self.process.wait()
