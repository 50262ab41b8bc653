//! The Go program of the DNS experiment (crates/verify/tests/go/dnsfallback), built with
//! the system's Go, resolving through these servers with Go's own resolver: with 30 %
//! SERVFAIL at its one server about 30 % of its lookups fail; with a fallback server none
//! do.

use ballast_dns::{DnsAction, DnsConfig, DnsFault, DnsServer};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const LOOKUPS: usize = 300;

fn go_present() -> bool {
    std::process::Command::new("go")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn go_build() -> PathBuf {
    let source =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../verify/tests/go/dnsfallback/main.go");
    // Under the target dir, so the build cache outlives one run.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ballast-dns-go");
    ballast_testkit::go_build(
        &source,
        &dir,
        &format!("dnsfallback-{}", std::process::id()),
    )
}

/// Starts the program; returns it and the address it listens on.
async fn start(
    binary: &Path,
    primary: &DnsServer,
    fallback: Option<&DnsServer>,
) -> (Child, String) {
    let mut command = Command::new(binary);
    command
        .env("LISTEN", "127.0.0.1:0")
        .env("LOOKUP_NAME", "db.shop.test")
        .env("DNS_PRIMARY", primary.local_addr().to_string())
        // Generous for a loaded machine, so every failure is the SERVFAIL it was sent (the
        // experiment keeps the default 300ms).
        .env("DNS_TIMEOUT", "2s")
        .env_remove("DNS_FALLBACK")
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    if let Some(fallback) = fallback {
        command.env("DNS_FALLBACK", fallback.local_addr().to_string());
    }
    let mut child = command.spawn().expect("start dnsfallback");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("dnsfallback did not start in 30 s")
        .unwrap()
        .expect("dnsfallback exited");
    let addr = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (child, addr)
}

/// `GET path` over HTTP/1.0: status and body.
async fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut response))
        .await
        .expect("no HTTP answer in 5 s")
        .unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {response:?}"));
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// How many of `LOOKUPS` lookups failed (502), checking the answers of the others.
async fn failures(addr: &str) -> usize {
    let mut failed = 0;
    for _ in 0..LOOKUPS {
        match get(addr, "/lookup").await {
            (200, body) => assert_eq!(body.trim(), "127.0.0.1"),
            (502, body) => {
                assert!(body.contains("SERVFAIL"), "{body}");
                failed += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    failed
}

async fn shop_server() -> DnsServer {
    DnsConfig {
        seed: 3,
        ..Default::default()
    }
    .record("db.shop.test", vec!["127.0.0.1".parse().unwrap()])
    .build()
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_lookups_fail_with_the_servfail_share_unless_they_fall_back() {
    if !go_present() {
        println!("skipping: go is not installed (scripts/test.sh installs golang-go)");
        return;
    }
    let binary = go_build();
    let primary = shop_server().await;
    let fallback = shop_server().await;
    primary
        .set_faults(vec![
            DnsFault::new("*.shop.test", DnsAction::ServFail).share(0.3)
        ])
        .unwrap();

    let (mut alone, addr) = start(&binary, &primary, None).await;
    assert_eq!(get(&addr, "/healthz").await.0, 200);
    let failed = failures(&addr).await;
    println!("{failed} of {LOOKUPS} lookups failed without a fallback");
    // Binomial(300, 0.3): mean 90, standard deviation 7.9.
    assert!((55..=125).contains(&failed), "{failed} of {LOOKUPS} failed");
    let stats = primary.stats();
    assert_eq!(
        stats.queries, LOOKUPS as u64,
        "one query per lookup: {stats:?}"
    );
    assert_eq!(stats.servfail, failed as u64);
    alone.kill().await.unwrap();

    let (mut with_fallback, addr) = start(&binary, &primary, Some(&fallback)).await;
    assert_eq!(failures(&addr).await, 0);
    let (p, f) = (primary.stats(), fallback.stats());
    assert_eq!(p.queries, 2 * LOOKUPS as u64);
    assert_eq!(
        f.queries,
        p.servfail - stats.servfail,
        "the fallback is asked after each failure"
    );
    with_fallback.kill().await.unwrap();

    primary.shutdown().await;
    fallback.shutdown().await;
    let _ = std::fs::remove_file(&binary);
}
