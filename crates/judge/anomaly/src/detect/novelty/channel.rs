//! One channel of the novelty detector: a feature of the series (the value, or its moving
//! mean), a grid of cells fixed from the warm-up's range, and the set of cells visited.

/// Cells are `i32`s; this many either side of the warm-up centre are tracked exactly (a
/// bitset), and farther ones fold into the outermost. With `asinh` compression a value
/// would need to be ~e^250 warm-up ranges away to get there.
const HALF_SPAN: i32 = 4096;

/// One channel: its grid, the cells visited, and (for the mean) its window.
#[derive(Debug, Clone)]
pub(super) struct Channel {
    pub(super) levels: f64,
    pub(super) compress: f64,
    /// The weight of a first visit here: the value channel outranks the mean channel.
    pub(super) base: f64,
    pub(super) window: usize,
    pub(super) recent: std::collections::VecDeque<f64>,
    pub(super) sum: f64,
    pub(super) pushed: usize,
    pub(super) centre: f64,
    pub(super) half_range: f64,
    pub(super) visited: Vec<u64>,
    pub(super) warm: Vec<f64>,
    /// Where cells -TABLE..=TABLE start, in value space: finding a cell is then a binary
    /// search instead of an `asinh`.
    pub(super) edges: Vec<f64>,
    /// Whether the grid is fixed (after a warm-up that gave the channel features).
    pub(super) ready: bool,
}

/// Cells either side of the centre whose edges are tabulated (some 6,000 half-ranges with the
/// defaults); cells farther out are computed.
const TABLE: i32 = 64;

impl Channel {
    pub(super) fn new(levels: f64, compress: f64, base: f64, window: usize) -> Self {
        Channel {
            levels,
            compress,
            base,
            window: window.max(1),
            recent: std::collections::VecDeque::with_capacity(window.max(1) + 1),
            sum: 0.0,
            pushed: 0,
            centre: 0.0,
            half_range: 1.0,
            visited: vec![0; (2 * HALF_SPAN as usize) / 64],
            warm: Vec::new(),
            edges: Vec::new(),
            ready: false,
        }
    }

    /// The channel's view of the next value: itself, or the mean of the window once the
    /// window is full (a mean of the first few points would stretch the grid).
    pub(super) fn feature(&mut self, value: f64) -> Option<f64> {
        if self.window == 1 {
            return Some(value);
        }
        self.recent.push_back(value);
        self.sum += value;
        if self.recent.len() > self.window {
            self.sum -= self.recent.pop_front().unwrap_or(0.0);
        }
        // Re-add now and then, so rounding in the running sum cannot drift.
        self.pushed += 1;
        if self.pushed % 4096 == 0 {
            self.sum = self.recent.iter().sum();
        }
        (self.recent.len() == self.window).then(|| self.sum / self.window as f64)
    }

    /// Fixes the grid from the warm-up's features and marks them visited.
    pub(super) fn fit(&mut self) {
        let warm = std::mem::take(&mut self.warm);
        let lo = warm.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = warm.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !(lo.is_finite() && hi.is_finite()) {
            // No feature during the warm-up (a window longer than it): the channel stays
            // silent rather than guess a grid.
            return;
        }
        self.ready = true;
        self.centre = lo / 2.0 + hi / 2.0;
        // A flat warm-up has no range: use a sliver of its level, so that leaving the flat
        // line is news.
        self.half_range = if hi > lo {
            (hi / 2.0 - lo / 2.0).max(f64::MIN_POSITIVE)
        } else {
            lo.abs().max(1.0) / 2.0
        };
        self.edges = (-TABLE..=TABLE).map(|k| self.edge(k)).collect();
        for f in warm {
            let cell = self.cell_fast(f);
            self.visit(cell);
        }
    }

    fn cell(&self, f: f64) -> i32 {
        let z = (f - self.centre) / self.half_range;
        let scaled = (z * self.compress).asinh() / self.compress.asinh() * self.levels / 2.0;
        if scaled.is_nan() {
            return 0;
        }
        scaled
            .floor()
            .clamp(-f64::from(HALF_SPAN), f64::from(HALF_SPAN - 1)) as i32
    }

    /// The value where cell `k` starts (the inverse of the formula in [`cell`](Self::cell)).
    fn edge(&self, k: i32) -> f64 {
        let scaled = f64::from(k) * 2.0 / self.levels * self.compress.asinh();
        self.centre + scaled.sinh() / self.compress * self.half_range
    }

    /// The cell of `f`, as [`cell`](Self::cell) computes it, found in the table of edges
    /// near the centre. The table's edges are rounded, so a value within a hair of one
    /// takes the formula: the answer is exactly the formula's either way.
    pub(super) fn cell_fast(&self, f: f64) -> i32 {
        let (Some(&lo), Some(&hi)) = (self.edges.first(), self.edges.last()) else {
            return self.cell(f);
        };
        if !(f > lo && f < hi) {
            return self.cell(f);
        }
        let i = self.edges.partition_point(|&e| e <= f);
        let (below, above) = (self.edges[i - 1], self.edges[i]);
        let hair = 1e-9 * (above - below);
        if f - below <= hair || above - f <= hair {
            return self.cell(f);
        }
        i as i32 - 1 - TABLE
    }

    pub(super) fn is_visited(&self, cell: i32) -> bool {
        let i = (cell + HALF_SPAN) as usize;
        self.visited[i / 64] & (1u64 << (i % 64)) != 0
    }

    /// Marks `cell` visited; true when it was new.
    pub(super) fn visit(&mut self, cell: i32) -> bool {
        let new = !self.is_visited(cell);
        let i = (cell + HALF_SPAN) as usize;
        self.visited[i / 64] |= 1u64 << (i % 64);
        new
    }

    /// Cells from `cell` to the nearest visited one (looking at most 64 away).
    pub(super) fn distance_to_known(&self, cell: i32) -> i32 {
        for d in 1..=64 {
            let near = [cell - d, cell + d];
            if near
                .iter()
                .any(|&c| (-HALF_SPAN..HALF_SPAN).contains(&c) && self.is_visited(c))
            {
                return d;
            }
        }
        64
    }

    /// Files a feature after the warm-up: `Some(d)` when its cell was never visited (now
    /// it is), `d` cells from the nearest visited one.
    pub(super) fn first_visit(&mut self, f: f64) -> Option<i32> {
        let cell = self.cell_fast(f);
        if self.is_visited(cell) {
            return None;
        }
        let d = self.distance_to_known(cell);
        self.visit(cell);
        Some(d)
    }

    /// Bytes held, including the allocations.
    pub(super) fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Channel>()
            + self.visited.len() * 8
            + self.recent.capacity() * 8
            + self.warm.capacity() * 8
            + self.edges.capacity() * 8
    }
}
