//! The HTTP API as Toxiproxy clients see it: paths, statuses, JSON shapes, errors.

use super::support::*;
use ballast_chaos::{ApiClient, ChaosConfig, ToxicKind};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::net::SocketAddr;

/// One request; returns the status and the body (JSON when it parses, else a string).
async fn raw(
    api: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let stream = tokio::net::TcpStream::connect(api).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "chaos");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_like_toxiproxy() {
    let (upstream, _task) = bulk_server().await;
    let server = chaos(vec![]).await;
    let api = server.api_addr().unwrap();
    let up = upstream.to_string();
    let call = |method: &'static str, path: String, body: String| async move {
        raw(api, method, &path, &body, &[]).await
    };

    let (status, version) = call("GET", "/version".into(), String::new()).await;
    assert_eq!(status, 200);
    assert_eq!(version, json!({"version": "2.12.0"}));

    let (status, created) = call(
        "POST",
        "/proxies".into(),
        json!({"name": "echo", "upstream": up}).to_string(),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["enabled"], json!(true));
    assert_eq!(created["toxics"], json!([]));
    let listen: SocketAddr = created["listen"].as_str().unwrap().parse().unwrap();
    assert!(listen.ip().is_loopback() && listen.port() != 0, "{listen}");

    let (status, err) = call(
        "POST",
        "/proxies".into(),
        json!({"name": "echo", "upstream": up}).to_string(),
    )
    .await;
    assert_eq!(
        (status, err),
        (409, json!({"error": "proxy already exists", "status": 409}))
    );
    let (status, err) = call(
        "POST",
        "/proxies".into(),
        json!({"upstream": up}).to_string(),
    )
    .await;
    assert_eq!(
        (status, err),
        (
            400,
            json!({"error": "missing required field: name", "status": 400})
        )
    );
    let (status, err) = call("POST", "/proxies".into(), "{not json".into()).await;
    assert_eq!(status, 400);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .starts_with("bad request body: "),
        "{err}"
    );
    let (status, err) = call("GET", "/proxies/nope".into(), String::new()).await;
    assert_eq!(
        (status, err),
        (404, json!({"error": "proxy not found", "status": 404}))
    );

    let toxic = json!({"type": "latency", "attributes": {"latency": 10}});
    let (status, created) = call("POST", "/proxies/echo/toxics".into(), toxic.to_string()).await;
    assert_eq!(
        status, 200,
        "Toxiproxy answers 200 to a new toxic: {created}"
    );
    assert_eq!(
        created,
        json!({"name": "latency_downstream", "type": "latency", "stream": "downstream", "toxicity": 1.0,
               "attributes": {"latency": 10, "jitter": 0}})
    );
    let (status, err) = call("POST", "/proxies/echo/toxics".into(), toxic.to_string()).await;
    assert_eq!(
        (status, err),
        (409, json!({"error": "toxic already exists", "status": 409}))
    );
    let (status, err) = call(
        "POST",
        "/proxies/echo/toxics".into(),
        json!({"type": "latency", "stream": "sideways"}).to_string(),
    )
    .await;
    assert_eq!(
        (status, err),
        (
            400,
            json!({"error": "stream was invalid, can be either upstream or downstream", "status": 400})
        )
    );
    let (status, err) = call(
        "POST",
        "/proxies/echo/toxics".into(),
        json!({"type": "lag"}).to_string(),
    )
    .await;
    assert_eq!(
        (status, err),
        (400, json!({"error": "invalid toxic type", "status": 400}))
    );

    // Update, old POST and new PATCH.
    for (method, jitter) in [("POST", 2), ("PATCH", 3)] {
        let (status, updated) = call(
            method,
            "/proxies/echo/toxics/latency_downstream".into(),
            json!({"attributes": {"jitter": jitter}}).to_string(),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            updated["attributes"],
            json!({"latency": 10, "jitter": jitter})
        );
    }
    let (status, list) = call("GET", "/proxies/echo/toxics".into(), String::new()).await;
    assert_eq!((status, list.as_array().unwrap().len()), (200, 1));
    let (status, all) = call("GET", "/proxies".into(), String::new()).await;
    assert_eq!(status, 200);
    assert_eq!(
        all["echo"]["toxics"][0]["name"],
        json!("latency_downstream")
    );

    // Disable ("down") and back, the way clients' Save() does: the whole proxy object.
    let mut proxy = all["echo"].clone();
    proxy["enabled"] = json!(false);
    let (status, down) = call("POST", "/proxies/echo".into(), proxy.to_string()).await;
    assert_eq!((status, down["enabled"].clone()), (200, json!(false)));
    let (status, _) = call("POST", "/reset".into(), String::new()).await;
    assert_eq!(status, 204);
    let (_, after) = call("GET", "/proxies/echo".into(), String::new()).await;
    assert_eq!(
        (after["enabled"].clone(), after["toxics"].clone()),
        (json!(true), json!([]))
    );

    let (status, _) = call("DELETE", "/proxies/echo/toxics/nope".into(), String::new()).await;
    assert_eq!(status, 404);
    let (status, _) = call("DELETE", "/proxies/echo".into(), String::new()).await;
    assert_eq!(status, 204);
    let (status, _) = call("DELETE", "/proxies/echo".into(), String::new()).await;
    assert_eq!(status, 404);
    let (status, _) = call("PUT", "/proxies".into(), String::new()).await;
    assert_eq!(status, 405);
    let (status, _) = call("GET", "/nothing/here".into(), String::new()).await;
    assert_eq!(status, 404);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn populate_creates_keeps_and_replaces() {
    let server = chaos(vec![]).await;
    let api = server.api_addr().unwrap();
    let body = json!([
        {"name": "a", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:6379"},
        {"name": "b", "listen": "localhost:0", "upstream": "127.0.0.1:5432", "enabled": false},
    ]);
    let (status, created) = raw(api, "POST", "/populate", &body.to_string(), &[]).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["proxies"].as_array().unwrap().len(), 2);
    assert_eq!(created["proxies"][1]["enabled"], json!(false));
    let a_listen = created["proxies"][0]["listen"].clone();
    // Same listen and upstream: kept as is.
    let again = json!([{"name": "a", "listen": a_listen, "upstream": "127.0.0.1:6379"}]);
    let (status, kept) = raw(api, "POST", "/populate", &again.to_string(), &[]).await;
    assert_eq!(
        (status, kept["proxies"][0]["listen"].clone()),
        (201, a_listen)
    );
    // Every proxy is checked before any is touched.
    let bad = json!([{"name": "c", "upstream": "127.0.0.1:1"}, {"upstream": "127.0.0.1:2"}]);
    let (status, err) = raw(api, "POST", "/populate", &bad.to_string(), &[]).await;
    assert_eq!(
        (status, err["error"].clone()),
        (400, json!("missing required field: name at proxy 2"))
    );
    assert!(server.proxy("c").await.is_err());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guards_every_endpoint() {
    let server = ChaosConfig {
        api: Some("127.0.0.1:0".parse().unwrap()),
        token: Some("s3cret".into()),
        ..Default::default()
    }
    .build()
    .await
    .unwrap();
    let api = server.api_addr().unwrap();
    for path in ["/version", "/proxies", "/metrics"] {
        let (status, body) = raw(api, "GET", path, "", &[]).await;
        assert_eq!(
            (status, body["status"].clone()),
            (401, json!(401)),
            "{path}"
        );
        let (status, _) = raw(api, "GET", path, "", &[("authorization", "Bearer wrong")]).await;
        assert_eq!(status, 401);
        let (status, _) = raw(api, "GET", path, "", &[("authorization", "Bearer s3cret")]).await;
        assert_eq!(status, 200, "{path}");
    }
    let client = ApiClient::new(&format!("http://{api}"), Some("s3cret".into())).unwrap();
    assert!(client.proxies().await.unwrap().is_empty());
    let anonymous = ApiClient::new(&format!("http://{api}"), None).unwrap();
    assert_eq!(anonymous.proxies().await.unwrap_err().status(), 401);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_api_without_a_token_refuses_to_start() {
    let err = ChaosConfig {
        api: Some("0.0.0.0:0".parse().unwrap()),
        ..Default::default()
    }
    .build()
    .await
    .err()
    .expect("refused");
    assert!(err.to_string().contains("token"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_are_turned_away() {
    let server = chaos(vec![]).await;
    let (status, _) = raw(
        server.api_addr().unwrap(),
        "POST",
        "/reset",
        "",
        &[("user-agent", "Mozilla/5.0")],
    )
    .await;
    assert_eq!(status, 403);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_drives_a_running_server() {
    let (upstream, _task) = bulk_server().await;
    let server = chaos(vec![]).await;
    let client = ApiClient::new(&server.api_addr().unwrap().to_string(), None).unwrap();
    let info = client
        .create_proxy("echo", "127.0.0.1:0", &upstream.to_string())
        .await
        .unwrap();
    let added = client
        .add_toxic(
            "echo",
            &toxic(json!({"type": "bandwidth", "stream": "upstream", "attributes": {"rate": 100}})),
        )
        .await
        .unwrap();
    assert!(matches!(added.kind, ToxicKind::Bandwidth(b) if b.rate == 100));
    let listed = client.proxies().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].toxics, vec![added.clone()]);
    let mut stream = echo_connection(info.listen_addr().unwrap()).await;
    echo_round_trip(&mut stream, b"through").await.unwrap();
    client.remove_toxic("echo", &added.name).await.unwrap();
    assert_eq!(
        client
            .remove_toxic("echo", &added.name)
            .await
            .unwrap_err()
            .status(),
        404
    );
    client.reset().await.unwrap();
    let metrics = raw(server.api_addr().unwrap(), "GET", "/metrics", "", &[])
        .await
        .1;
    let text = metrics.as_str().unwrap();
    assert!(
        text.contains("ballast_chaos_connections_total{proxy=\"echo\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("ballast_chaos_bytes_total{proxy=\"echo\",direction=\"upstream\"} 24"),
        "{text}"
    );
    server.shutdown().await;
}
