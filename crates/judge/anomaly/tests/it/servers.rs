//! Real servers on loopback for the live tests: Prometheus, VictoriaMetrics, Alertmanager,
//! each on a free port with its own temporary storage, killed when dropped.

use ballast_http::{Client, ClientConfig, Request};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An answer: status and body text.
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// The tests' own client: no retries, so a server not ready yet shows at once.
pub struct Http(Client);

impl Http {
    pub async fn get(&self, url: &str) -> Result<Reply, ballast_http::Error> {
        let r = self.0.get(&url.parse().expect("a test URL")).await?;
        Ok(Reply {
            status: r.status,
            body: r.text(),
        })
    }

    pub async fn post(
        &self,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Reply, ballast_http::Error> {
        let request = Request::new(http::Method::POST, url.parse().expect("a test URL"))
            .body(content_type, body);
        let r = self.0.send(request).await?;
        Ok(Reply {
            status: r.status,
            body: r.text(),
        })
    }

    pub fn client(&self) -> &Client {
        &self.0
    }
}

pub fn http() -> Http {
    Http(
        ClientConfig {
            timeout: Duration::from_secs(10),
            retries: 0,
            ..ClientConfig::default()
        }
        .build()
        .unwrap(),
    )
}

/// A temporary folder removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("ballast-anomaly-{name}-{}", std::process::id()));
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

pub struct Server {
    pub url: String,
    _child: Child,
}

pub fn spawn(program: &str, args: &[String]) -> Child {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{program} must be installed (scripts/test.sh installs it): {e}")
        })
}

pub async fn wait_ready(url: &str, deadline: Duration) {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if matches!(http().get(url).await, Ok(r) if r.status == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{url} did not become ready within {deadline:?}");
}

/// Prometheus with `config` as its configuration, on `storage` (which may already hold
/// blocks made by promtool).
pub async fn prometheus(dir: &Path, config: &str, storage: &Path) -> Server {
    let port = free_port();
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let child = spawn(
        "prometheus",
        &[
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", storage.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
    );
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{url}/-/ready"), Duration::from_secs(60)).await;
    Server { url, _child: child }
}

pub async fn victoria_metrics(dir: &Path) -> Server {
    let port = free_port();
    let child = spawn(
        "victoria-metrics",
        &[
            format!("-httpListenAddr=127.0.0.1:{port}"),
            format!("-storageDataPath={}", dir.join("vm-data").display()),
            // Answer from raw data at once: no response cache, no latency offset.
            "-search.latencyOffset=0s".into(),
            "-search.disableCache".into(),
        ],
    );
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{url}/health"), Duration::from_secs(30)).await;
    Server { url, _child: child }
}

pub async fn alertmanager(dir: &Path) -> Server {
    let port = free_port();
    std::fs::write(
        dir.join("alertmanager.yml"),
        "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    let child = spawn(
        "prometheus-alertmanager",
        &[
            format!("--config.file={}", dir.join("alertmanager.yml").display()),
            format!("--storage.path={}", dir.join("am-data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--cluster.listen-address=".into(),
        ],
    );
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{url}/-/ready"), Duration::from_secs(30)).await;
    Server { url, _child: child }
}

/// Imports samples into VictoriaMetrics (Prometheus text with millisecond timestamps) and
/// flushes them so queries see them at once.
pub async fn vm_import(vm: &str, metric: &str, points: &[(f64, f64)]) {
    let mut body = String::new();
    for (t, v) in points {
        body.push_str(&format!("{metric} {v} {}\n", (t * 1000.0).round() as i64));
    }
    let r = http()
        .post(
            &format!("{vm}/api/v1/import/prometheus"),
            "text/plain",
            body.into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(r.status / 100, 2, "import failed: {}", r.body);
    let r = http()
        .get(&format!("{vm}/internal/force_flush"))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Turns OpenMetrics text into TSDB blocks in `storage` (`promtool tsdb create-blocks-from`).
pub fn promtool_blocks(dir: &Path, openmetrics: &str, storage: &Path) {
    let input = dir.join("input.om");
    std::fs::write(&input, openmetrics).unwrap();
    let out = std::process::Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(storage)
        .output()
        .expect("promtool must be installed (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "promtool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
