//! The gRPC classifier against a real tonic server and client over loopback.
//!
//! No protoc: the messages are prost derives and the service is wired by hand with tonic's
//! own `server::Grpc` (unary and server-streaming handling) and `client::Grpc`, so what
//! goes over the wire is exactly what tonic sends: an error returned by a unary handler as
//! a trailers-only response (`grpc-status` in the headers), OK unary calls and streams with
//! the status in the HTTP/2 trailers after the messages.
// tonic's handlers and streams carry `Result<_, tonic::Status>`; its size is tonic's.
#![allow(clippy::result_large_err)]

use ballast_tower::breaker::{
    BreakerConfig, BreakerHandle, GrpcBreaker, State, StaticThresholds, Thresholds,
};
use ballast_tower::grpc::{GrpcClassifier, GrpcCodes};
use ballast_tower::metrics::{HttpMetrics, MetricsConfig, MetricsEndpoint, SloConfig};
use http::uri::PathAndQuery;
use prometheus_client::registry::Registry;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio_stream::{Stream, StreamExt};
use tonic::codec::ProstCodec;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tower::{Layer, ServiceExt};

/// What the client asks the server to do.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Ask {
    /// The status code to end with (0: OK).
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// Messages streamed before the status (`Stream` only).
    #[prost(uint32, tag = "2")]
    pub messages: u32,
    /// Never end the stream after the messages (`Stream` only).
    #[prost(bool, tag = "3")]
    pub hang: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Reply {
    #[prost(uint32, tag = "1")]
    pub n: u32,
}

const CALL: &str = "/ballast.test.Probe/Call";
const STREAM: &str = "/ballast.test.Probe/Stream";
const NOWHERE: &str = "/ballast.test.Probe/Nowhere";

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type Replies = Pin<Box<dyn Stream<Item = Result<Reply, Status>> + Send>>;

/// The server: tonic's unary and server-streaming handling, routed by hand.
#[derive(Clone)]
struct Probe;

impl tower::Service<http::Request<tonic::body::Body>> for Probe {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<Reply, Ask>::default());
            Ok(match request.uri().path() {
                CALL => grpc.unary(tower::service_fn(unary), request).await,
                STREAM => {
                    grpc.server_streaming(tower::service_fn(streaming), request)
                        .await
                }
                _ => Status::unimplemented("no such method").into_http(),
            })
        })
    }
}

async fn unary(request: tonic::Request<Ask>) -> Result<tonic::Response<Reply>, Status> {
    match request.into_inner().code {
        0 => Ok(tonic::Response::new(Reply { n: 1 })),
        code => Err(Status::new(Code::from(code), "asked for")),
    }
}

async fn streaming(request: tonic::Request<Ask>) -> Result<tonic::Response<Replies>, Status> {
    let ask = request.into_inner();
    let mut items: Vec<Result<Reply, Status>> =
        (0..ask.messages).map(|n| Ok(Reply { n })).collect();
    if ask.code != 0 {
        items.push(Err(Status::new(Code::from(ask.code), "after the messages")));
    }
    let replies = tokio_stream::iter(items);
    Ok(tonic::Response::new(if ask.hang {
        Box::pin(replies.chain(tokio_stream::pending()))
    } else {
        Box::pin(replies)
    }))
}

/// A tonic server on loopback with the gRPC metrics (one SLO, `api`, over every route).
struct Server {
    addr: SocketAddr,
    metrics: HttpMetrics,
    endpoint: MetricsEndpoint,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(classifier: GrpcClassifier) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = MetricsConfig {
            slos: vec![SloConfig::new("api", Duration::from_secs(5), 0.99)],
            ..Default::default()
        }
        .build()
        .unwrap();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let server = tonic::transport::Server::builder()
            .layer(metrics.grpc_layer(classifier))
            .serve_with_incoming(Probe, tonic::transport::server::TcpIncoming::from(listener));
        let task = tokio::spawn(async move {
            server.await.unwrap();
        });
        Server {
            addr,
            metrics,
            endpoint: MetricsEndpoint::new(registry),
            task,
        }
    }

    /// `/metrics`, as Prometheus scrapes it.
    async fn scrape(&self) -> String {
        let request = http::Request::get("/metrics").body(()).unwrap();
        self.endpoint
            .clone()
            .oneshot(request)
            .await
            .unwrap()
            .into_body()
    }

    async fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether each response seen had `grpc-status` in its headers (trailers-only).
type Seen = Arc<Mutex<Vec<bool>>>;

/// The channel, noting whether each response had `grpc-status` in its headers.
#[derive(Clone)]
struct Noting {
    channel: Channel,
    seen: Seen,
}

impl tower::Service<http::Request<tonic::body::Body>> for Noting {
    type Response = http::Response<tonic::body::Body>;
    type Error = tonic::transport::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.channel.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let response = self.channel.call(request);
        let seen = self.seen.clone();
        Box::pin(async move {
            let response = response.await?;
            let trailers_only = response.headers().contains_key("grpc-status");
            seen.lock().unwrap().push(trailers_only);
            Ok(response)
        })
    }
}

/// The client: the channel behind a gRPC breaker.
struct Client {
    grpc: tonic::client::Grpc<GrpcBreaker<Noting>>,
    seen: Seen,
}

impl Client {
    async fn new(server: &Server, breaker: &BreakerHandle, classifier: GrpcClassifier) -> Client {
        let seen = Seen::default();
        let channel = Noting {
            channel: server.channel().await,
            seen: seen.clone(),
        };
        Client {
            grpc: tonic::client::Grpc::new(breaker.grpc_layer(classifier).layer(channel)),
            seen,
        }
    }

    /// One unary call ending with `code`.
    async fn unary(&mut self, code: Code) -> Result<Reply, Status> {
        self.grpc.ready().await.map_err(Status::from_error)?;
        let ask = Ask {
            code: code as i32,
            ..Default::default()
        };
        let response = self
            .grpc
            .unary(
                tonic::Request::new(ask),
                PathAndQuery::from_static(CALL),
                ProstCodec::<Ask, Reply>::default(),
            )
            .await?;
        Ok(response.into_inner())
    }

    /// A stream of `messages` then `code` in the trailers (never ending if `hang`).
    async fn stream(
        &mut self,
        messages: u32,
        code: Code,
        hang: bool,
    ) -> Result<tonic::Streaming<Reply>, Status> {
        self.grpc.ready().await.map_err(Status::from_error)?;
        let ask = Ask {
            code: code as i32,
            messages,
            hang,
        };
        let response = self
            .grpc
            .server_streaming(
                tonic::Request::new(ask),
                PathAndQuery::from_static(STREAM),
                ProstCodec::<Ask, Reply>::default(),
            )
            .await?;
        Ok(response.into_inner())
    }

    /// A whole stream read: the messages and how it ended.
    async fn read_stream(&mut self, messages: u32, code: Code) -> (u32, Result<(), Status>) {
        let mut stream = match self.stream(messages, code, false).await {
            Ok(stream) => stream,
            Err(status) => return (0, Err(status)),
        };
        let mut read = 0;
        loop {
            match stream.message().await {
                Ok(Some(_)) => read += 1,
                Ok(None) => return (read, Ok(())),
                Err(status) => return (read, Err(status)),
            }
        }
    }

    /// Responses seen since the last call, and whether each was trailers-only.
    fn seen(&self) -> Vec<bool> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

/// A breaker judging 10 calls or more, tripping at 50 % failures.
fn breaker(open_for: Duration, probes: u32) -> BreakerHandle {
    BreakerConfig {
        minimum_calls: 10,
        open_for,
        half_open_probes: probes,
        thresholds: Thresholds::Static(StaticThresholds {
            failure_rate: 0.5,
            ..Default::default()
        }),
        ..Default::default()
    }
    .build()
    .unwrap()
}

fn refused(status: &Status) -> bool {
    status.message().contains("circuit breaker open")
}

#[tokio::test]
async fn the_breaker_opens_on_unavailable_bursts_but_not_on_not_found() {
    let server = Server::start(GrpcClassifier::default()).await;

    let not_found = breaker(Duration::from_secs(60), 5);
    let mut client = Client::new(&server, &not_found, GrpcClassifier::default()).await;
    for _ in 0..30 {
        let status = client.unary(Code::NotFound).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
    }
    assert_eq!(
        client.seen(),
        vec![true; 30],
        "unary errors come trailers-only"
    );
    assert_eq!(not_found.state(), State::Closed);
    let stats = not_found.stats();
    assert_eq!((stats.success, stats.failure, stats.rejected), (30, 0, 0));

    let unavailable = breaker(Duration::from_secs(60), 5);
    let mut client = Client::new(&server, &unavailable, GrpcClassifier::default()).await;
    for i in 0..20 {
        let status = client.unary(Code::Unavailable).await.unwrap_err();
        if i < 10 {
            assert_eq!(status.code(), Code::Unavailable, "call {i}: {status:?}");
        } else {
            assert!(refused(&status), "call {i} should be refused: {status:?}");
        }
    }
    assert_eq!(unavailable.state(), State::Open);
    let stats = unavailable.stats();
    assert_eq!((stats.success, stats.failure, stats.rejected), (0, 10, 10));
    assert_eq!(
        client.seen().len(),
        10,
        "refused calls never reach the server"
    );
}

#[tokio::test]
async fn a_custom_failure_set_changes_what_trips_the_breaker() {
    let server = Server::start(GrpcClassifier::default()).await;
    let custom: GrpcClassifier =
        serde_json::from_str(r#"{"failure_codes": ["NOT_FOUND", 13]}"#).unwrap();
    assert_eq!(custom.failure_codes, GrpcCodes::new([5, 13]).unwrap());

    let not_found = breaker(Duration::from_secs(60), 5);
    let mut client = Client::new(&server, &not_found, custom).await;
    for _ in 0..10 {
        client.unary(Code::NotFound).await.unwrap_err();
    }
    assert_eq!(not_found.state(), State::Open, "NOT_FOUND is a failure now");
    assert!(refused(&client.unary(Code::NotFound).await.unwrap_err()));

    let unavailable = breaker(Duration::from_secs(60), 5);
    let mut client = Client::new(&server, &unavailable, custom).await;
    for _ in 0..30 {
        let status = client.unary(Code::Unavailable).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable);
    }
    assert_eq!(
        unavailable.state(),
        State::Closed,
        "UNAVAILABLE is not, in this set"
    );
    assert_eq!(unavailable.stats().success, 30);
}

#[tokio::test]
async fn ok_unary_calls_are_judged_at_their_trailers() {
    let server = Server::start(GrpcClassifier::default()).await;
    let handle = breaker(Duration::from_secs(60), 5);
    let mut client = Client::new(&server, &handle, GrpcClassifier::default()).await;
    // Headers, the message, then `grpc-status: 0` in the trailers.
    for _ in 0..5 {
        assert_eq!(client.unary(Code::Ok).await.unwrap().n, 1);
    }
    assert_eq!(client.seen(), vec![false; 5], "OK comes in the trailers");
    let stats = handle.stats();
    assert_eq!((stats.success, stats.failure), (5, 0));
}

#[tokio::test]
async fn streams_failing_in_their_trailers_open_the_breaker() {
    let server = Server::start(GrpcClassifier::default()).await;
    let handle = breaker(Duration::from_secs(60), 5);
    let mut client = Client::new(&server, &handle, GrpcClassifier::default()).await;

    // Streams ending in NOT_FOUND (a client error) after their messages: successes.
    for _ in 0..5 {
        let (read, end) = client.read_stream(2, Code::NotFound).await;
        assert_eq!((read, end.unwrap_err().code()), (2, Code::NotFound));
    }
    let mut stream = client.stream(3, Code::Unavailable, false).await.unwrap();
    assert!(stream.message().await.unwrap().is_some());
    assert_eq!(handle.stats().failure, 0, "not judged before the end");
    let end = loop {
        match stream.message().await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the stream should end in UNAVAILABLE"),
            Err(status) => break status,
        }
    };
    assert_eq!(end.code(), Code::Unavailable);
    assert_eq!(handle.stats().failure, 1, "judged at the trailers");
    drop(stream);
    for _ in 0..4 {
        let (read, end) = client.read_stream(3, Code::Unavailable).await;
        assert_eq!((read, end.unwrap_err().code()), (3, Code::Unavailable));
    }
    // 5 successes, 5 failures: 50 % of 10 calls.
    assert_eq!(handle.state(), State::Open);
    assert_eq!(
        client.seen(),
        vec![false; 10],
        "every status came in the trailers"
    );
    let (_, end) = client.read_stream(3, Code::Ok).await;
    assert!(refused(&end.unwrap_err()));
    let stats = handle.stats();
    assert_eq!((stats.success, stats.failure, stats.rejected), (5, 5, 1));
}

#[tokio::test]
async fn an_abandoned_stream_counts_as_cancelled_and_gives_its_probe_slot_back() {
    let server = Server::start(GrpcClassifier::default()).await;
    let handle = breaker(Duration::from_millis(200), 1);
    let mut client = Client::new(&server, &handle, GrpcClassifier::default()).await;
    for _ in 0..10 {
        client.unary(Code::Unavailable).await.unwrap_err();
    }
    assert_eq!(handle.state(), State::Open);
    tokio::time::sleep(Duration::from_millis(250)).await;

    // The one probe: a stream read in part, then dropped.
    let mut stream = client.stream(2, Code::Ok, true).await.unwrap();
    assert_eq!(handle.state(), State::HalfOpen);
    assert!(stream.message().await.unwrap().is_some());
    drop(stream);
    let stats = handle.stats();
    assert_eq!(
        (stats.success, stats.failure),
        (1, 10),
        "counted, as CANCELLED"
    );
    assert_eq!(
        handle.state(),
        State::HalfOpen,
        "an abandoned probe vouches for nothing"
    );

    // Its slot was given back: the next call is the probe, and closes the breaker.
    assert_eq!(client.unary(Code::Ok).await.unwrap().n, 1);
    assert_eq!(handle.state(), State::Closed);
    assert_eq!(handle.stats().rejected, 0);

    // The server saw the client go away: CANCELLED, not a failure.
    let cancelled =
        r#"grpc_requests_total{route="/ballast.test.Probe/Stream",grpc_code="CANCELLED"} 1"#;
    let mut text = String::new();
    for _ in 0..200 {
        text = server.scrape().await;
        if text.contains(cancelled) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(text.contains(cancelled), "missing {cancelled} in\n{text}");
    assert!(!text.contains(r#"grpc_request_errors_total{route="/ballast.test.Probe/Stream""#));
}

async fn unary_on(grpc: &mut tonic::client::Grpc<Channel>, path: &'static str, code: Code) -> Code {
    grpc.ready().await.unwrap();
    let ask = Ask {
        code: code as i32,
        ..Default::default()
    };
    let codec = ProstCodec::<Ask, Reply>::default();
    let result = grpc
        .unary(
            tonic::Request::new(ask),
            PathAndQuery::from_static(path),
            codec,
        )
        .await;
    result.map_or_else(|status| status.code(), |_| Code::Ok)
}

/// A whole stream of `messages` ending in `code`: the messages read and the code seen.
async fn stream_on(
    grpc: &mut tonic::client::Grpc<Channel>,
    messages: u32,
    code: Code,
) -> (u32, Code) {
    grpc.ready().await.unwrap();
    let ask = Ask {
        code: code as i32,
        messages,
        hang: false,
    };
    let codec = ProstCodec::<Ask, Reply>::default();
    let mut stream = grpc
        .server_streaming(
            tonic::Request::new(ask),
            PathAndQuery::from_static(STREAM),
            codec,
        )
        .await
        .unwrap()
        .into_inner();
    let mut read = 0;
    loop {
        match stream.message().await {
            Ok(Some(_)) => read += 1,
            Ok(None) => return (read, Code::Ok),
            Err(status) => return (read, status.code()),
        }
    }
}

/// The same traffic for every SLO test: 12 unary calls (5 OK, 4 NOT_FOUND, 3 UNAVAILABLE),
/// one call to a method the server does not have, 5 streams (2 OK, 2 UNAVAILABLE and one
/// NOT_FOUND after their messages).
async fn traffic(server: &Server) {
    let mut grpc = tonic::client::Grpc::new(server.channel().await);
    for (code, times) in [(Code::Ok, 5), (Code::NotFound, 4), (Code::Unavailable, 3)] {
        for _ in 0..times {
            assert_eq!(unary_on(&mut grpc, CALL, code).await, code);
        }
    }
    assert_eq!(
        unary_on(&mut grpc, NOWHERE, Code::Ok).await,
        Code::Unimplemented
    );
    for (messages, code, times) in [
        (3, Code::Ok, 2),
        (3, Code::Unavailable, 2),
        (2, Code::NotFound, 1),
    ] {
        for _ in 0..times {
            assert_eq!(stream_on(&mut grpc, messages, code).await, (messages, code));
        }
    }
}

fn assert_lines(text: &str, lines: &[&str]) {
    for line in lines {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

#[tokio::test]
async fn the_slo_recorder_counts_every_case_and_shows_it_on_metrics() {
    let server = Server::start(GrpcClassifier::default()).await;
    traffic(&server).await;
    // 18 calls; bad: 3 + 2 UNAVAILABLE (trailers-only and in the trailers), 1 UNIMPLEMENTED.
    let status = server.metrics.budget("api").unwrap().status();
    assert_eq!((status.good, status.total), (12, 18), "{status:?}");
    assert_eq!(server.metrics.requests(CALL), 12);
    assert_eq!(server.metrics.requests(STREAM), 5);

    let text = server.scrape().await;
    let call = r#"route="/ballast.test.Probe/Call""#;
    let stream = r#"route="/ballast.test.Probe/Stream""#;
    let nowhere = r#"route="/ballast.test.Probe/Nowhere""#;
    assert_lines(
        &text,
        &[
            &format!(r#"grpc_requests_total{{{call},grpc_code="OK"}} 5"#),
            &format!(r#"grpc_requests_total{{{call},grpc_code="NOT_FOUND"}} 4"#),
            &format!(r#"grpc_requests_total{{{call},grpc_code="UNAVAILABLE"}} 3"#),
            &format!(r#"grpc_request_errors_total{{{call},grpc_code="UNAVAILABLE"}} 3"#),
            &format!(r#"grpc_requests_total{{{stream},grpc_code="OK"}} 2"#),
            &format!(r#"grpc_requests_total{{{stream},grpc_code="UNAVAILABLE"}} 2"#),
            &format!(r#"grpc_request_errors_total{{{stream},grpc_code="UNAVAILABLE"}} 2"#),
            &format!(r#"grpc_requests_total{{{stream},grpc_code="NOT_FOUND"}} 1"#),
            &format!(r#"grpc_requests_total{{{nowhere},grpc_code="UNIMPLEMENTED"}} 1"#),
            &format!(r#"grpc_request_errors_total{{{nowhere},grpc_code="UNIMPLEMENTED"}} 1"#),
            &format!(r#"grpc_request_duration_seconds_count{{{call},grpc_code="OK"}} 5"#),
            r#"ballast_slo_requests_total{slo="api"} 18"#,
            r#"ballast_slo_good_total{slo="api"} 12"#,
        ],
    );
    let errors = format!(r#"grpc_request_errors_total{{{call},grpc_code="NOT_FOUND"}}"#);
    assert!(
        !text.contains(&errors),
        "NOT_FOUND is no failure by default:\n{text}"
    );
}

#[tokio::test]
async fn a_custom_failure_set_changes_what_the_slo_counts_as_bad() {
    let custom = GrpcClassifier::new(GrpcCodes::from_names(["NOT_FOUND"]).unwrap());
    let server = Server::start(custom).await;
    traffic(&server).await;
    // Bad now: the 4 + 1 NOT_FOUND only.
    let status = server.metrics.budget("api").unwrap().status();
    assert_eq!((status.good, status.total), (13, 18), "{status:?}");
    let text = server.scrape().await;
    assert_lines(
        &text,
        &[
            r#"grpc_request_errors_total{route="/ballast.test.Probe/Call",grpc_code="NOT_FOUND"} 4"#,
            r#"grpc_request_errors_total{route="/ballast.test.Probe/Stream",grpc_code="NOT_FOUND"} 1"#,
            r#"ballast_slo_good_total{slo="api"} 13"#,
        ],
    );
    assert!(!text.contains(
        r#"grpc_request_errors_total{route="/ballast.test.Probe/Call",grpc_code="UNAVAILABLE"}"#
    ));
}
