//! Real servers on loopback for the live tests: Prometheus, VictoriaMetrics, Alertmanager,
//! each on port 0 (the port it got is read back) with its own temporary storage, killed
//! when dropped.

use ballast_http::{Client, ClientConfig, Request};
use std::path::Path;
use std::time::Duration;

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

pub use ballast_testkit::TempDir;

pub struct Server {
    pub url: String,
    _process: ballast_testkit::Server,
}

impl From<ballast_testkit::Server> for Server {
    fn from(process: ballast_testkit::Server) -> Server {
        Server {
            url: process.url(),
            _process: process,
        }
    }
}

/// Prometheus with `config` as its configuration, on `storage` (which may already hold
/// blocks made by promtool).
pub async fn prometheus(dir: &Path, config: &str, storage: &Path) -> Server {
    let file = dir.join("prometheus.yml");
    std::fs::write(&file, config).unwrap();
    ballast_testkit::prometheus(&file, storage, &[])
        .await
        .into()
}

pub async fn victoria_metrics(dir: &Path) -> Server {
    // Answer from raw data at once: no response cache, no latency offset.
    let flags = [
        "-search.latencyOffset=0s".into(),
        "-search.disableCache".into(),
    ];
    ballast_testkit::victoria_metrics(&dir.join("vm-data"), &flags)
        .await
        .into()
}

pub async fn alertmanager(dir: &Path) -> Server {
    ballast_testkit::alertmanager(dir).await.into()
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
