//! Experimental detector (development only).
#![allow(clippy::only_used_in_recursion)]

use super::Detector;
use crate::Error;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabConfig {
    pub levels: f64,
    pub order: usize,
    pub downsample: usize,
    pub rest_fraction: f64,
    pub base: f64,
    pub warmup: usize,
    pub order0_weight: f64,
    pub range_weight: f64,
    pub agg: String,
    pub mode: String,
    pub alpha: f64,
    pub beta: f64,
    pub eps: f64,
    pub calib: f64,
    pub smin: f64,
    pub window: usize,
    pub rho: f64,
    pub shape_weight: f64,
    pub grade: f64,
    pub max_protos: usize,
    pub per_pb: f64,
    pub dist_w: f64,
    pub rate_g: f64,
    pub smooth: usize,
    pub multi: Vec<f64>,
    pub wexp: f64,
    pub gate: f64,
    pub short: usize,
    pub long_w: f64,
    pub expand: bool,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            levels: 8.0,
            order: 4,
            downsample: 1,
            rest_fraction: 0.2,
            base: 0.75,
            warmup: 0,
            order0_weight: 1.0,
            range_weight: 0.0,
            agg: "mean".into(),
            mode: "novel".into(),
            alpha: 1.0,
            beta: 1.0,
            eps: 0.1,
            calib: 0.0,
            smin: 5.0,
            window: 8,
            rho: 0.1,
            shape_weight: 0.0,
            grade: 1.0,
            max_protos: 256,
            per_pb: 13.0,
            dist_w: 0.0,
            rate_g: 0.0,
            smooth: 0,
            multi: vec![],
            wexp: 1.0,
            gate: 0.5,
            short: 10,
            long_w: 0.0,
            expand: false,
        }
    }
}

impl LabConfig {
    pub(crate) fn validate(&self) -> Result<(), Error> {
        Ok(())
    }
}

#[allow(missing_docs)]
pub struct Lab {
    c: LabConfig,
    warmup: usize,
    seen: usize,
    buf: Vec<f64>,
    lo: f64,
    step: f64,
    hist: Vec<i64>,
    counts: HashMap<u64, u32>,
    recent: Vec<f64>,
    ds: Vec<f64>,
    max_seen: f64,
    min_seen: f64,
    last_score: f64,
    total: u64,
    levels_seen: std::collections::BTreeMap<i64, u32>,
    s_mean: f64,
    s_var: f64,
    protos: Vec<(Vec<f64>, f64, u64)>,
    fwin: Vec<f64>,
    ds_avg: f64,
    sstep: usize,
    hi: f64,
    tick: u64,
    rate: f64,
    graded: f64,
    subs: Vec<Lab>,
    lk: Vec<f64>,
    lk_mean: f64,
    lk_var: f64,
    lk_n: f64,
}

fn hash(parts: &[i64]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &p in parts {
        h ^= p as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
        h ^= h >> 29;
    }
    h
}

impl Lab {
    #[allow(missing_docs)]
    pub fn new(c: &LabConfig, rows: usize) -> Self {
        let warmup = if c.warmup > 0 {
            c.warmup
        } else {
            crate::nab::probationary_length(rows).max(50)
        };
        Lab {
            c: c.clone(),
            warmup,
            seen: 0,
            buf: Vec::new(),
            lo: 0.0,
            step: 1.0,
            hist: Vec::new(),
            counts: HashMap::new(),
            recent: Vec::new(),
            ds: Vec::new(),
            max_seen: f64::MIN,
            min_seen: f64::MAX,
            last_score: 0.0,
            total: 0,
            levels_seen: Default::default(),
            s_mean: 0.0,
            s_var: 0.0,
            protos: Vec::new(),
            fwin: Vec::new(),
            ds_avg: f64::NAN,
            sstep: ((warmup as f64 / (c.window as f64 * c.per_pb)).round() as usize).max(1),
            hi: 0.0,
            tick: 0,
            rate: 0.0,
            graded: 0.0,
            lk: Vec::new(),
            lk_mean: 0.0,
            lk_var: 0.0,
            lk_n: 0.0,
            subs: c
                .multi
                .iter()
                .map(|&l| {
                    let mut cc = c.clone();
                    cc.multi = vec![];
                    cc.levels = l;
                    cc.mode = "novel".into();
                    cc.rest_fraction = 0.0;
                    cc.base = 2.0;
                    Lab::new(&cc, rows)
                })
                .collect(),
        }
    }

    fn level(&self, x: f64) -> i64 {
        ((x - self.lo) / self.step).floor().clamp(-1e6, 1e6) as i64
    }

    fn key(&self, k: usize, with_level: bool) -> u64 {
        let n = self.hist.len();
        let mut parts: Vec<i64> = if with_level {
            self.hist[n - 1 - k..].to_vec()
        } else {
            self.hist[n - 1 - k..n - 1].to_vec()
        };
        parts.push(
            k as i64
                + if with_level {
                    1_000_000_000
                } else {
                    2_000_000_000
                },
        );
        hash(&parts)
    }

    /// Learns a symbol; returns its surprisal (nats).
    fn surprisal(&mut self, level: i64) -> f64 {
        // order-0 with a distance prior for unseen levels
        let c0 = *self.levels_seen.get(&level).unwrap_or(&0) as f64;
        let d = if self.levels_seen.is_empty() {
            1.0
        } else {
            let above = self
                .levels_seen
                .range(level..)
                .next()
                .map(|(l, _)| (l - level) as f64);
            let below = self
                .levels_seen
                .range(..=level)
                .next_back()
                .map(|(l, _)| (level - l) as f64);
            match (above, below) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                _ => 1.0,
            }
        };
        let q = (1.0 - self.c.eps) * self.c.eps.powf(d) / 2.0;
        let mut p = (c0 + self.c.beta * q) / (self.total as f64 + self.c.beta);
        self.hist.push(level);
        let n = self.hist.len();
        for k in 1..=self.c.order.min(n - 1) {
            let kc = self.key(k, false);
            let kl = self.key(k, true);
            let nc = *self.counts.get(&kc).unwrap_or(&0) as f64;
            let cl = *self.counts.get(&kl).unwrap_or(&0) as f64;
            p = (cl + self.c.alpha * p) / (nc + self.c.alpha);
            *self.counts.entry(kc).or_insert(0) += 1;
            *self.counts.entry(kl).or_insert(0) += 1;
        }
        *self.levels_seen.entry(level).or_insert(0) += 1;
        self.total += 1;
        if self.hist.len() > self.c.order + 1 {
            self.hist.remove(0);
        }
        -p.max(1e-300).ln()
    }

    /// ART-like: downsampled value in; novelty score out.
    fn art(&mut self, x: f64, learn_only: bool) -> f64 {
        let span = (self.hi - self.lo).max(1e-12);
        let v = (x - self.lo) / span;
        self.fwin.push(v);
        if self.fwin.len() > self.c.window {
            self.fwin.remove(0);
        }
        if self.fwin.len() < self.c.window {
            return 0.0;
        }
        let mut f: Vec<f64> = self.fwin.clone();
        if self.c.shape_weight > 0.0 {
            let mn = f.iter().cloned().fold(f64::MAX, f64::min);
            let mx = f.iter().cloned().fold(f64::MIN, f64::max);
            let r = if mx > mn { mx - mn } else { 1.0 };
            for i in 0..self.c.window {
                f.push((self.fwin[i] - mn) / r * self.c.shape_weight);
            }
        }
        self.tick += 1;
        let dim = f.len() as f64;
        let mut best = (f64::MAX, usize::MAX);
        for (i, (p, _, _)) in self.protos.iter().enumerate() {
            let d = (p
                .iter()
                .zip(&f)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                / dim)
                .sqrt();
            if d < best.0 {
                best = (d, i);
            }
        }
        if best.0 <= self.c.rho {
            let (p, n, last) = &mut self.protos[best.1];
            *n += 1.0;
            let w = 1.0 / n.min(20.0);
            for (a, b) in p.iter_mut().zip(&f) {
                *a += w * (b - *a);
            }
            *last = self.tick;
            return 0.0;
        }
        if self.protos.len() >= self.c.max_protos {
            let oldest = self
                .protos
                .iter()
                .enumerate()
                .min_by_key(|(_, p)| p.2)
                .map(|(i, _)| i)
                .unwrap();
            self.protos.swap_remove(oldest);
        }
        self.protos.push((f, 1.0, self.tick));
        if learn_only || best.1 == usize::MAX {
            return 0.0;
        }
        let excess = best.0 / self.c.rho - 1.0;
        1.0 - (-excess * self.c.grade).exp() * 0.5
    }

    fn downsample(&mut self) -> f64 {
        let n = self.ds.len() as f64;
        let mean = self.ds.iter().sum::<f64>() / n;
        if self.ds_avg.is_nan() {
            self.ds_avg = mean;
        }
        self.ds_avg = (self.ds_avg + mean) / 2.0;
        let mx = self.ds.iter().cloned().fold(f64::MIN, f64::max);
        let mn = self.ds.iter().cloned().fold(f64::MAX, f64::min);
        let mut d = if (mx - self.ds_avg).abs() < (mn - self.ds_avg).abs() {
            mn
        } else {
            mx
        };
        if (d - mean).abs() < 0.1 * mean.abs() {
            d = mean;
        }
        self.ds.clear();
        d
    }

    /// Learns a symbol; returns its novelty in [0, 1].
    fn learn(&mut self, level: i64) -> f64 {
        if self.c.mode == "surprise" {
            let s = self.surprisal(level);
            // calibrate against running mean/var of surprisal
            let out = if self.c.calib > 0.0 {
                let sd = self.s_var.sqrt().max(1e-3);
                let z = (s - self.s_mean) / sd;
                let w = self.c.calib;
                self.s_mean += w * (s - self.s_mean);
                self.s_var += w * ((s - self.s_mean).powi(2) - self.s_var);
                1.0 - (-(z.max(0.0) / self.c.smin)).exp()
            } else {
                1.0 - (-(s / self.c.smin)).exp()
            };
            return out;
        }
        let d = if self.levels_seen.contains_key(&level) {
            0.0
        } else if self.levels_seen.is_empty() {
            1.0
        } else {
            let above = self
                .levels_seen
                .range(level..)
                .next()
                .map(|(l, _)| (l - level) as f64);
            let below = self
                .levels_seen
                .range(..=level)
                .next_back()
                .map(|(l, _)| (level - l) as f64);
            match (above, below) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                _ => 1.0,
            }
        };
        *self.levels_seen.entry(level).or_insert(0) += 1;
        self.hist.push(level);
        let n = self.hist.len();
        let mut novel = 0.0;
        let mut total = 0.0;
        for k in 0..=self.c.order.min(n - 1) {
            let key = {
                let mut parts: Vec<i64> = self.hist[n - 1 - k..].to_vec();
                parts.push(k as i64 + 1_000_000_000);
                hash(&parts)
            };
            let w = if k == 0 { self.c.order0_weight } else { 1.0 };
            let count = self.counts.entry(key).or_insert(0);
            if *count == 0 {
                novel += w;
            }
            total += w;
            *count += 1;
        }
        if self.hist.len() > self.c.order + 1 {
            self.hist.remove(0);
        }
        let nf = if total > 0.0 { novel / total } else { 0.0 };
        let g = nf * (1.0 + self.c.dist_w * (1.0 + d).ln())
            / (1.0 + self.c.dist_w * (1.0 + self.c.levels).ln());
        self.graded = (g / (1.0 + self.c.rate_g * self.rate * self.warmup as f64)).min(1.0);
        let trig = if nf >= self.c.base { 1.0 } else { 0.0 };
        self.rate += (trig - self.rate) / self.warmup as f64;
        if total > 0.0 {
            nf
        } else {
            0.0
        }
    }
}

impl Detector for Lab {
    fn score(&mut self, t: f64, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        if !self.subs.is_empty() && self.c.mode == "likelihood" {
            let nf = self.subs[0].score(t, value);
            self.seen += 1;
            if self.seen <= self.subs[0].warmup {
                return 0.0;
            }
            self.lk.push(nf);
            if self.lk.len() > self.c.short {
                self.lk.remove(0);
            }
            let avg = self.lk.iter().sum::<f64>() / self.lk.len() as f64;
            // long-run stats of avg
            self.lk_n += 1.0;
            let w = if self.c.long_w > 0.0 {
                self.c.long_w.max(1.0 / self.lk_n)
            } else {
                1.0 / self.lk_n
            };
            let sd = self.lk_var.sqrt().max(1e-4);
            let z = (avg - self.lk_mean) / sd;
            let d = avg - self.lk_mean;
            self.lk_mean += w * d;
            self.lk_var += w * (d * (avg - self.lk_mean) - self.lk_var);
            if self.lk_n < 50.0 {
                return 0.0;
            }
            // tail prob via erfc approximation
            let p = 0.5 * erfc(z / std::f64::consts::SQRT_2);
            let ll = (-(p.max(1e-300)).log10() / 10.0).min(1.0);
            let rest = ((self.subs[0].warmup as f64) * self.c.rest_fraction) as usize;
            self.recent.push(ll);
            if self.recent.len() > rest + 1 {
                self.recent.remove(0);
            }
            let n = self.recent.len();
            let resting = rest > 0 && self.recent[..n - 1].iter().any(|&s| s >= self.c.gate);
            return if resting { 0.0 } else { ll };
        }
        if !self.subs.is_empty() {
            let mut out: f64 = 0.0;
            let l0 = self.c.multi[0];
            for sub in self.subs.iter_mut() {
                let nf = sub.score(t, value);
                let w = (l0 / sub.c.levels).powf(self.c.wexp);
                if nf >= self.c.base {
                    out = out.max(w * nf);
                }
            }
            self.seen += 1;
            let rest = ((self.subs[0].warmup as f64) * self.c.rest_fraction) as usize;
            self.recent.push(out);
            if self.recent.len() > rest + 1 {
                self.recent.remove(0);
            }
            let n = self.recent.len();
            let resting = self.recent[..n - 1].iter().any(|&s| s >= self.c.gate);
            return if resting { 0.0 } else { out };
        }
        self.seen += 1;
        if self.seen <= self.warmup {
            self.buf.push(value);
            if self.seen == self.warmup {
                let lo = self.buf.iter().cloned().fold(f64::MAX, f64::min);
                let hi = self.buf.iter().cloned().fold(f64::MIN, f64::max);
                self.lo = lo;
                self.hi = hi;
                self.step = if hi > lo {
                    (hi - lo) / self.c.levels
                } else {
                    lo.abs().max(1.0) / self.c.levels
                };
                self.max_seen = hi;
                self.min_seen = lo;
                self.hi = hi;
                if self.c.mode == "art" {
                    let buf = std::mem::take(&mut self.buf);
                    for &x in &buf {
                        self.ds.push(x);
                        if self.ds.len() >= self.sstep {
                            let d = self.downsample();
                            self.art(d, true);
                        }
                    }
                    return 0.0;
                }
                let buf = std::mem::take(&mut self.buf);
                for chunk in buf.chunks(self.c.downsample) {
                    let x = chunk.iter().sum::<f64>() / chunk.len() as f64;
                    let l = self.level(x);
                    self.learn(l);
                }
            }
            return 0.0;
        }
        let mut range_novelty = 0.0;
        if value > self.max_seen || value < self.min_seen {
            let span = (self.max_seen - self.min_seen).max(self.step);
            let excess = (value - self.max_seen).max(self.min_seen - value);
            range_novelty = (excess / span).min(1.0);
            self.max_seen = self.max_seen.max(value);
            self.min_seen = self.min_seen.min(value);
        }
        if self.c.expand && (value > self.hi || value < self.lo) {
            self.lo = self.lo.min(value);
            self.hi = self.hi.max(value);
            self.step = if self.hi > self.lo {
                (self.hi - self.lo) / self.c.levels
            } else {
                self.step
            };
        }
        self.ds.push(value);
        let mut current = 0.0;
        if self.c.mode == "art" {
            if self.ds.len() >= self.sstep {
                let d = self.downsample();
                current = self.art(d, false);
            }
        } else if self.ds.len() >= self.c.downsample {
            let x = match self.c.agg.as_str() {
                "max" => {
                    let mean = self.ds.iter().sum::<f64>() / self.ds.len() as f64;
                    *self
                        .ds
                        .iter()
                        .max_by(|a, b| (*a - mean).abs().total_cmp(&(*b - mean).abs()))
                        .unwrap()
                }
                _ => self.ds.iter().sum::<f64>() / self.ds.len() as f64,
            };
            self.ds.clear();
            let l = self.level(x);
            current = self.learn(l);
        }
        current = current.max(self.c.range_weight * range_novelty);
        let rest = ((self.warmup as f64) * self.c.rest_fraction) as usize;
        self.recent.push(current);
        if self.recent.len() > rest + 1 {
            self.recent.remove(0);
        }
        let n = self.recent.len();
        let resting = self.recent[..n - 1].iter().any(|&s| s >= self.c.base);
        self.last_score = current;
        if resting {
            0.0
        } else if self.c.mode == "gnovel" {
            if current > 0.0 {
                self.graded
                    .max(current.min(self.c.range_weight * range_novelty))
            } else {
                0.0
            }
        } else {
            current.clamp(0.0, 1.0)
        }
    }

    fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.counts.len() * 16
    }
}

fn erfc(x: f64) -> f64 {
    // Numerical Recipes erfcc, fractional error < 1.2e-7
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}
