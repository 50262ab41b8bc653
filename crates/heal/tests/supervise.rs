//! `supervise` with real processes: restarts on request (through the healer's own
//! `restart` action), restarts after a crash, the token, and nothing left behind.

use ballast_heal::supervise::{ServiceConfig, SuperviseConfig};
use ballast_heal_policy::policy::{ActionSpec, RestartAction};
use std::time::Duration;

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

async fn status(addr: std::net::SocketAddr, token: &str) -> serde_json::Value {
    let r = reqwest::Client::new()
        .get(format!("http://{addr}/status"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<serde_json::Value>().await.unwrap()["services"][0].clone()
}

async fn pid_when(
    addr: std::net::SocketAddr,
    token: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..200 {
        let s = status(addr, token).await;
        if check(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the service did not get there: {}",
        status(addr, token).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_on_request_and_after_a_crash_and_stops_everything() {
    let mut service = ServiceConfig::new("sleeper", vec!["sleep".into(), "3600".into()]);
    service.stop_timeout = Duration::from_secs(2);
    let supervisor = SuperviseConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        token: Some("sup-token".into()),
        services: vec![service],
    }
    .build()
    .await
    .unwrap();
    let addr = supervisor.addr();
    let first = pid_when(addr, "sup-token", |s| s["pid"].is_u64()).await;
    let p1 = first["pid"].as_u64().unwrap() as u32;

    // The healer's restart action, as a policy would run it.
    std::env::set_var("BALLAST_SUPERVISE_TEST_TOKEN", "sup-token");
    let actions =
        ballast_heal::actions::Actions::new(ballast_http::ClientConfig::default().build().unwrap());
    let spec = ActionSpec::Restart(RestartAction {
        supervisor: format!("http://{addr}"),
        service: "{{ labels.job }}".into(),
        token_env: Some("BALLAST_SUPERVISE_TEST_TOKEN".into()),
        timeout: Duration::from_secs(30),
    });
    let labels = [("job".to_string(), "sleeper".to_string())].into();
    let values = ballast_heal_policy::template::Values {
        labels: Some(&labels),
        annotations: None,
        fields: Default::default(),
    };
    let done = actions.run(&spec, &values).await.unwrap();
    assert!(done.contains("restarted sleeper"), "{done}");
    let second = status(addr, "sup-token").await;
    let p2 = second["pid"].as_u64().unwrap() as u32;
    assert_ne!(p1, p2);
    assert!(!alive(p1), "the old process is gone");
    assert_eq!(second["requested_restarts"], 1);

    // A crash: started again by the supervisor itself.
    // SAFETY: kill(2) on a child of this test's supervisor.
    unsafe {
        libc::kill(p2 as i32, libc::SIGKILL);
    }
    let third = pid_when(addr, "sup-token", |s| {
        s["pid"].as_u64().is_some_and(|p| p as u32 != p2)
    })
    .await;
    assert_eq!(third["restarts"], 2, "{third}");
    assert!(
        third["last_exit"].as_str().unwrap().contains("signal: 9"),
        "{third}"
    );

    // The token, and names it does not supervise.
    let client = reqwest::Client::new();
    let anonymous = client
        .post(format!("http://{addr}/restart/sleeper"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let unknown = client
        .post(format!("http://{addr}/restart/nope"))
        .bearer_auth("sup-token")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(unknown
        .text()
        .await
        .unwrap()
        .contains("supervised: sleeper"));

    let p3 = third["pid"].as_u64().unwrap() as u32;
    supervisor.shutdown().await;
    assert!(!alive(p3), "stopping the supervisor stops its services");
}

#[tokio::test]
async fn refuses_a_control_api_beyond_loopback_without_a_token() {
    let err = SuperviseConfig {
        listen: "0.0.0.0:0".parse().unwrap(),
        token: None,
        services: vec![ServiceConfig::new("a", vec!["sleep".into(), "1".into()])],
    }
    .build()
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("give the control API a token"),
        "{err}"
    );
}
