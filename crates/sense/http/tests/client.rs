//! The client against servers on loopback: HTTPS with a private CA (trusted through the
//! CA file, refused without it, accepted with `insecure`), basic auth, the body cap,
//! connections reused, no retry of a POST that is not marked repeatable.

use ballast_http::{Auth, ClientConfig, Error, Request};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server saw: request heads, and how many connections it accepted.
#[derive(Default)]
struct Seen {
    heads: std::sync::Mutex<Vec<String>>,
    connections: AtomicUsize,
}

/// Answers every request on a connection with `status` and `body` (keep-alive), over TLS
/// when an acceptor is given.
async fn serve(
    status: u16,
    body: &'static str,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> (String, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let seen = Arc::new(Seen::default());
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            log.connections.fetch_add(1, Ordering::SeqCst);
            let log = log.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            answer(stream, status, body, log).await;
                        }
                    }
                    None => answer(tcp, status, body, log).await,
                }
            });
        }
    });
    (format!("{scheme}://127.0.0.1:{}", addr.port()), seen)
}

async fn answer<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut stream: S,
    status: u16,
    body: &'static str,
    seen: Arc<Seen>,
) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buffer.len() < end + 4 + length {
                break;
            }
            buffer.drain(..end + 4 + length);
            seen.heads.lock().unwrap().push(head);
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            if stream.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A CA, and a server certificate for 127.0.0.1 signed by it.
fn private_ca(dir: &std::path::Path) -> (std::path::PathBuf, tokio_rustls::TlsAcceptor) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    (ca_file, tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

fn quick() -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_secs(5),
        retries: 0,
        ..ClientConfig::default()
    }
}

#[tokio::test]
async fn https_with_a_private_ca_file_and_not_without_it() {
    let dir = std::env::temp_dir().join(format!("ballast-http-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca_file, acceptor) = private_ca(&dir);
    let (url, _) = serve(200, "secure", Some(acceptor)).await;
    let url = url.parse().unwrap();

    let trusting = ClientConfig {
        ca_file: Some(ca_file.clone()),
        ..quick()
    }
    .build()
    .unwrap();
    assert_eq!(trusting.get_text(&url).await.unwrap(), "secure");

    let untrusting = quick().build().unwrap();
    let e = untrusting.get_text(&url).await.unwrap_err();
    assert!(
        matches!(e, Error::Unreachable { .. } | Error::Transport { .. }),
        "{e}"
    );
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");

    let insecure = ClientConfig {
        insecure: true,
        ..quick()
    }
    .build()
    .unwrap();
    assert_eq!(insecure.get_text(&url).await.unwrap(), "secure");

    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let e = ClientConfig {
        ca_file: Some(garbage),
        ..quick()
    }
    .build()
    .unwrap_err();
    assert!(e.to_string().contains("garbage.pem"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn basic_auth_on_every_request_and_connections_reused() {
    let (url, seen) = serve(200, "ok", None).await;
    let client = ClientConfig {
        auth: Some(Auth::Basic {
            username: "ops".into(),
            password: "pa:ss".into(),
        }),
        ..quick()
    }
    .build()
    .unwrap();
    let url = format!("{url}/metrics").parse().unwrap();
    for _ in 0..5 {
        assert_eq!(client.get_text(&url).await.unwrap(), "ok");
    }
    {
        let heads = seen.heads.lock().unwrap();
        assert_eq!(heads.len(), 5);
        // base64("ops:pa:ss")
        for head in heads.iter() {
            assert!(head.contains("authorization: Basic b3BzOnBhOnNz"), "{head}");
        }
    }
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1, "kept alive");
    // Credentials stay out of a request that asks so.
    let request = Request::get(url.clone()).without_auth();
    client.send(request).await.unwrap();
    let heads = seen.heads.lock().unwrap();
    assert!(!heads
        .last()
        .unwrap()
        .to_ascii_lowercase()
        .contains("authorization"));
}

#[tokio::test]
async fn a_body_over_the_cap_is_an_error_not_a_truncated_answer() {
    let (url, _) = serve(200, "0123456789abcdef", None).await;
    let client = ClientConfig {
        max_body_bytes: 10,
        ..quick()
    }
    .build()
    .unwrap();
    let e = client.get(&url.parse().unwrap()).await.unwrap_err();
    assert!(matches!(e, Error::TooLarge { limit: 10, .. }), "{e}");
}

#[tokio::test]
async fn a_post_is_not_repeated_unless_marked_repeatable() {
    let (url, seen) = serve(503, "busy", None).await;
    let client = ClientConfig {
        retries: 2,
        backoff: Duration::from_millis(10),
        ..quick()
    }
    .build()
    .unwrap();
    let url: url::Url = url.parse().unwrap();
    let once = Request::new(http::Method::POST, url.clone()).body("text/plain", "x");
    assert_eq!(client.send(once).await.unwrap().status, 503);
    assert_eq!(seen.heads.lock().unwrap().len(), 1);
    let repeatable = Request::new(http::Method::POST, url)
        .body("text/plain", "x")
        .repeatable(true);
    assert_eq!(client.send(repeatable).await.unwrap().status, 503);
    assert_eq!(seen.heads.lock().unwrap().len(), 4, "1 + 1 + 2 retries");
}

#[tokio::test]
async fn nothing_listening_is_unreachable_and_an_input_error() {
    // A socket bound but not listening: connections to it are refused, and no other test
    // can take its port while it is held.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let client = ClientConfig {
        retries: 1,
        backoff: Duration::from_millis(10),
        ..quick()
    }
    .build()
    .unwrap();
    let e = client
        .get(&format!("http://127.0.0.1:{port}/").parse().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Unreachable { .. }) && e.is_input(),
        "{e}"
    );
    assert!(e.to_string().contains("after 2 attempts"), "{e}");
}

#[test]
fn settings_are_checked() {
    for (config, field) in [
        (
            ClientConfig {
                timeout: Duration::ZERO,
                ..quick()
            },
            "timeout",
        ),
        (
            ClientConfig {
                max_body_bytes: 0,
                ..quick()
            },
            "max_body_bytes",
        ),
        (
            ClientConfig {
                retries: 99,
                ..quick()
            },
            "retries",
        ),
    ] {
        let e = config.build().unwrap_err().to_string();
        assert!(e.starts_with(field), "{e}");
    }
    let yaml: ClientConfig = serde_json::from_str(r#"{"timeout": "2s", "retries": 1}"#).unwrap();
    assert_eq!((yaml.timeout, yaml.retries), (Duration::from_secs(2), 1));
    let typo = serde_json::from_str::<ClientConfig>(r#"{"timeot": "2s"}"#).unwrap_err();
    assert!(typo.to_string().contains("timeot"), "{typo}");
}
