//! Test helpers: a dependency over HTTP that can be killed and brought back, and a small
//! HTTP/1.0 client (one request per connection, so killing the server leaves nothing open).

use bytes::Bytes;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A plain HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// GET `path` from `addr` over a fresh connection, within 5 s.
pub async fn get(addr: SocketAddr, path: &str) -> std::io::Result<Answer> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
            .await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        parse(&raw).ok_or_else(|| {
            std::io::Error::other(format!(
                "malformed response: {:?}",
                String::from_utf8_lossy(&raw)
            ))
        })
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in 5 s"))?
}

fn parse(raw: &[u8]) -> Option<Answer> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Some(Answer {
        status,
        headers,
        body: body.to_string(),
    })
}

/// The dependency: answers `GET /item/{id}` with `item {id} from generation {n}`.
pub struct Dependency {
    pub addr: SocketAddr,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Dependency {
    pub async fn start() -> Dependency {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        Dependency {
            addr,
            server: Some(serve(listener, 1)),
        }
    }

    /// Kills it: the listener closes, so connections are refused.
    pub async fn kill(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    /// Brings it back on the same address (generation 2).
    pub async fn restart(&mut self) {
        // The port was ours a moment ago; binding again can race the kernel for a moment.
        for _ in 0..100 {
            if let Ok(listener) = TcpListener::bind(self.addr).await {
                self.server = Some(serve(listener, 2));
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("cannot bind {} again", self.addr);
    }
}

fn serve(listener: TcpListener, generation: u32) -> tokio::task::JoinHandle<()> {
    use axum::extract::Path;
    let app = axum::Router::new().route(
        "/item/{id}",
        axum::routing::get(move |Path(id): Path<String>| async move {
            format!("item {id} from generation {generation}")
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

/// A tower client of the dependency: `id` in, the HTTP response out.
#[derive(Clone)]
pub struct DependencyClient {
    pub addr: SocketAddr,
}

impl tower::Service<String> for DependencyClient {
    type Response = http::Response<Bytes>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, id: String) -> Self::Future {
        let addr = self.addr;
        Box::pin(async move {
            let answer = get(addr, &format!("/item/{id}")).await?;
            Ok(http::Response::builder()
                .status(answer.status)
                .body(Bytes::from(answer.body))
                .expect("valid response"))
        })
    }
}
