//! `ballast chaos serve` as users run it, in its own process: many connections held and
//! released without leaking descriptors, a live toxic reaching all of them, and the
//! upstream killed and restarted underneath.
//!
//! The machines allow 20,000 open files per process and a proxied connection costs the
//! proxy two, so one proxy process can hold at most ~9,900 connections: this test holds
//! 9,900 through one `ballast` process (the clients live in the test process, the
//! upstream is a private `redis-server` process).

use ballast_testkit::{Port, Server, StartError};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HELD: usize = 9_900;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A private Redis (not the shared one on 6379: this test kills it) on `port`, or on a
/// port of its own. redis-server cannot listen on port 0 (`--port 0` turns TCP off), so it
/// is offered a port outside the ephemeral range and, when another program holds that one,
/// started again on a new one.
async fn start_redis(port: Option<u16>) -> Result<Server, StartError> {
    let mut attempts = 0;
    loop {
        let offered = port.unwrap_or_else(ballast_testkit::port_outside_ephemeral_range);
        let args: Vec<String> = [
            "--port",
            &offered.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxclients",
            "10100",
            "--daemonize",
            "no",
            "--logfile",
            "",
        ]
        .map(String::from)
        .into();
        match Server::try_start("redis-server", &args, Port::Proc, Duration::from_secs(30)).await {
            Ok(redis) => {
                assert_eq!(redis.port, offered, "{}", redis.log());
                return Ok(redis);
            }
            Err(e) if port.is_none() && attempts < 10 => {
                attempts += 1;
                println!("redis-server did not start on {offered}, trying another port: {e}");
            }
            Err(e) => return Err(e),
        }
    }
}

/// One call to the chaos API; the whole answer.
async fn api_call(api: SocketAddr, method: &str, path: &str, body: &str) -> String {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut control = TcpStream::connect(api).await.unwrap();
    control.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    control.read_to_string(&mut answer).await.unwrap();
    answer
}

/// Starts `ballast chaos serve` with one proxy to `upstream`; returns (process, API, proxy).
fn start_chaos(upstream: u16, dir: &std::path::Path) -> (Killed, SocketAddr, SocketAddr) {
    let config = dir.join("proxies.json");
    let body = serde_json::json!([{"name": "redis", "listen": "127.0.0.1:0", "upstream": format!("127.0.0.1:{upstream}")}]);
    std::fs::write(&config, body.to_string()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args(["chaos", "serve", "--api", "127.0.0.1:0", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    let (mut api, mut proxy) = (None, None);
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("ballast chaos: API on http://") {
            api = rest.split_whitespace().next().map(|a| a.parse().unwrap());
        }
        if let Some(rest) = line.trim().strip_prefix("proxy redis: ") {
            proxy = rest.split_whitespace().next().map(|a| a.parse().unwrap());
        }
        if line.starts_with("Ctrl-C") {
            break;
        }
    }
    (
        child,
        api.expect("API address printed"),
        proxy.expect("proxy address printed"),
    )
}

fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Waits until the process's open files fall to `target` (or the time is up).
async fn settle(pid: u32, target: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = open_files(pid);
        if now <= target || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn ping(stream: &mut TcpStream) -> std::io::Result<()> {
    stream.write_all(b"PING\r\n").await?;
    let mut answer = [0u8; 7];
    stream.read_exact(&mut answer).await?;
    assert_eq!(&answer, b"+PONG\r\n");
    Ok(())
}

async fn metric(api: SocketAddr, line_start: &str) -> u64 {
    let mut stream = TcpStream::connect(api).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(line_start)
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("{line_start} not in /metrics"))
}

/// Opens `n` connections through the proxy, 500 at a time, each answering a PING.
async fn open_many(proxy: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut all = Vec::with_capacity(n);
    while all.len() < n {
        let batch = (n - all.len()).min(500);
        let tasks: Vec<_> = (0..batch)
            .map(|_| {
                tokio::spawn(async move {
                    let mut stream = TcpStream::connect(proxy).await?;
                    ping(&mut stream).await?;
                    Ok::<_, std::io::Error>(stream)
                })
            })
            .collect();
        for task in tasks {
            all.push(task.await.unwrap().expect("connection through the proxy"));
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_serve_holds_9900_connections_without_leaks_and_survives_an_upstream_restart() {
    let dir = std::env::temp_dir().join(format!("ballast-chaos-conns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let redis = start_redis(None).await.unwrap();
    let redis_port = redis.port;
    let (chaos, api, proxy) = start_chaos(redis_port, &dir);
    let pid = chaos.0.id();
    let baseline = open_files(pid);

    // Hold 9,900 connections, every one proven end to end.
    let started = Instant::now();
    let mut held = open_many(proxy, HELD).await;
    let opened_in = started.elapsed();
    let during = open_files(pid);
    assert!(
        during >= baseline + 2 * HELD,
        "proxy holds {during} files for {HELD} connections"
    );
    assert_eq!(
        metric(api, "ballast_chaos_connections_active{proxy=\"redis\"}").await,
        HELD as u64
    );

    // A toxic reaches the live connections (a sample is timed).
    let answer = api_call(
        api,
        "POST",
        "/proxies/redis/toxics",
        r#"{"type":"latency","attributes":{"latency":30}}"#,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    for stream in held.iter_mut().step_by(99) {
        let t = Instant::now();
        ping(stream).await.unwrap();
        assert!(
            t.elapsed() >= Duration::from_millis(30),
            "{:?}",
            t.elapsed()
        );
    }

    // Close them all: the proxy gives every descriptor back.
    drop(held);
    let after_close = settle(pid, baseline).await;
    assert_eq!(
        after_close, baseline,
        "open files before {baseline}, after closing {after_close}"
    );

    // Upstream killed mid-test, with connections open.
    let mut open = open_many(proxy, 100).await;
    redis.stop().await;
    for stream in &mut open {
        let mut buf = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .unwrap();
        assert!(
            matches!(n, Ok(0) | Err(_)),
            "the proxy closes clients whose upstream died: {n:?}"
        );
    }
    drop(open);
    let mut refused = TcpStream::connect(proxy)
        .await
        .expect("the proxy still accepts");
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), refused.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    drop(refused);

    // Restarted on the same port: new connections work again. The port was free only
    // between the kill and now; if another program took it meanwhile, Redis comes back on a
    // new one and the proxy is pointed there.
    let _redis = match start_redis(Some(redis_port)).await {
        Ok(redis) => redis,
        Err(e) => {
            println!("redis-server could not have {redis_port} back ({e}); moving the proxy");
            let redis = start_redis(None).await.unwrap();
            let body = format!(r#"{{"upstream":"127.0.0.1:{}"}}"#, redis.port);
            let answer = api_call(api, "POST", "/proxies/redis", &body).await;
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            redis
        }
    };
    let again = open_many(proxy, 1_000).await;
    drop(again);
    let finally = settle(pid, baseline).await;
    assert_eq!(
        finally, baseline,
        "open files before {baseline}, at the end {finally}"
    );
    assert!(
        metric(
            api,
            "ballast_chaos_upstream_connect_errors_total{proxy=\"redis\"}"
        )
        .await
            >= 1
    );
    println!(
        "held {HELD} connections through one ballast process ({during} open files; {baseline} before and after), opened in {:.1}s",
        opened_in.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn ballast(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args(args)
        .env_remove("BALLAST_CHAOS_TOKEN")
        .output()
        .unwrap()
}

#[test]
fn chaos_verbs_drive_a_running_server_and_fail_with_the_right_codes() {
    let dir = std::env::temp_dir().join(format!("ballast-chaos-verbs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_chaos, api, _proxy) = start_chaos(6379, &dir);
    let api_url = format!("http://{api}");
    let with_api = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--api", &api_url]);
        ballast(&all)
    };
    let text = |out: &std::process::Output| String::from_utf8_lossy(&out.stdout).into_owned();

    let out = with_api(&["chaos", "add", "pg", "--upstream", "127.0.0.1:5432"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        text(&out).starts_with("created proxy pg on 127.0.0.1:"),
        "{}",
        text(&out)
    );
    let out = with_api(&[
        "chaos",
        "toxic",
        "add",
        "redis",
        "-t",
        "latency",
        "-a",
        "latency=25",
        "-n",
        "slow",
    ]);
    assert!(out.status.success(), "{out:?}");
    let out = with_api(&[
        "chaos",
        "toxic",
        "add",
        "pg",
        "-t",
        "http_abort",
        "-a",
        "headers.x-tenant=7",
        "--toxicity",
        "0.5",
    ]);
    assert!(out.status.success(), "{out:?}");
    let out = with_api(&["chaos", "list"]);
    let listing = text(&out);
    assert!(
        listing.contains("slow (downstream latency jitter=0 latency=25, toxicity 1)"),
        "{listing}"
    );
    assert!(
        listing.contains("http_abort_upstream (upstream http_abort headers={\"x-tenant\":\"7\"}"),
        "{listing}"
    );
    let out = with_api(&["chaos", "list", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["redis"]["toxics"][0]["attributes"]["latency"],
        serde_json::json!(25)
    );

    // Input errors (flags, 4xx answers) exit 2 with one line; an unreachable server exits 1.
    for (args, needle) in [
        (
            vec!["chaos", "toxic", "rm", "redis", "nope"],
            "toxic not found",
        ),
        (
            vec!["chaos", "toxic", "add", "redis", "-t", "lag"],
            "unknown",
        ),
        (
            vec![
                "chaos",
                "toxic",
                "add",
                "redis",
                "-t",
                "latency",
                "-a",
                "latancy=1",
            ],
            "latancy",
        ),
        (
            vec![
                "chaos", "toxic", "add", "redis", "-t", "latency", "-a", "novalue",
            ],
            "KEY=VALUE",
        ),
        (
            vec!["chaos", "add", "redis", "--upstream", "127.0.0.1:1"],
            "proxy already exists",
        ),
    ] {
        let out = with_api(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let out = ballast(&["chaos", "list", "--api", "http://127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(1));
    let out = ballast(&["chaos", "serve", "--api", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(2), "a public API needs a token");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--token"));

    let out = with_api(&["chaos", "toxic", "rm", "redis", "slow"]);
    assert!(out.status.success());
    let out = with_api(&["chaos", "reset"]);
    assert!(out.status.success());
    let listing = text(&with_api(&["chaos", "list"]));
    assert!(
        listing.lines().skip(1).all(|l| l.ends_with(" -")),
        "{listing}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
