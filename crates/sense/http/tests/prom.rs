//! The query client against a scripted server: retries after a 503 with backoff, the
//! bearer token on every request, no retry on a PromQL error.

use ballast_http::{Auth, ClientConfig, Error, PromConfig};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves the given (status, body) answers in order, one per connection, and records each
/// request's head.
async fn scripted(answers: Vec<(u16, &'static str)>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for (status, body) in answers {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            log.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&head).into_owned());
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(response.as_bytes()).await.unwrap();
        }
    });
    (url, seen)
}

const OK: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up"},"value":[1700000000,"1"]}]}}"#;
const BAD: &str = r#"{"status":"error","errorType":"bad_data","error":"1:3: parse error: unexpected end of input"}"#;

#[tokio::test]
async fn retries_a_503_with_backoff_and_sends_the_token_every_time() {
    let (url, seen) = scripted(vec![(503, "{}"), (503, "{}"), (200, OK)]).await;
    let client = PromConfig {
        http: ClientConfig {
            auth: Some(Auth::Bearer("s3cret".into())),
            backoff: Duration::from_millis(100),
            ..ClientConfig::default()
        },
        ..PromConfig::new(url)
    }
    .build()
    .unwrap();
    let started = Instant::now();
    let values = client.query("up", None).await.unwrap();
    assert_eq!(values, vec![("up{}".to_string(), 1.0)]);
    // Waited 100 ms, then 200 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    let heads = seen.lock().unwrap();
    assert_eq!(heads.len(), 3);
    for head in heads.iter() {
        assert!(
            head.starts_with("GET /api/v1/query?query=up HTTP/1.1"),
            "{head}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("authorization: bearer s3cret"),
            "{head}"
        );
    }
}

#[tokio::test]
async fn a_promql_error_is_not_retried_and_says_what_the_server_said() {
    let (url, seen) = scripted(vec![(400, BAD), (200, OK)]).await;
    let client = PromConfig::new(url).build().unwrap();
    let e = client.query("up(", None).await.unwrap_err();
    assert!(matches!(e, Error::Query { .. }), "{e}");
    assert!(
        e.to_string().ends_with(
            "query \"up(\" failed: HTTP 400: bad_data: 1:3: parse error: unexpected end of input"
        ),
        "{e}"
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn gives_up_after_the_retries_with_the_last_status() {
    let (url, _) = scripted(vec![(503, "{}"), (503, "{}")]).await;
    let client = PromConfig {
        http: ClientConfig {
            retries: 1,
            backoff: Duration::from_millis(10),
            ..ClientConfig::default()
        },
        ..PromConfig::new(url)
    }
    .build()
    .unwrap();
    let e = client.query("up", None).await.unwrap_err();
    assert!(e.to_string().contains("HTTP 503"), "{e}");
}

/// A real Prometheus serving HTTPS with a certificate from a private CA: queried through
/// the CA file, refused without it. Prometheus listens on port 0 and its log names the
/// port it got, so parallel runs never collide.
#[tokio::test]
async fn a_real_prometheus_over_https_with_a_private_ca() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let temp = ballast_testkit::TempDir::new("http-prom-tls");
    let dir = temp.path();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    std::fs::write(
        dir.join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            dir.join("cert.pem").display(),
            dir.join("key.pem").display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        "global:\n  scrape_interval: 15s\n",
    )
    .unwrap();
    // HTTPS, so readiness is left to the client's retries below.
    let prometheus = ballast_testkit::Server::start(
        "prometheus",
        &[
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--web.config.file={}", dir.join("web.yml").display()),
            "--web.listen-address=127.0.0.1:0".into(),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
        ],
        ballast_testkit::Port::Log(ballast_testkit::prometheus_listening),
        Duration::from_secs(60),
    )
    .await;
    let address = prometheus.addr();
    let url = format!("https://{address}");

    let trusting = PromConfig {
        http: ClientConfig {
            ca_file: Some(dir.join("ca.pem")),
            retries: 10,
            backoff: Duration::from_millis(200),
            ..ClientConfig::default()
        },
        ..PromConfig::new(url.clone())
    }
    .build()
    .unwrap();
    let values = trusting.query("vector(1)", None).await.unwrap();
    assert_eq!(values, vec![("{}".to_string(), 1.0)]);

    let untrusting = PromConfig {
        http: ClientConfig {
            retries: 0,
            ..ClientConfig::default()
        },
        ..PromConfig::new(url)
    }
    .build()
    .unwrap();
    let e = untrusting.query("vector(1)", None).await.unwrap_err();
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
    drop(prometheus);
}
