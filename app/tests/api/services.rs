//! The real servers behind the `postgres` backend: one PostgreSQL cluster, one
//! redis-server and one moto (S3) server, shared by every test process of a run.
//!
//! nextest runs each test in its own process, so the first process to get here starts
//! the servers and records their ports in a state directory; the others, serialised by
//! a lock file, find them running and reuse them. Tests stay isolated by unique names:
//! a database, a Redis key prefix and a bucket per test. `scripts/app-test.sh` points
//! `MODU_TEST_STATE_DIR` at a fresh directory and stops the servers afterwards.

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Services {
    /// `postgres://postgres@127.0.0.1:PORT` — append `/dbname`.
    pub postgres: String,
    pub redis: String,
    pub s3_endpoint: String,
}

pub fn ensure() -> Services {
    let dir = state_dir();
    fs::create_dir_all(&dir).expect("creating the test state directory");
    let lock = File::create(dir.join("lock")).expect("creating the lock file");
    lock.lock().expect("locking the test state directory");
    let services = Services {
        postgres: format!("postgres://postgres@127.0.0.1:{}", ensure_postgres(&dir)),
        redis: format!("redis://127.0.0.1:{}", ensure_redis(&dir)),
        s3_endpoint: format!("http://127.0.0.1:{}", ensure_moto(&dir)),
    };
    lock.unlock().expect("unlocking the test state directory");
    services
}

fn state_dir() -> PathBuf {
    std::env::var_os("MODU_TEST_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("modu-app-test-services"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn recorded_port(dir: &Path, name: &str) -> Option<u16> {
    let port: u16 = fs::read_to_string(dir.join(name))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    std::net::TcpStream::connect(("127.0.0.1", port))
        .ok()
        .map(|_| port)
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start listening on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// PostgreSQL refuses to run as root; as root, run its tools as the `postgres` user.
fn pg_command(tool: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", tool]);
        c
    } else {
        Command::new(tool)
    }
}

fn ensure_postgres(dir: &Path) -> u16 {
    if let Some(port) = recorded_port(dir, "postgres.port") {
        return port;
    }
    let data = dir.join("pgdata");
    let _ = fs::remove_dir_all(&data);
    if is_root() {
        // The postgres user must be able to create its data directory here.
        run(
            Command::new("chmod").args(["1777"]).arg(dir),
            "chmod of the state directory",
        );
    }
    run(
        pg_command("initdb")
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data),
        "initdb",
    );
    let port = free_port();
    // fsync off: these clusters are thrown away; durability is not what they test.
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400",
        dir.display()
    );
    run(
        pg_command("pg_ctl")
            .args(["start", "-w", "-t", "60", "-D"])
            .arg(&data)
            .args(["-l"])
            .arg(dir.join("postgres.log"))
            .args(["-o", &options])
            .stdout(Stdio::null()),
        "pg_ctl start",
    );
    wait_for_port(port, "PostgreSQL");
    fs::write(dir.join("postgres.port"), port.to_string()).unwrap();
    port
}

fn ensure_redis(dir: &Path) -> u16 {
    if let Some(port) = recorded_port(dir, "redis.port") {
        return port;
    }
    let port = free_port();
    run(
        Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--daemonize", "yes", "--pidfile"])
            .arg(dir.join("redis.pid"))
            .arg("--logfile")
            .arg(dir.join("redis.log")),
        "redis-server",
    );
    wait_for_port(port, "redis-server");
    fs::write(dir.join("redis.port"), port.to_string()).unwrap();
    port
}

fn ensure_moto(dir: &Path) -> u16 {
    if let Some(port) = recorded_port(dir, "moto.port") {
        return port;
    }
    let port = free_port();
    let log = File::create(dir.join("moto.log")).unwrap();
    // Not waited for: it outlives this process and is stopped by the test script.
    #[allow(clippy::zombie_processes)]
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("starting moto_server (pip install 'moto[server]')");
    fs::write(dir.join("moto.pid"), child.id().to_string()).unwrap();
    wait_for_port(port, "moto_server");
    fs::write(dir.join("moto.port"), port.to_string()).unwrap();
    port
}
