"""The managed data stores' data planes: an available ElastiCache replication group is a
real redis-server per member (primary, and replicas replicating from it), an available RDS
PostgreSQL instance a real PostgreSQL, each listening in the VPC at an address of its
subnet, under the names the API reports (dns.py answers them inside the VPC, the proxy
tunnels to them from the host).

- Redis: TLS on the group's port when transit encryption is on (certificates from the
  cloud's CA, which instances trust), AUTH with the group's token when it has one, replicas
  behind the reader endpoint (the primary when there is none).
- PostgreSQL: the master user and password as created (with ManageMasterUserPassword,
  the password of the secret RDS keeps in Secrets Manager), TLS required (hostssl only, as
  RDS's rds.force_ssl does), the instance's DBName created.

The servers are started by one long-lived thread and die with the local cloud
(PR_SET_PDEATHSIG): a killed cloud leaves none behind.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import pwd
import queue
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from .netns import CLONE_NEWNET, NETNS_DIR, ip

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _entering(namespace: str, uid: int | None = None, gid: int | None = None):
    """A preexec function: enter the namespace, die with the spawning thread, drop to uid."""
    path = f"{NETNS_DIR}/{namespace}"

    def preexec() -> None:
        fd = os.open(path, os.O_RDONLY)
        _libc.setns(fd, CLONE_NEWNET)
        os.close(fd)
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if gid is not None:
            os.setgroups([])
            os.setgid(gid)
        if uid is not None:
            os.setuid(uid)

    return preexec


class Spawner:
    """Starts processes from one thread that lives as long as the local cloud, so that
    their parent-death signal fires only when the cloud dies."""

    def __init__(self) -> None:
        self.jobs: queue.Queue = queue.Queue()
        threading.Thread(target=self._run, name="spawner", daemon=True).start()

    def _run(self) -> None:
        while True:
            job, done = self.jobs.get()
            try:
                done["result"] = job()
            except BaseException as err:
                done["error"] = err
            done["event"].set()

    def call(self, job):
        done = {"event": threading.Event()}
        self.jobs.put((job, done))
        done["event"].wait()
        if "error" in done:
            raise done["error"]
        return done["result"]

    def popen(self, namespace: str, argv: list[str], log: Path, uid=None, gid=None, **extra) -> subprocess.Popen:
        def start():
            out = open(log, "ab")
            try:
                return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                        preexec_fn=_entering(namespace, uid, gid), **extra)
            finally:
                out.close()

        return self.call(start)

    def run(self, namespace: str, argv: list[str], log: Path, uid=None, gid=None, timeout: float = 120) -> None:
        process = self.popen(namespace, argv, log, uid, gid)
        if process.wait(timeout=timeout) != 0:
            raise RuntimeError(f"`{' '.join(argv)}` failed: see {log}")


class Addresses:
    """Addresses of a subnet for the stores' nodes, from its top down (moto gives instances
    addresses from the bottom up), held on the VPC router."""

    def __init__(self, router: str):
        self.router = router
        self.used: set[str] = set()
        self.lock = threading.Lock()

    def take(self, cidr: str) -> str:
        network = ipaddress.ip_network(cidr, strict=False)
        with self.lock:
            for offset in range(2, min(network.num_addresses - 4, 200)):
                address = str(network.broadcast_address - offset + 1)
                if address not in self.used:
                    self.used.add(address)
                    break
            else:
                raise RuntimeError(f"no address left in {cidr} for a data store")
        ip("addr", "add", f"{address}/32", "dev", "br0", namespace=self.router)
        return address

    def give_back(self, address: str) -> None:
        subprocess.run(["ip", "-n", self.router, "addr", "del", f"{address}/32", "dev", "br0"], capture_output=True)
        with self.lock:
            self.used.discard(address)


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_port(spawner: Spawner, router: str, address: str, port: int, timeout: float = 30) -> None:
    from .netns import socket_in

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock = socket_in(router)
        sock.settimeout(1)
        try:
            sock.connect((address, port))
            return
        except OSError:
            time.sleep(0.1)
        finally:
            sock.close()
    raise RuntimeError(f"nothing listens on {address}:{port} after {timeout:g}s")


class Stores:
    def __init__(self, network, state: Path, authority, log):
        self.network = network
        self.state = state / "stores"
        self.state.mkdir(exist_ok=True)
        self.authority = authority
        self.log = log
        self.spawner = Spawner()
        self.addresses = Addresses(network.router)
        self.lock = threading.Lock()
        self.endpoints: dict[str, tuple[str, int]] = {}  # name -> (address, port)
        self.running: dict[str, dict] = {}  # "cache:<id>" / "db:<id>" -> what it runs
        self.busy: set[str] = set()

    def resolve(self, name: str) -> tuple[str, int] | None:
        with self.lock:
            return self.endpoints.get(name.rstrip(".").lower())

    def reconcile(self, snapshot) -> None:
        wanted = {}
        for cache in snapshot.caches.values():
            if cache.status in ("available", "modifying", "snapshotting"):
                wanted[f"cache:{cache.account}:{cache.id}"] = cache
        for database in snapshot.databases.values():
            if database.status in ("available", "modifying", "backing-up") and database.engine.startswith("postgres"):
                wanted[f"db:{database.account}:{database.id}"] = database
        with self.lock:
            start = [k for k in wanted if k not in self.running and k not in self.busy]
            stop_ = [k for k in self.running if k not in wanted and k not in self.busy]
            self.busy.update(start + stop_)
        for key in start:
            threading.Thread(target=self._guarded, args=(key, self._start, wanted[key]), daemon=True).start()
        for key in stop_:
            threading.Thread(target=self._guarded, args=(key, self._stop), daemon=True).start()

    def _guarded(self, key: str, action, *args) -> None:
        try:
            action(key, *args)
        except Exception as err:
            self.log(f"{key}: {err}")
        finally:
            with self.lock:
                self.busy.discard(key)

    def _start(self, key: str, resource) -> None:
        folder = self.state / key.replace(":", "-")
        folder.mkdir(parents=True, exist_ok=True)
        if key.startswith("cache:"):
            started = self._start_cache(folder, resource)
        else:
            started = self._start_database(folder, resource)
        with self.lock:
            self.running[key] = started
            for name, endpoint in started["names"].items():
                self.endpoints[name] = endpoint
        self.log(f"{key} serves at " + ", ".join(f"{n} ({a}:{p})" for n, (a, p) in started["names"].items()))

    def _stop(self, key: str) -> None:
        with self.lock:
            started = self.running.pop(key)
            for name in started["names"]:
                self.endpoints.pop(name, None)
        for process in reversed(started["processes"]):
            stop(process)
        for address in started["addresses"]:
            self.addresses.give_back(address)
        self.log(f"{key} stopped")

    # -- Redis ---------------------------------------------------------------

    def _start_cache(self, folder: Path, cache) -> dict:
        router = self.network.router
        names = [cache.primary_endpoint, cache.reader_endpoint] + [m[1] for m in cache.members]
        tls = []
        if cache.tls:
            cert, key = self.authority.issue([n for n in names if n] + [f"*.{cache.primary_endpoint.split('.', 1)[1]}"],
                                             f"{folder.name}")
            tls = ["--tls-cert-file", str(cert), "--tls-key-file", str(key),
                   "--tls-ca-cert-file", str(self.authority.bundle), "--tls-auth-clients", "no"]
        started = {"processes": [], "addresses": [], "names": {}}
        primary_address = None
        replicas = []
        try:
            for cluster_id, name, role, cidr in sorted(cache.members, key=lambda m: m[2] != "primary"):
                address = self.addresses.take(cidr)
                started["addresses"].append(address)
                argv = ["redis-server", "--bind", address, "--save", "", "--appendonly", "no",
                        "--dir", str(folder), "--protected-mode", "no", "--daemonize", "no"]
                argv += ["--port", "0", "--tls-port", str(cache.port)] + tls if cache.tls else ["--port", str(cache.port)]
                if cache.auth_token:
                    argv += ["--requirepass", cache.auth_token, "--masterauth", cache.auth_token]
                if role != "primary" and primary_address:
                    argv += ["--replicaof", primary_address, str(cache.port)]
                    if cache.tls:
                        argv += ["--tls-replication", "yes"]
                process = self.spawner.popen(router, argv, folder / f"{cluster_id}.log")
                started["processes"].append(process)
                wait_for_port(self.spawner, router, address, cache.port)
                started["names"][name] = (address, cache.port)
                if role == "primary":
                    primary_address = address
                else:
                    replicas.append(address)
        except Exception:
            for process in started["processes"]:
                stop(process)
            for address in started["addresses"]:
                self.addresses.give_back(address)
            raise
        if primary_address:
            started["names"][cache.primary_endpoint] = (primary_address, cache.port)
            reader = replicas[0] if replicas else primary_address
            started["names"][cache.reader_endpoint] = (reader, cache.port)
        return started

    # -- PostgreSQL ------------------------------------------------------------

    def _start_database(self, folder: Path, database) -> dict:
        router = self.network.router
        postgres = pwd.getpwnam("postgres")
        binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not binaries:
            raise RuntimeError("PostgreSQL's server binaries are missing: apt-get install -y postgresql")
        bindir = binaries[-1]
        data = folder / "data"
        address = self.addresses.take(database.subnet_cidr)
        started = {"processes": [], "addresses": [address], "names": {}}
        try:
            # initdb and the server refuse root: the cluster belongs to the postgres user.
            self.state.chmod(0o711)
            self.state.parent.chmod(0o711)
            folder.chmod(0o711)
            data.mkdir(mode=0o700)
            os.chown(data, postgres.pw_uid, postgres.pw_gid)
            password_file = folder / "pwfile"
            password_file.write_text(database.password + "\n")
            os.chown(password_file, postgres.pw_uid, postgres.pw_gid)
            password_file.chmod(0o600)
            self.spawner.run(router, [str(bindir / "initdb"), "-D", str(data), "-U", database.username,
                                      "--pwfile", str(password_file), "--auth=scram-sha-256", "-E", "UTF8"],
                             folder / "initdb.log", uid=postgres.pw_uid, gid=postgres.pw_gid)
            password_file.unlink()
            cert, key = self.authority.issue([database.address], f"{folder.name}")
            for source, target in ((cert, data / "server.crt"), (key, data / "server.key")):
                shutil.copy(source, target)
                os.chown(target, postgres.pw_uid, postgres.pw_gid)
                target.chmod(0o600)
            (data / "pg_hba.conf").write_text(
                "# TLS required, as RDS's rds.force_ssl\n"
                "local all all scram-sha-256\n"
                "hostssl all all 0.0.0.0/0 scram-sha-256\n"
                "hostnossl all all 0.0.0.0/0 reject\n"
            )
            process = self.spawner.popen(
                router,
                [str(bindir / "postgres"), "-D", str(data), "-c", f"listen_addresses={address}",
                 "-c", f"port={database.port}", "-c", "ssl=on", "-c", "unix_socket_directories=" + str(data),
                 "-c", "fsync=off"],
                folder / "postgres.log", uid=postgres.pw_uid, gid=postgres.pw_gid,
            )
            started["processes"].append(process)
            wait_for_port(self.spawner, router, address, database.port)
            if database.db_name:
                env = {"PGPASSWORD": database.password, "PATH": os.environ.get("PATH", "")}
                self.spawner.call(lambda: subprocess.run(
                    [str(bindir / "createdb"), "-h", str(data), "-p", str(database.port), "-U", database.username,
                     database.db_name], env=env, check=True, capture_output=True, user=postgres.pw_uid))
        except Exception:
            for process in started["processes"]:
                stop(process)
            self.addresses.give_back(address)
            raise
        started["names"][database.address] = (address, database.port)
        return started

    def close(self) -> None:
        with self.lock:
            keys = list(self.running)
        for key in keys:
            try:
                self._stop(key)
            except Exception as err:
                self.log(f"{key}: {err}")
