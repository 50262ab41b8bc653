use super::*;
use crate::toxic::set::ToxicSet;
use crate::toxic::Toxic;
use serde_json::json;

fn http_toxics(bodies: &[serde_json::Value]) -> Vec<Arc<ActiveToxic>> {
    let mut set = ToxicSet::new("test", 5);
    for body in bodies {
        set.add(Toxic::from_json(body, false).unwrap()).unwrap();
    }
    set.chain(0, true).http
}

/// Feeds client bytes; returns (forwarded bytes, earliest due, answers ready now).
fn client(
    tracker: &mut HttpTracker,
    now: Instant,
    data: &[u8],
    toxics: &[Arc<ActiveToxic>],
) -> (String, Option<Instant>, Vec<ToClient>) {
    let metrics = ProxyMetrics::default();
    let mut out = Vec::new();
    tracker.client_bytes(
        now,
        Bytes::copy_from_slice(data),
        toxics,
        &metrics,
        &mut out,
    );
    let due = out.iter().map(|(d, _)| *d).min();
    let forwarded = out
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    let mut answers = Vec::new();
    tracker.answers_due(&mut answers);
    (forwarded, due, answers)
}

/// Feeds upstream bytes; returns what the client gets, answers marked `<status>`.
fn upstream(tracker: &mut HttpTracker, data: &[u8]) -> String {
    let metrics = ProxyMetrics::default();
    let mut out = Vec::new();
    tracker.upstream_bytes(Bytes::copy_from_slice(data), &metrics, &mut out);
    render(&out)
}

fn render(out: &[ToClient]) -> String {
    out.iter()
        .map(|piece| match piece {
            ToClient::Relay(b) => String::from_utf8_lossy(b).into_owned(),
            ToClient::Answer { bytes, .. } => {
                let text = String::from_utf8_lossy(bytes);
                format!("<{}>", &text[9..12])
            }
        })
        .collect()
}

const GET_A: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
const GET_B: &[u8] = b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

#[test]
fn aborted_requests_never_reach_the_upstream_and_are_answered_in_order() {
    let toxics = http_toxics(&[json!({"type": "http_abort", "attributes": {"path_prefix": "/a"}})]);
    let mut tracker = HttpTracker::new();
    let now = Instant::now();
    // Pipelined: B, A (aborted), B.
    let mut pipelined = GET_B.to_vec();
    pipelined.extend_from_slice(GET_A);
    pipelined.extend_from_slice(GET_B);
    let (forwarded, _, answers) = client(&mut tracker, now, &pipelined, &toxics);
    let b = String::from_utf8_lossy(GET_B);
    assert_eq!(forwarded, format!("{b}{b}"));
    assert!(
        answers.is_empty(),
        "the answer waits for the first response"
    );
    // The upstream answers the two B requests, in one read; the 503 goes between them.
    let mut both = OK.to_vec();
    both.extend_from_slice(OK);
    let ok = String::from_utf8_lossy(OK);
    assert_eq!(upstream(&mut tracker, &both), format!("{ok}<503>{ok}"));
}

#[test]
fn an_abort_with_nothing_outstanding_is_answered_at_once() {
    let toxics = http_toxics(&[
        json!({"type": "http_abort", "attributes": {"status": 429, "body": "slow down"}}),
    ]);
    let mut tracker = HttpTracker::new();
    let (forwarded, _, answers) = client(&mut tracker, Instant::now(), GET_A, &toxics);
    assert_eq!(forwarded, "");
    let [ToClient::Answer { bytes, close, .. }] = answers.as_slice() else {
        panic!("one answer expected, got {answers:?}")
    };
    let text = String::from_utf8_lossy(bytes);
    assert!(
        text.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
        "{text}"
    );
    assert!(text.contains("content-length: 9\r\n") && text.ends_with("\r\n\r\nslow down"));
    assert!(text.contains("x-ballast-chaos: http_abort_upstream"));
    assert!(!close);
}

#[test]
fn request_bodies_are_skipped_with_the_aborted_request() {
    let toxics = http_toxics(&[json!({"type": "http_abort", "attributes": {"method": "POST"}})]);
    let mut tracker = HttpTracker::new();
    let now = Instant::now();
    let post = b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n";
    let (forwarded, _, answers) = client(&mut tracker, now, &post[..30], &toxics);
    assert_eq!(
        (forwarded.as_str(), answers.len()),
        ("", 0),
        "head incomplete: nothing yet"
    );
    let (forwarded, _, answers) = client(&mut tracker, now, &post[30..], &toxics);
    assert_eq!((forwarded.as_str(), answers.len()), ("", 1));
    let (forwarded, _, _) = client(&mut tracker, now, GET_B, &toxics);
    assert_eq!(forwarded, String::from_utf8_lossy(GET_B));
}

#[test]
fn delays_hold_matching_requests_and_their_bodies() {
    let toxics = http_toxics(&[
        json!({"type": "http_delay", "attributes": {"delay": 250, "headers": {"X-Tenant": "slow"}}}),
    ]);
    let mut tracker = HttpTracker::new();
    let now = Instant::now();
    let (_, due, _) = client(&mut tracker, now, GET_A, &toxics);
    assert_eq!(due, Some(now), "no header, no delay");
    let slow = b"PUT /a HTTP/1.1\r\nx-tenant: slow\r\nContent-Length: 3\r\n\r\nabc";
    let (forwarded, due, _) = client(&mut tracker, now, slow, &toxics);
    assert_eq!(forwarded, String::from_utf8_lossy(slow));
    assert_eq!(due, Some(now + Duration::from_millis(250)));
}

#[test]
fn head_requests_and_informational_responses_frame_right() {
    let toxics = http_toxics(&[json!({"type": "http_abort", "attributes": {"path_prefix": "/a"}})]);
    let mut tracker = HttpTracker::new();
    let now = Instant::now();
    let mut requests = b"HEAD /b HTTP/1.1\r\n\r\n".to_vec();
    requests.extend_from_slice(GET_A);
    client(&mut tracker, now, &requests, &toxics);
    // 100 Continue, then a HEAD answer whose Content-Length announces no body bytes.
    let response = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n";
    let out = upstream(&mut tracker, response);
    assert_eq!(out, format!("{}<503>", String::from_utf8_lossy(response)));
}

#[test]
fn non_http_bytes_are_relayed_untouched() {
    let toxics = http_toxics(&[json!({"type": "http_abort"})]);
    let mut tracker = HttpTracker::new();
    let redis = b"*1\r\n$4\r\nPING\r\n";
    let (forwarded, _, answers) = client(&mut tracker, Instant::now(), redis, &toxics);
    assert_eq!(forwarded, String::from_utf8_lossy(redis));
    assert!(answers.is_empty());
    assert_eq!(upstream(&mut tracker, b"+PONG\r\n"), "+PONG\r\n");
}

#[test]
fn toxicity_is_the_share_of_matched_requests() {
    let toxics = http_toxics(&[
        json!({"type": "http_abort", "toxicity": 0.1, "attributes": {"path_prefix": "/a"}}),
    ]);
    let mut tracker = HttpTracker::new();
    let now = Instant::now();
    let mut aborted = 0;
    for i in 0..10_000 {
        let (_, _, answers) = client(
            &mut tracker,
            now,
            if i % 2 == 0 { GET_A } else { GET_B },
            &toxics,
        );
        aborted += answers.len();
        if answers.is_empty() {
            upstream(&mut tracker, OK);
        }
    }
    // 5,000 matched requests at 10 %.
    assert!((400..600).contains(&aborted), "{aborted}");
}

#[test]
fn http10_and_expect_continue_answers_close_the_connection() {
    let toxics = http_toxics(&[json!({"type": "http_abort"})]);
    for request in [
        &b"GET / HTTP/1.0\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    ] {
        let mut tracker = HttpTracker::new();
        let (_, _, answers) = client(&mut tracker, Instant::now(), request, &toxics);
        assert!(matches!(
            answers.as_slice(),
            [ToClient::Answer { close: true, .. }]
        ));
    }
}

#[test]
fn fuzz_entry_handles_garbage() {
    fuzz_stream(
        b"GET /a HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\nx",
        b"HTTP/1.1 200 OK\r\n\r\n",
    );
    fuzz_stream(b"\0\0\0", b"");
    fuzz_stream(
        b"",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    );
}
