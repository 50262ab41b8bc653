use super::*;
use crate::toxic::set::ToxicSet;
use crate::toxic::Toxic;
use serde_json::json;

/// The downstream toxics of a set holding these toxics.
fn toxics(bodies: &[serde_json::Value]) -> Vec<Arc<ActiveToxic>> {
    let mut set = ToxicSet::new("test", 9);
    for body in bodies {
        set.add(Toxic::from_json(body, false).unwrap()).unwrap();
    }
    set.chain(0, false).downstream
}

fn link_with(bodies: &[serde_json::Value], now: Instant) -> Link {
    let mut link = Link::new();
    assert_eq!(link.apply(&toxics(bodies), now), None);
    link
}

/// (offset from `now` in ms, bytes) of every queued data piece; Fin / Close as text.
fn schedule(link: &Link, now: Instant) -> Vec<(u128, String)> {
    link.queue
        .iter()
        .map(|item| {
            let at = item.due().duration_since(now).as_millis();
            match item {
                Item::Data { bytes, .. } => (at, String::from_utf8_lossy(bytes).into_owned()),
                Item::Fin { .. } => (at, "FIN".into()),
                Item::Close { end, .. } => (at, format!("{end:?}")),
            }
        })
        .collect()
}

#[test]
fn latency_delays_every_chunk_without_slowing_the_stream() {
    let now = Instant::now();
    let mut link = link_with(
        &[json!({"type": "latency", "attributes": {"latency": 50}})],
        now,
    );
    link.push_data(now, now, Bytes::from_static(b"a"));
    link.push_data(
        now + Duration::from_millis(10),
        now,
        Bytes::from_static(b"b"),
    );
    link.push_eof(now + Duration::from_millis(20));
    assert_eq!(
        schedule(&link, now),
        [(50, "a".into()), (60, "b".into()), (60, "FIN".into())]
    );
    assert_eq!(link.next_wake(), Some(now + Duration::from_millis(50)));
}

#[test]
fn bandwidth_paces_in_slices_at_the_rate() {
    let now = Instant::now();
    // 10 KB/s = 1000 bytes per 100 ms.
    let mut link = link_with(
        &[json!({"type": "bandwidth", "attributes": {"rate": 10}})],
        now,
    );
    link.push_data(now, now, Bytes::from(vec![b'x'; 4500]));
    let plan = schedule(&link, now);
    let sizes: Vec<usize> = plan.iter().map(|(_, b)| b.len()).collect();
    assert_eq!(sizes, [1000, 1000, 1000, 1000, 500]);
    let times: Vec<u128> = plan.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, [100, 200, 300, 400, 450]);
}

#[test]
fn slicer_cuts_chunks_into_pieces_spaced_by_its_delay() {
    let now = Instant::now();
    let mut link = link_with(
        &[
            json!({"type": "slicer", "attributes": {"average_size": 10, "size_variation": 3, "delay": 1000}}),
        ],
        now,
    );
    let data: Vec<u8> = (0..200u8).collect();
    link.push_data(now, now, Bytes::from(data.clone()));
    let mut joined = Vec::new();
    let mut last = None;
    for item in &link.queue {
        let Item::Data { due, bytes } = item else {
            panic!("only data expected")
        };
        assert!(bytes.len() <= 13 && !bytes.is_empty(), "{}", bytes.len());
        if let Some(previous) = last {
            assert_eq!(*due - previous, Duration::from_millis(1));
        }
        last = Some(*due);
        joined.extend_from_slice(bytes);
    }
    assert_eq!(
        joined, data,
        "slices must put the bytes back together in order"
    );
    assert!(link.queue.len() >= 200 / 13);
}

#[test]
fn limit_data_lets_n_bytes_through_then_closes() {
    let now = Instant::now();
    let mut link = link_with(
        &[json!({"type": "limit_data", "attributes": {"bytes": 10}})],
        now,
    );
    link.push_data(now, now, Bytes::from_static(b"012345"));
    assert!(link.can_read());
    link.push_data(now, now, Bytes::from_static(b"6789abc"));
    assert_eq!(
        schedule(&link, now),
        [
            (0, "012345".into()),
            (0, "6789".into()),
            (0, "Close".into())
        ]
    );
    assert!(!link.can_read(), "a closing link reads no more");
    link.push_data(now, now, Bytes::from_static(b"late"));
    assert_eq!(link.queue.len(), 3);
}

#[test]
fn timeout_drops_data_restarts_its_clock_and_closes_on_removal() {
    let now = Instant::now();
    let mut link = link_with(
        &[json!({"type": "timeout", "attributes": {"timeout": 100}})],
        now,
    );
    assert_eq!(link.next_wake(), Some(now + Duration::from_millis(100)));
    let later = now + Duration::from_millis(60);
    link.push_data(later, later, Bytes::from_static(b"dropped"));
    assert!(link.queue.is_empty());
    assert_eq!(link.expired(now + Duration::from_millis(120)), None);
    assert_eq!(
        link.expired(now + Duration::from_millis(160)),
        Some(End::Close)
    );
    assert_eq!(link.apply(&[], later), Some(End::Close));
    // timeout 0 never closes by itself.
    let link = link_with(
        &[json!({"type": "timeout", "attributes": {"timeout": 0}})],
        now,
    );
    assert_eq!(link.next_wake(), None);
}

#[test]
fn reset_peer_arms_on_data_and_resets_after_its_timeout() {
    let now = Instant::now();
    let mut link = link_with(
        &[json!({"type": "reset_peer", "attributes": {"timeout": 20}})],
        now,
    );
    assert_eq!(
        link.expired(now + Duration::from_secs(1)),
        None,
        "idle: not armed"
    );
    link.push_data(now, now, Bytes::from_static(b"x"));
    assert!(!link.can_read());
    assert_eq!(link.expired(now + Duration::from_millis(19)), None);
    assert_eq!(
        link.expired(now + Duration::from_millis(20)),
        Some(End::Reset)
    );
}

#[test]
fn slow_close_delays_only_the_close() {
    let now = Instant::now();
    let mut link = link_with(
        &[json!({"type": "slow_close", "attributes": {"delay": 300}})],
        now,
    );
    link.push_data(now, now, Bytes::from_static(b"data"));
    link.push_eof(now);
    assert_eq!(
        schedule(&link, now),
        [(0, "data".into()), (300, "FIN".into())]
    );
}

#[test]
fn toxicity_zero_leaves_the_data_alone() {
    let now = Instant::now();
    let mut link = link_with(
        &[json!({"type": "latency", "toxicity": 0.0, "attributes": {"latency": 500}})],
        now,
    );
    link.push_data(now, now, Bytes::from_static(b"x"));
    assert_eq!(schedule(&link, now), [(0, "x".into())]);
}

#[test]
fn removing_latency_releases_what_it_held() {
    let now = Instant::now();
    let mut link = link_with(
        &[json!({"type": "latency", "attributes": {"latency": 1000}})],
        now,
    );
    link.push_data(now, now, Bytes::from_static(b"held"));
    let later = now + Duration::from_millis(5);
    assert_eq!(link.apply(&[], later), None);
    assert_eq!(schedule(&link, now), [(5, "held".into())]);
    assert!(
        !link.is_plain(),
        "queued bytes keep it on the toxic path until written"
    );
}

#[test]
fn toxics_chain_in_order() {
    let now = Instant::now();
    // limit_data then latency: the cut data and the close both wait the latency.
    let mut link = link_with(
        &[
            json!({"type": "limit_data", "attributes": {"bytes": 3}}),
            json!({"type": "latency", "attributes": {"latency": 40}}),
        ],
        now,
    );
    link.push_data(now, now, Bytes::from_static(b"abcdef"));
    assert_eq!(
        schedule(&link, now),
        [(40, "abc".into()), (40, "Close".into())]
    );
}

#[test]
fn slices_always_sum_to_the_length() {
    let set_toxics = toxics(&[
        json!({"type": "slicer", "attributes": {"average_size": 4, "size_variation": 3}}),
    ]);
    let toxic = LinkToxic {
        active: set_toxics[0].clone(),
        applies: true,
        last_out: None,
        sent: 0,
    };
    for len in [0, 1, 2, 7, 8, 100, 4097] {
        let sizes = slices(len, 4, 3, &toxic);
        assert_eq!(sizes.iter().sum::<usize>(), len);
        assert!(sizes.iter().all(|s| *s > 0));
    }
}
