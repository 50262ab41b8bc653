//! A loopback stand-in for the Kubernetes API server, for kube's real client.
//!
//! There is no API server on the test machines (no kind, no container engine), so this server
//! answers each request with a recorded response: the JSON files in `tests/fixtures/`, written
//! from the published Kubernetes API reference in the shape the API server returns (objects
//! with `metadata.resourceVersion`/`generation`/`uid`, lists with `ownerReferences` and
//! `pod-template-hash`, the `Scale` subresource, `Status` objects for errors). It records every
//! request (method, path, query, content type, authorization, body) for the tests to check the
//! exact request sent, and [`strict`] checks a body against k8s-openapi's types (generated from
//! the published OpenAPI schema), refusing fields those types do not know.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use ballast_testkit::TempDir;
use serde::de::DeserializeOwned;

/// One request as the server got it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} {}: body is not JSON ({e}): {}",
                self.method,
                self.path,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn is_watch(&self) -> bool {
        self.query
            .get("watch")
            .is_some_and(|v| v == "true" || v == "1")
    }
}

/// An answer: a status and a fixture, or a watch held open with no events.
#[derive(Debug, Clone)]
pub enum Reply {
    Fixture(u16, &'static str),
    HoldWatch,
}

type Routes = HashMap<(String, String), VecDeque<Reply>>;

struct Shared {
    routes: Mutex<Routes>,
    requests: Mutex<Vec<Recorded>>,
}

pub struct ApiServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    dir: TempDir,
}

/// A fixture's text.
pub fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fixture parsed (strictly) as a k8s-openapi type.
pub fn fixture_as<T: DeserializeOwned>(name: &str) -> T {
    strict(fixture(name).as_bytes())
}

/// Parses `body` as `T`, failing on any field `T` does not have (k8s-openapi's own
/// Deserialize impls skip unknown fields; this does not).
pub fn strict<T: DeserializeOwned>(body: &[u8]) -> T {
    let mut unknown = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_ignored::deserialize(&mut de, |path| unknown.push(path.to_string()))
        .unwrap_or_else(|e| {
            panic!(
                "not a {}: {e}: {}",
                std::any::type_name::<T>(),
                String::from_utf8_lossy(body)
            )
        });
    assert!(
        unknown.is_empty(),
        "fields unknown to {}: {unknown:?} in {}",
        std::any::type_name::<T>(),
        String::from_utf8_lossy(body)
    );
    value
}

impl ApiServer {
    /// Serves `routes`: (method, path) → replies in order, the last one repeated. A watch is
    /// routed as method `WATCH`. Anything else answers the API server's 404 Status.
    pub async fn start(routes: Vec<(&str, &str, Vec<Reply>)>) -> ApiServer {
        let mut table = Routes::new();
        for (method, path, replies) in routes {
            assert!(!replies.is_empty());
            table.insert((method.to_string(), path.to_string()), replies.into());
        }
        let shared = Arc::new(Shared {
            routes: Mutex::new(table),
            requests: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        ApiServer {
            addr,
            shared,
            dir: TempDir::new("kube-api"),
        }
    }

    /// Writes a kubeconfig for this server (context `test`, namespace `prod`, a bearer token).
    pub fn kubeconfig(&self) -> PathBuf {
        let path = self.dir.path().join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: http://{}\n\
             contexts:\n- name: test\n  context:\n    cluster: test\n    user: healer\n    namespace: prod\n\
             - name: other\n  context:\n    cluster: test\n    user: healer\n\
             current-context: test\nusers:\n- name: healer\n  user:\n    token: test-token\n",
            self.addr
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    pub async fn kube(&self) -> ballast_kube::Kube {
        ballast_kube::KubeConfig {
            kubeconfig: Some(self.kubeconfig()),
            ..Default::default()
        }
        .build()
        .await
        .unwrap()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The requests, without watches, as `METHOD path` lines.
    pub fn calls(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| !r.is_watch())
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query: BTreeMap<String, String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
    let recorded = Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        query,
        content_type: header("content-type"),
        authorization: header("authorization"),
        body: body.to_vec(),
    };
    let key = (
        if recorded.is_watch() {
            "WATCH".to_string()
        } else {
            recorded.method.clone()
        },
        recorded.path.clone(),
    );
    shared.requests.lock().unwrap().push(recorded);
    let reply = {
        let mut routes = shared.routes.lock().unwrap();
        match routes.get_mut(&key) {
            Some(queue) if queue.len() > 1 => queue.pop_front(),
            Some(queue) => queue.front().cloned(),
            None => None,
        }
    };
    let json = |status: u16, text: String| {
        Response::builder()
            .status(StatusCode::from_u16(status).unwrap())
            .header("content-type", "application/json")
            .body(Body::from(text))
            .unwrap()
    };
    match reply {
        Some(Reply::Fixture(status, name)) => json(status, fixture(name)),
        Some(Reply::HoldWatch) => Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(Body::from_stream(futures_util::stream::pending::<
                Result<Bytes, Infallible>,
            >()))
            .unwrap(),
        None => json(404, fixture("status-404-path.json")),
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}
