//! Writes a large synthetic CPU profile for `bench/profile.sh`: Go-shaped (samples/count
//! and cpu/nanoseconds, a call tree thousands of functions wide and tens deep, inlined
//! frames, pprof labels on a share of the samples), deterministic, about SIZE_MB of raw
//! profile.proto.
//!
//!   cargo run --release -p ballast-profile --example synth -- 50 /tmp/big.pb [--gzip]

use ballast_core::profile::{Function, Label, Line, Location, Profile, Sample, ValueType};

/// xorshift64*: deterministic and dependency-free; the shape matters, not the randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: synth SIZE_MB OUT [--gzip]");
        std::process::exit(2);
    }
    let size_mb: u64 = args[1].parse().unwrap_or_else(|_| {
        eprintln!("SIZE_MB must be a whole number");
        std::process::exit(2);
    });
    let gzip = args.iter().any(|a| a == "--gzip");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut p = Profile {
        sample_types: vec![
            ValueType::new("samples", "count"),
            ValueType::new("cpu", "nanoseconds"),
        ],
        period_type: Some(ValueType::new("cpu", "nanoseconds")),
        period: 10_000_000,
        duration_nanos: 60_000_000_000,
        strings: vec![String::new(), "handler".into(), "tenant".into()],
        ..Profile::default()
    };
    for i in 0..400 {
        p.strings.push(format!("value-{i}"));
    }
    let packages = [
        "main",
        "net/http",
        "encoding/json",
        "runtime",
        "sync",
        "database/sql",
        "github.com/acme/shop/internal/cart",
    ];
    for i in 0..20_000u32 {
        let pkg = packages[(i as usize) % packages.len()];
        let mut f = Function::named(format!("{pkg}.(*T{}).method{}", i / 7, i % 97));
        f.filename = format!("/src/{pkg}/file{}.go", i % 300);
        f.start_line = i64::from(i % 2000);
        p.functions.push(f);
    }
    // Locations: one address each; a tenth carry an inlined callee.
    for i in 0..200_000u32 {
        let mut lines = vec![Line {
            function: (rng.below(20_000)) as u32,
            line: i64::from(i % 5000),
            column: 0,
        }];
        if i % 10 == 0 {
            lines.insert(
                0,
                Line {
                    function: rng.below(20_000) as u32,
                    line: 7,
                    column: 0,
                },
            );
        }
        p.locations.push(Location {
            address: 0x40_0000 + u64::from(i) * 16,
            lines,
            ..Location::default()
        });
    }
    // Stacks share prefixes (a call tree), as real ones do: each sample walks down from a
    // root chosen among a few hundred, reusing the tree's paths.
    let roots: Vec<Vec<u32>> = (0..500)
        .map(|_| (0..8).map(|_| rng.below(200_000) as u32).collect())
        .collect();
    let target = size_mb * 1_000_000;
    let mut estimate = 3_000_000u64; // the tables above, roughly
    while estimate < target {
        let mut stack: Vec<u32> = roots[rng.below(roots.len() as u64) as usize].clone();
        let depth = 10 + rng.below(50) as usize;
        while stack.len() < depth {
            stack.push(rng.below(200_000) as u32);
        }
        stack.reverse(); // leaf first
        let samples = 1 + rng.below(20) as i64;
        let labels = if rng.below(4) == 0 {
            vec![Label {
                key: 1 + rng.below(2) as u32,
                text: 3 + rng.below(400) as u32,
                ..Label::default()
            }]
        } else {
            Vec::new()
        };
        estimate += 6 + stack.len() as u64 * 3 + 8 + labels.len() as u64 * 6;
        p.samples.push(Sample {
            locations: stack,
            values: vec![samples, samples * 10_000_000],
            labels,
        });
    }
    let bytes = if gzip {
        ballast_profile::encode_gzip(&p)
    } else {
        ballast_profile::encode(&p)
    };
    std::fs::write(&args[2], &bytes).unwrap_or_else(|e| {
        eprintln!("{}: {e}", args[2]);
        std::process::exit(1);
    });
    eprintln!(
        "{}: {} bytes, {} samples, {} locations, {} functions",
        args[2],
        bytes.len(),
        p.samples.len(),
        p.locations.len(),
        p.functions.len()
    );
}
