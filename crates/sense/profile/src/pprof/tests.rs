use super::*;
use ballast_core::profile::Profile;
use proptest::prelude::*;
use std::io::Write as _;

/// A protobuf writer independent of the prost messages, so the field numbers are checked
/// against the schema rather than against themselves.
#[derive(Default)]
struct Pb(Vec<u8>);

impl Pb {
    fn varint(&mut self, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(byte);
                return;
            }
            self.0.push(byte | 0x80);
        }
    }
    fn int(mut self, field: u64, v: u64) -> Pb {
        self.varint(field << 3);
        self.varint(v);
        self
    }
    fn bytes(mut self, field: u64, b: &[u8]) -> Pb {
        self.varint(field << 3 | 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
    fn msg(self, field: u64, m: Pb) -> Pb {
        self.bytes(field, &m.0)
    }
    fn string(self, s: &str) -> Pb {
        self.bytes(6, s.as_bytes())
    }
}

/// A CPU profile as Go writes it: strings, two sample types, one mapping, functions
/// `main.hot` (inlined into `main.loop`) and `main.main`, two samples.
fn go_like() -> Pb {
    let mut p = Pb::default();
    for s in [
        "",
        "samples",
        "count",
        "cpu",
        "nanoseconds",
        "main.hot",
        "main.loop",
        "main.main",
        "/src/main.go",
        "/bin/planted",
        "build-1",
        "key",
        "value",
    ] {
        p = p.string(s);
    }
    p.msg(1, Pb::default().int(1, 1).int(2, 2))
        .msg(1, Pb::default().int(1, 3).int(2, 4))
        .msg(
            3,
            Pb::default()
                .int(1, 1)
                .int(2, 0x400000)
                .int(3, 0x500000)
                .int(5, 9)
                .int(6, 10)
                .int(7, 1),
        )
        .msg(
            5,
            Pb::default()
                .int(1, 1)
                .int(2, 5)
                .int(3, 5)
                .int(4, 8)
                .int(5, 3),
        )
        .msg(
            5,
            Pb::default()
                .int(1, 2)
                .int(2, 6)
                .int(3, 6)
                .int(4, 8)
                .int(5, 10),
        )
        .msg(
            5,
            Pb::default()
                .int(1, 3)
                .int(2, 7)
                .int(3, 7)
                .int(4, 8)
                .int(5, 20),
        )
        // Location 1: main.hot inlined into main.loop (innermost first), in mapping 1.
        .msg(
            4,
            Pb::default()
                .int(1, 1)
                .int(2, 1)
                .int(3, 0x401000)
                .msg(4, Pb::default().int(1, 1).int(2, 4))
                .msg(4, Pb::default().int(1, 2).int(2, 12)),
        )
        .msg(
            4,
            Pb::default()
                .int(1, 2)
                .int(3, 0x402000)
                .msg(4, Pb::default().int(1, 3).int(2, 22)),
        )
        // Sample: packed location ids [1, 2], values [3, 30000000], a label key=value.
        .msg(
            2,
            Pb::default()
                .bytes(1, &[1, 2])
                .bytes(2, &{
                    let mut v = Pb::default();
                    v.varint(3);
                    v.varint(30_000_000);
                    v.0
                })
                .msg(3, Pb::default().int(1, 11).int(2, 12)),
        )
        // Sample: unpacked ids and values.
        .msg(2, Pb::default().int(1, 2).int(2, 1).int(2, 10_000_000))
        .int(9, 1_700_000_000_000_000_000)
        .int(10, 2_000_000_000)
        .msg(11, Pb::default().int(1, 3).int(2, 4))
        .int(12, 10_000_000)
        .int(13, 1)
        .int(14, 3)
}

#[test]
fn reads_a_hand_written_profile_field_by_field() {
    let p = decode(&go_like().0).unwrap();
    assert_eq!(
        p.sample_types,
        [
            ValueType::new("samples", "count"),
            ValueType::new("cpu", "nanoseconds")
        ]
    );
    assert_eq!(p.default_sample_type.as_deref(), Some("cpu"));
    assert_eq!(p.period_type, Some(ValueType::new("cpu", "nanoseconds")));
    assert_eq!(p.period, 10_000_000);
    assert_eq!(p.time_nanos, 1_700_000_000_000_000_000);
    assert_eq!(p.duration_nanos, 2_000_000_000);
    assert_eq!(p.comments, ["samples"]);
    assert_eq!(p.mappings[0].filename, "/bin/planted");
    assert_eq!(p.mappings[0].build_id, "build-1");
    assert_eq!(
        (p.mappings[0].start, p.mappings[0].limit),
        (0x400000, 0x500000)
    );
    assert!(p.mappings[0].has_functions);
    assert_eq!(p.functions[2].name, "main.main");
    assert_eq!(p.functions[2].filename, "/src/main.go");
    assert_eq!(p.functions[2].start_line, 20);
    assert_eq!(p.locations[0].mapping, Some(0));
    assert_eq!(p.locations[0].address, 0x401000);
    assert_eq!(p.locations[1].mapping, None);
    assert_eq!(p.samples[0].values, [3, 30_000_000]);
    assert_eq!(p.samples[1].locations, [1]);
    let frames: Vec<&str> = p
        .frames(&p.samples[0])
        .map(|f| p.functions[f].name.as_str())
        .collect();
    assert_eq!(frames, ["main.hot", "main.loop", "main.main"]);
    assert_eq!(
        p.label_texts(&p.samples[0], "key").collect::<Vec<_>>(),
        ["value"]
    );
    assert_eq!(p.total(1), 40_000_000);
    // Gzipped, the same.
    assert_eq!(decode(&encode_gzip(&p)).unwrap(), p);
}

#[test]
fn ids_need_not_be_dense() {
    let p = Pb::default()
        .string("")
        .string("f")
        .msg(1, Pb::default())
        .msg(5, Pb::default().int(1, 70).int(2, 1))
        .msg(
            4,
            Pb::default().int(1, 900).msg(4, Pb::default().int(1, 70)),
        )
        .msg(2, Pb::default().int(1, 900).int(2, 5));
    let p = decode(&p.0).unwrap();
    assert_eq!(p.samples[0].locations, [0]);
    assert_eq!(p.locations[0].lines[0].function, 0);
}

fn message(bytes: &[u8]) -> String {
    decode(bytes).unwrap_err().to_string()
}

#[test]
fn dangling_indexes_are_named_precisely() {
    let base = || {
        Pb::default()
            .string("")
            .string("cpu")
            .msg(1, Pb::default().int(1, 1))
            .msg(5, Pb::default().int(1, 1).int(2, 1))
            .msg(4, Pb::default().int(1, 1).msg(4, Pb::default().int(1, 1)))
    };
    let mut p = base();
    for _ in 0..12 {
        p = p.msg(2, Pb::default().int(1, 1).int(2, 1));
    }
    let p = p.msg(2, Pb::default().int(1, 99).int(2, 1));
    assert_eq!(
        message(&p.0),
        "invalid pprof profile: sample 12: location id 99 is not defined"
    );
    let p = base().msg(2, Pb::default().int(1, 1).int(2, 1).int(2, 2));
    assert_eq!(
        message(&p.0),
        "invalid pprof profile: sample 0: 2 values, but the profile has 1 sample types"
    );
    let p = base().msg(5, Pb::default().int(1, 2).int(2, 40));
    assert_eq!(
        message(&p.0),
        "invalid pprof profile: function 1 (id 2): name: string index 40 is past the string table (2 entries)"
    );
    let p = base().msg(4, Pb::default().int(1, 2).msg(4, Pb::default().int(1, 5)));
    assert_eq!(
        message(&p.0),
        "invalid pprof profile: location 1 (id 2): line 0: function id 5 is not defined"
    );
    let p = base().msg(4, Pb::default().int(1, 2).int(2, 3));
    assert_eq!(
        message(&p.0),
        "invalid pprof profile: location 1 (id 2): mapping id 3 is not defined"
    );
    let p = base().msg(5, Pb::default().int(1, 1));
    assert_eq!(
        message(&p.0),
        "invalid pprof profile: function 1: id 1 is defined twice"
    );
    let p = base().msg(
        2,
        Pb::default()
            .int(1, 1)
            .int(2, 1)
            .msg(3, Pb::default().int(1, 7)),
    );
    assert!(message(&p.0).contains("sample 0: label 0: key: string index 7"));
    let p = base().int(14, u64::MAX); // -1 as int64
    assert!(message(&p.0).contains("default_sample_type: string index -1"));
    let p = Pb::default().string("x");
    assert_eq!(
        message(&p.0),
        "invalid pprof profile: string_table[0] must be \"\", got \"x\""
    );
}

#[test]
fn truncated_and_garbage_input_is_an_error_not_a_panic() {
    let whole = go_like().0;
    for end in 1..whole.len() {
        // Every strict prefix either fails to decode or (cut between fields) decodes to
        // something; none may panic.
        let _ = decode(&whole[..end]);
    }
    assert!(message(&whole[..whole.len() - 1]).starts_with("not a pprof profile"));
    assert!(message(&[0xff; 16]).starts_with("not a pprof profile"));
    let gz = encode_gzip(&decode(&whole).unwrap());
    assert!(message(&gz[..gz.len() / 2]).starts_with("not a gzipped profile"));
    assert!(message(&[0x1f, 0x8b, 0, 0]).starts_with("not a gzipped profile"));
    // An empty message is an empty profile.
    assert_eq!(decode(&[]).unwrap().samples.len(), 0);
}

#[test]
fn a_gzip_bomb_stops_at_the_limit() {
    let zeros = vec![0u8; 4 << 20];
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&zeros).unwrap();
    let bomb = e.finish().unwrap();
    assert!(bomb.len() < 64 << 10);
    let limits = Limits {
        max_compressed_bytes: 1 << 20,
        max_decoded_bytes: 1 << 20,
    };
    let err = decode_with(&bomb, &limits).unwrap_err();
    assert_eq!(err.to_string(), "decompressed past 1 MiB limit");
    assert!(err.is_input());
    let small = Limits {
        max_compressed_bytes: 1000,
        ..limits
    };
    assert_eq!(
        decode_with(&bomb, &small).unwrap_err().to_string(),
        "compressed input past 1000 bytes limit"
    );
    let err = Error::TooLarge {
        what: "decompressed",
        limit: Limits::default().max_decoded_bytes,
    };
    assert_eq!(err.to_string(), "decompressed past 1 GiB limit");
    assert_eq!(
        decode_with(&zeros, &limits).unwrap_err().to_string(),
        "raw profile past 1 MiB limit"
    );
}

#[test]
fn encoding_a_model_without_its_names_in_the_table_adds_them_and_keeps_labels() {
    let mut p = Profile {
        sample_types: vec![ValueType::new("alloc_space", "bytes")],
        // No "" first: encode shifts the labels' indexes by one.
        strings: vec!["request".into(), "checkout".into()],
        ..Profile::default()
    };
    p.functions.push(Function::named("main.alloc"));
    p.locations.push(Location::of_function(0));
    p.samples.push(Sample {
        locations: vec![0],
        values: vec![64],
        labels: vec![Label {
            key: 0,
            text: 1,
            ..Label::default()
        }],
    });
    let back = decode(&encode(&p)).unwrap();
    assert_eq!(back.strings[..3], ["", "request", "checkout"]);
    // Key 0 means "" in the model, so it stays empty; the text keeps pointing at "checkout".
    assert_eq!(back.string(back.samples[0].labels[0].text), "checkout");
    assert_eq!(back.functions, p.functions);
    assert_eq!(decode(&encode(&back)).unwrap(), back);
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[a-z./()*]{1,12}"]
}

fn some_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[a-z]{1,8}")
}

/// Profiles whose indexes all point somewhere, as decode returns them.
fn profile() -> impl Strategy<Value = Profile> {
    (
        prop::collection::vec((text(), text()), 0..4),
        prop::collection::vec((text(), text(), text(), any::<i64>()), 1..6),
        prop::collection::vec(
            (
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
                text(),
                text(),
                any::<bool>(),
            ),
            0..3,
        ),
        prop::collection::vec(text(), 1..6),
        (
            some_text(),
            some_text(),
            some_text(),
            prop::collection::vec(text(), 0..3),
        ),
        (
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
            proptest::option::of((text(), text())),
        ),
        any::<u64>(),
    )
        .prop_map(
            |(
                types,
                funcs,
                maps,
                strings,
                (drop, keep, default, comments),
                (period, time, duration, period_type),
                seed,
            )| {
                let mut rng = seed;
                let mut next = |n: usize| {
                    rng = rng
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((rng >> 33) as usize) % n.max(1)
                };
                let mut p = Profile {
                    sample_types: types.iter().map(|(k, u)| ValueType::new(k, u)).collect(),
                    default_sample_type: default,
                    strings: std::iter::once(String::new()).chain(strings).collect(),
                    period_type: period_type.map(|(k, u)| ValueType::new(k, u)),
                    period,
                    time_nanos: time,
                    duration_nanos: duration,
                    comments,
                    drop_frames: drop,
                    keep_frames: keep.clone(),
                    doc_url: keep.map(|k| format!("https://example.test/{k}")),
                    ..Profile::default()
                };
                p.functions = funcs
                    .into_iter()
                    .map(|(name, system_name, filename, start_line)| Function {
                        name,
                        system_name,
                        filename,
                        start_line,
                    })
                    .collect();
                p.mappings = maps
                    .into_iter()
                    .map(
                        |(start, limit, file_offset, filename, build_id, has_functions)| Mapping {
                            start,
                            limit,
                            file_offset,
                            filename,
                            build_id,
                            has_functions,
                            has_filenames: !has_functions,
                            has_line_numbers: has_functions,
                            has_inline_frames: true,
                        },
                    )
                    .collect();
                for _ in 0..next(6) {
                    let lines = (0..next(3))
                        .map(|_| Line {
                            function: next(p.functions.len()) as u32,
                            line: next(1000) as i64,
                            column: next(80) as i64,
                        })
                        .collect();
                    let mapping = (!p.mappings.is_empty() && next(2) == 0)
                        .then(|| next(p.mappings.len()) as u32);
                    p.locations.push(Location {
                        address: next(1 << 20) as u64,
                        mapping,
                        lines,
                        is_folded: next(4) == 0,
                    });
                }
                for _ in 0..next(8) {
                    let locations = if p.locations.is_empty() {
                        vec![]
                    } else {
                        (0..next(5))
                            .map(|_| next(p.locations.len()) as u32)
                            .collect()
                    };
                    let values = (0..p.sample_types.len())
                        .map(|_| next(1 << 30) as i64 - (1 << 29))
                        .collect();
                    let labels = (0..next(3))
                        .map(|_| Label {
                            key: next(p.strings.len()) as u32,
                            text: next(p.strings.len()) as u32,
                            number: next(100) as i64,
                            unit: next(p.strings.len()) as u32,
                        })
                        .collect();
                    p.samples.push(Sample {
                        locations,
                        values,
                        labels,
                    });
                }
                p
            },
        )
}

proptest! {
    #[test]
    fn decode_of_encode_is_the_profile(p in profile()) {
        // The first trip adds the names to the string table; everything else is kept.
        let once = decode(&encode(&p)).unwrap();
        prop_assert_eq!(&once.strings[..p.strings.len()], &p.strings[..]);
        let mut same = once.clone();
        same.strings = p.strings.clone();
        prop_assert_eq!(&same, &p);
        // From then on, exact: raw and gzipped.
        prop_assert_eq!(&decode(&encode(&once)).unwrap(), &once);
        prop_assert_eq!(&decode(&encode_gzip(&once)).unwrap(), &once);
    }

    #[test]
    fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&bytes);
        let mut gz = vec![0x1f, 0x8b];
        gz.extend_from_slice(&bytes);
        let _ = decode(&gz);
    }
}
