use super::*;

fn status(result: Result<Route, NoRoute>) -> u16 {
    match result {
        Ok(_) => 200,
        Err(no_route) => {
            assert_eq!(no_route.response().status().as_u16(), no_route.status());
            no_route.status()
        }
    }
}

#[test]
fn paths_and_methods_map_to_toxiproxys_routes() {
    assert_eq!(route(&Method::GET, "/proxies").unwrap(), Route::ProxyIndex);
    assert_eq!(route(&Method::POST, "/populate").unwrap(), Route::Populate);
    assert_eq!(
        route(&Method::PATCH, "/proxies/my%20redis").unwrap(),
        Route::ProxyUpdate("my redis".into())
    );
    assert_eq!(
        route(&Method::DELETE, "/proxies/r/toxics/latency_downstream").unwrap(),
        Route::ToxicDelete("r".into(), "latency_downstream".into())
    );
    assert_eq!(status(route(&Method::GET, "/nope")), 404);
    assert_eq!(status(route(&Method::GET, "/proxies/")), 404);
    assert_eq!(status(route(&Method::GET, "proxies")), 404);
    assert_eq!(status(route(&Method::GET, "/proxies/a/toxics/b/c")), 404);
    assert_eq!(status(route(&Method::GET, "/reset")), 405);
    assert_eq!(status(route(&Method::PUT, "/proxies/a")), 405);
    assert_eq!(status(route(&Method::GET, "/proxies/%zz")), 400);
    assert_eq!(status(route(&Method::GET, "/proxies/%ff")), 400);
}

#[test]
fn proxy_bodies_read_like_toxiproxy() {
    let config = proxy_from_json(
        &json!({"name": "r", "upstream": "127.0.0.1:6379", "toxics": null, "extra": 1}),
        None,
    )
    .unwrap();
    assert_eq!(
        (config.listen.as_str(), config.enabled),
        ("127.0.0.1:0", true)
    );
    let err = proxy_from_json(&json!({"upstream": "h:1"}), None).unwrap_err();
    assert_eq!(err.api_message(), "missing required field: name");
    let err = populate_from_json(&json!([{"name": "a", "upstream": "h:1"}, {"upstream": "h:2"}]))
        .unwrap_err();
    assert_eq!(err.api_message(), "missing required field: name at proxy 2");
    let err = proxy_from_json(
        &json!({"name": "a", "upstream": "h:1", "enabled": "yes"}),
        None,
    )
    .unwrap_err();
    assert_eq!(
        (
            err.status(),
            err.api_message().starts_with("bad request body: enabled")
        ),
        (400, true)
    );
    let err = parse_json(b"{").unwrap_err();
    assert!(
        err.api_message().starts_with("bad request body: "),
        "{}",
        err.api_message()
    );
    let update = update_from_json(&json!({"enabled": false, "adaptive": null})).unwrap();
    assert_eq!((update.enabled, update.adaptive), (Some(false), Some(None)));
    let err = update_from_json(&json!({"adaptive": {"tiers": []}})).unwrap_err();
    assert!(err.to_string().contains("tiers"), "{err}");
}

#[test]
fn dry_runs_answer_like_the_server() {
    let cases: [(&[u8], &str, &[u8], u16); 12] = [
        (b"GET", "/version", b"", 200),
        (b"POST", "/proxies", b"", 400),
        (
            b"POST",
            "/proxies",
            br#"{"name":"a","upstream":"h:1"}"#,
            201,
        ),
        (b"POST", "/populate", br#"{"name":"a"}"#, 400),
        (b"POST", "/proxies/a/toxics", br#"{"type":"latency"}"#, 409),
        (
            b"POST",
            "/proxies/a/toxics",
            br#"{"type":"latency","name":"x"}"#,
            200,
        ),
        (b"POST", "/proxies/a/toxics", br#"{"type":"nope"}"#, 400),
        (
            b"PATCH",
            "/proxies/a/toxics/latency_downstream",
            br#"{"attributes":{"jitter":1}}"#,
            200,
        ),
        (b"PATCH", "/proxies/a/toxics/none", br#"{}"#, 404),
        (b"DELETE", "/proxies/a/toxics/slicer_upstream", b"", 204),
        (b"GET", "/x", b"", 404),
        (b"\xff", "/x", b"", 400),
    ];
    for (method, path, body, expected) in cases {
        assert_eq!(
            dry_run(method, path, body),
            expected,
            "{} {path} {}",
            String::from_utf8_lossy(method),
            String::from_utf8_lossy(body)
        );
    }
}
