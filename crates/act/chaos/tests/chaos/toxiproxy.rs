//! What Toxiproxy's own API test suite (api_test.go, through its Go client) checks beyond
//! routes and JSON shapes: the request-id header, `/version` as Toxiproxy writes it, the
//! bind error of a port in use, and the `noop` toxic.

use super::support::*;
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::net::SocketAddr;

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .unwrap()
    }
}

async fn call(api: SocketAddr, method: &str, path: &str, body: Value) -> Answer {
    let stream = tokio::net::TcpStream::connect(api).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let body = match body {
        Value::Null => Bytes::new(),
        value => Bytes::from(value.to_string()),
    };
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "chaos")
        .header("user-agent", "toxiproxy-cli")
        .body(Full::new(body))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_a_fresh_request_id() {
    let server = chaos(vec![]).await;
    let api = server.api_addr().unwrap();
    let mut ids = Vec::new();
    for (method, path) in [
        ("GET", "/version"),
        ("GET", "/version"),
        ("GET", "/proxies"),
        ("GET", "/proxies/nope"),
        ("POST", "/reset"),
    ] {
        let answer = call(api, method, path, Value::Null).await;
        let id = answer.header("x-toxiproxy-request-id").to_string();
        // An xid, as Toxiproxy's: 20 characters of lowercase base32hex.
        assert_eq!(id.len(), 20, "{id}");
        assert!(
            id.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'v').contains(&c)),
            "{id}"
        );
        ids.push(id);
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_is_plain_and_ballasts_own_is_a_header() {
    let server = chaos(vec![]).await;
    let answer = call(server.api_addr().unwrap(), "GET", "/version", Value::Null).await;
    assert_eq!(answer.status, 200);
    assert_eq!(&answer.body[..], b"{\"version\": \"2.12.0\"}\n");
    assert_eq!(
        answer.header("content-type"),
        "application/json;charset=utf-8"
    );
    assert_eq!(ballast_chaos::API_VERSION, "2.12.0");
    assert_eq!(
        answer.header("x-ballast-version"),
        env!("CARGO_PKG_VERSION")
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_is_gos_bind_error() {
    let server = chaos(vec![]).await;
    let api = server.api_addr().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let expected = json!({
        "error": format!("listen tcp 127.0.0.1:{port}: bind: address already in use"),
        "status": 500,
    });
    // A host name shows as the address it resolved to (IPv4 first), as Go prints it.
    for listen in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        let answer = call(
            api,
            "POST",
            "/proxies",
            json!({"name": "second", "listen": listen, "upstream": "127.0.0.1:9"}),
        )
        .await;
        assert_eq!((answer.status, answer.json()), (500, expected.clone()));
        assert!(answer.body.ends_with(b"}\n"), "{:?}", answer.body);
        let missing = call(api, "GET", "/proxies/second", Value::Null).await;
        assert_eq!(missing.status, 404, "a proxy that cannot bind is not kept");
    }
    drop(taken);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noop_is_accepted_listed_and_changes_nothing() {
    let (upstream, _task) = bulk_server().await;
    let server = chaos(vec![]).await;
    let api = server.api_addr().unwrap();
    let created = call(
        api,
        "POST",
        "/proxies",
        json!({"name": "db", "listen": "127.0.0.1:0", "upstream": upstream.to_string()}),
    )
    .await;
    assert_eq!(created.status, 201);
    let listen: SocketAddr = created.json()["listen"].as_str().unwrap().parse().unwrap();

    // The Go client's body for AddToxic("foobar", "noop", "", 1, nil).
    let added = call(
        api,
        "POST",
        "/proxies/db/toxics",
        json!({"name": "foobar", "type": "noop", "stream": "", "toxicity": 1, "attributes": null}),
    )
    .await;
    let noop = json!({"name": "foobar", "type": "noop", "stream": "downstream", "toxicity": 1.0,
                      "attributes": {}});
    assert_eq!((added.status, added.json()), (200, noop.clone()));
    let half = call(
        api,
        "POST",
        "/proxies/db/toxics",
        json!({"type": "noop", "stream": "upstream", "toxicity": 0.5}),
    )
    .await;
    assert_eq!(half.status, 200);
    let upstream_noop = json!({"name": "noop_upstream", "type": "noop", "stream": "upstream",
                               "toxicity": 0.5, "attributes": {}});
    let listed = call(api, "GET", "/proxies/db/toxics", Value::Null).await;
    assert_eq!(listed.json(), json!([upstream_noop, noop]));
    let shown = call(api, "GET", "/proxies/db/toxics/foobar", Value::Null).await;
    assert_eq!(shown.json(), noop);
    // No attributes to set: a typo is refused, as for every other toxic.
    let typo = call(
        api,
        "POST",
        "/proxies/db/toxics",
        json!({"name": "typo", "type": "noop", "attributes": {"latency": 5}}),
    )
    .await;
    assert_eq!(typo.status, 400);

    // Both ways at once through both noops: every byte arrives, in order.
    let len = 1 << 20;
    let seed = 77;
    let run = exchange(listen, len, seed).await;
    assert_eq!(
        (run.upstream_mismatched, run.upstream_checksum),
        (0, Verifier::expected_checksum(seed, len))
    );
    assert_eq!(
        (
            run.downstream_mismatched,
            run.downstream_bytes,
            run.downstream_checksum
        ),
        (0, len, Verifier::expected_checksum(seed ^ 1, len))
    );
    server.shutdown().await;
}
