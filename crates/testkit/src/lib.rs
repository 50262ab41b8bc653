//! Test support, used only as a dev-dependency: the external servers tests start
//! (Prometheus, VictoriaMetrics, Alertmanager, redis-server, Go test programs).
//!
//! Tests run in parallel, so a port must never be picked by binding, dropping and reusing it:
//! another test can take it in between. A server here is started on port 0 and its real port
//! is learned afterwards, from its log or from `/proc`. What a test starts is stopped on every
//! exit: the child is killed on drop and its folder removed on drop.

use std::collections::{HashSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// A temporary folder, unique per process and call, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ballast-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How the real port of a server started on port 0 is learned.
pub enum Port {
    /// From the first line of its output (stdout or stderr) that this finds a port in.
    Log(fn(&str) -> Option<u16>),
    /// From `/proc`: the one TCP socket in LISTEN state among the child's descriptors (for
    /// programs that do not say where they listen).
    Proc,
}

/// Finds `address=HOST:PORT` in Prometheus' (and exporter-toolkit's) `msg="Listening on"`.
pub fn prometheus_listening(line: &str) -> Option<u16> {
    if !line.contains("msg=\"Listening on\"") {
        return None;
    }
    let address = line.split("address=").nth(1)?.split_whitespace().next()?;
    address.rsplit(':').next()?.parse().ok().filter(|&p| p != 0)
}

/// A running external server, killed on drop.
pub struct Server {
    child: Child,
    pub port: u16,
    log: Log,
}

type Log = Arc<Mutex<VecDeque<String>>>;

/// How much of a server's output is kept for failure messages.
const LOG_LINES: usize = 40;

/// Why a server did not come up.
#[derive(Debug)]
pub struct StartError {
    pub program: String,
    pub status: Option<ExitStatus>,
    pub log: String,
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(s) => write!(f, "{} exited ({s}) before listening", self.program)?,
            None => write!(f, "{} did not listen in time", self.program)?,
        }
        write!(f, "; its last output:\n{}", self.log)
    }
}

impl std::error::Error for StartError {}

impl Server {
    /// Starts `program` (which must be told to listen on port 0 by `args`) and waits up to
    /// `deadline` for its port. Panics when it cannot, with the program's output.
    pub async fn start(program: &str, args: &[String], port: Port, deadline: Duration) -> Server {
        Server::try_start(program, args, port, deadline)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`Server::start`], but a program that exits first (a port it was given is taken)
    /// or never listens is an error the caller can retry.
    pub async fn try_start(
        program: &str,
        args: &[String],
        port: Port,
        deadline: Duration,
    ) -> Result<Server, StartError> {
        Server::try_start_with_env(program, args, &[], port, deadline).await
    }

    /// As [`Server::try_start`], with `env` added to the child's environment (a Go program's
    /// `GOGC`, a token the program reads from a variable rather than its arguments).
    pub async fn try_start_with_env(
        program: &str,
        args: &[String],
        env: &[(&str, &str)],
        port: Port,
        deadline: Duration,
    ) -> Result<Server, StartError> {
        let mut child = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{program} must be installed (scripts/test.sh installs it): {e}")
            });
        let log: Log = Arc::default();
        let (found_tx, mut found_rx) = tokio::sync::mpsc::unbounded_channel();
        let finder = match port {
            Port::Log(find) => Some(find),
            Port::Proc => None,
        };
        // Output is always drained: a child blocked on a full pipe stops answering.
        drain(
            child.stdout.take().unwrap(),
            log.clone(),
            finder,
            found_tx.clone(),
        );
        drain(child.stderr.take().unwrap(), log.clone(), finder, found_tx);
        let pid = child.id().expect("a child just started has a pid");
        let started = Instant::now();
        let failed = |child: &mut Child, log: &Log| StartError {
            program: program.to_string(),
            status: child.try_wait().ok().flatten(),
            log: tail(log),
        };
        loop {
            if let Some(status) = child.try_wait().ok().flatten() {
                // Let the drains catch the last words.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Err(StartError {
                    program: program.to_string(),
                    status: Some(status),
                    log: tail(&log),
                });
            }
            let port = match finder {
                Some(_) => found_rx.try_recv().ok(),
                None => match listening_ports(pid).as_slice() {
                    [] => None,
                    [one] => Some(*one),
                    many => panic!("{program} listens on several ports: {many:?}"),
                },
            };
            if let Some(port) = port {
                return Ok(Server { child, port, log });
            }
            if started.elapsed() > deadline {
                return Err(failed(&mut child, &log));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn addr(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.port).into()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The last lines the server wrote.
    pub fn log(&self) -> String {
        tail(&self.log)
    }

    /// Waits until `GET path` answers 200 (Prometheus' `/-/ready` answers 503 until then).
    pub async fn wait_http_ok(&self, path: &str, deadline: Duration) {
        let started = Instant::now();
        loop {
            if http_status(self.addr(), path).await == Some(200) {
                return;
            }
            assert!(
                started.elapsed() < deadline,
                "{} did not answer 200 within {deadline:?}; its last output:\n{}",
                self.url() + path,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills the server and waits until it is gone (its port is free once this returns).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

fn tail(log: &Log) -> String {
    let lines = log.lock().unwrap();
    lines.iter().cloned().collect::<Vec<_>>().join("\n")
}

fn drain(
    out: impl AsyncRead + Unpin + Send + 'static,
    log: Log,
    find: Option<fn(&str) -> Option<u16>>,
    found: tokio::sync::mpsc::UnboundedSender<u16>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(out).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(port) = find.and_then(|f| f(&line)) {
                let _ = found.send(port);
            }
            let mut log = log.lock().unwrap();
            if log.len() == LOG_LINES {
                log.pop_front();
            }
            log.push_back(line);
        }
    });
}

/// The status code of `GET path` on `addr` (HTTP/1.0, so the server closes), if any.
pub async fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .ok()
        .flatten()
}

/// The ports `pid` listens on over TCP (IPv4 or IPv6): its socket inodes in
/// `/proc/PID/fd` matched against the LISTEN (`0A`) rows of `/proc/net/tcp` and `tcp6`.
pub fn listening_ports(pid: u32) -> Vec<u16> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let inodes: HashSet<String> = fds
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?;
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_string(),
            )
        })
        .collect();
    let mut ports: Vec<u16> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|row| {
                    let columns: Vec<&str> = row.split_whitespace().collect();
                    let (local, state, inode) = (columns.get(1)?, columns.get(3)?, columns.get(9)?);
                    if *state != "0A" || !inodes.contains(*inode) {
                        return None;
                    }
                    u16::from_str_radix(local.rsplit(':').next()?, 16).ok()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// A port to offer a program that cannot listen on port 0 (redis-server: `--port 0` turns
/// TCP off). It is below the kernel's ephemeral range, so no test's `bind(0)` is handed it;
/// another program may still hold it, so the caller must retry on a new one when the start
/// fails (see [`Server::try_start`]).
pub fn port_outside_ephemeral_range() -> u16 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    // From 20000: clear of well-known service ports (5432, 6379, 8080, 9090, …) and of the
    // fixed ports the example contracts use (18181–18190).
    let span = u64::from(low.saturating_sub(20_000).max(1));
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos().into());
    let mix =
        nanos ^ (u64::from(std::process::id()) << 20) ^ NEXT.fetch_add(7919, Ordering::Relaxed);
    20_000 + ((mix.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % span) as u16
}

/// Prometheus on 127.0.0.1 port 0 with `config` (a file) and `storage` (a folder that may
/// already hold blocks), ready to answer queries. `extra` is appended to its flags.
pub async fn prometheus(config: &Path, storage: &Path, extra: &[String]) -> Server {
    let mut args = vec![
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", storage.display()),
        "--web.listen-address=127.0.0.1:0".to_string(),
    ];
    args.extend_from_slice(extra);
    // Prometheus logs the port it was given.
    let server = Server::start(
        "prometheus",
        &args,
        Port::Log(prometheus_listening),
        STARTUP,
    )
    .await;
    server.wait_http_ok("/-/ready", STARTUP).await;
    server
}

/// VictoriaMetrics (single node) on 127.0.0.1 port 0 storing in `storage`, ready.
pub async fn victoria_metrics(storage: &Path, extra: &[String]) -> Server {
    let mut args = vec![
        "-httpListenAddr=127.0.0.1:0".to_string(),
        format!("-storageDataPath={}", storage.display()),
    ];
    args.extend_from_slice(extra);
    // It logs the address it was given (`:0`), not the port it got.
    let server = Server::start("victoria-metrics", &args, Port::Proc, STARTUP).await;
    server.wait_http_ok("/health", STARTUP).await;
    server
}

/// Alertmanager on 127.0.0.1 port 0 that routes every alert nowhere, with its
/// configuration and storage in `dir`, clustering off, ready.
pub async fn alertmanager(dir: &Path) -> Server {
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    let args = [
        format!("--config.file={}", config.display()),
        format!("--storage.path={}", dir.join("am-data").display()),
        "--web.listen-address=127.0.0.1:0".to_string(),
        // No cluster listener: the one port found in /proc is the web one.
        "--cluster.listen-address=".to_string(),
    ];
    let server = Server::start("prometheus-alertmanager", &args, Port::Proc, STARTUP).await;
    server.wait_http_ok("/-/ready", STARTUP).await;
    server
}

/// How long a server may take to listen and become ready: generous, as a busy machine
/// running the suite in parallel is slow to start a Go binary.
const STARTUP: Duration = Duration::from_secs(60);

/// A loopback port where nothing listens, for as long as this is held: a socket bound to it
/// but not listening, so connections are refused and no other test can take the port (as
/// binding, dropping and reusing a port would allow).
pub struct RefusedPort {
    _socket: tokio::net::TcpSocket,
    pub port: u16,
}

impl RefusedPort {
    pub fn new() -> RefusedPort {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind((Ipv4Addr::LOCALHOST, 0).into()).unwrap();
        let port = socket.local_addr().unwrap().port();
        RefusedPort {
            _socket: socket,
            port,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.port).into()
    }
}

impl Default for RefusedPort {
    fn default() -> Self {
        RefusedPort::new()
    }
}

/// The `main.go` of one of the shared Go test programs in `crates/testkit/go/NAME/`
/// (`planted`: a service with one planted cause of instability, for the profile tests;
/// `gcpause`: a service whose collector is its problem, serving ballast's Go integration's
/// `/metrics` and `/admin/gc`, for the heal tests).
pub fn go_program(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("go")
        .join(name)
        .join("main.go")
}

/// Finds the port in a `listening on HOST:PORT` line (the shared Go programs print one).
pub fn listening_on(line: &str) -> Option<u16> {
    let address = line.trim().strip_prefix("listening on ")?;
    address.rsplit(':').next()?.parse().ok().filter(|&p| p != 0)
}

/// Builds the Go program `source` (a `main.go`) into `dir/name` with the system's Go: no
/// module downloads, caches under `dir`. It builds in `source`'s folder, so a program with a
/// `go.mod` there (gcpause) gets its `replace` of ballast's Go integration
/// (`integrations/go`, in this repository); one without is built standard-library only. Panics with what to do
/// when Go is missing or the build fails (`scripts/test.sh` installs Debian's golang-go).
pub fn go_build(source: &Path, dir: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("the build folder can be made");
    let out = dir.join(name);
    let status = std::process::Command::new("go")
        .current_dir(source.parent().expect("a main.go is in a folder"))
        .arg("build")
        .arg("-o")
        .arg(&out)
        .arg(source)
        // No module downloads, no writes outside the test's folder.
        .env("GOCACHE", dir.join("gocache"))
        .env("GOPATH", dir.join("gopath"))
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .status()
        .expect("go must be installed (scripts/test.sh installs golang-go)");
    assert!(status.success(), "go build {} failed", source.display());
    out
}
