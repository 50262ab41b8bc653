//! Where judges get time series without doing I/O themselves: a [`SeriesSource`] is
//! handed to them. `ballast-http`'s Prometheus client is one; tests hand in recorded
//! series.

use crate::series::Series;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed future, so a source can be a trait object.
pub type SourceFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, SourceError>> + Send + 'a>>;

/// Why a source gave no series.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    /// The query ran and matched nothing in the range (a scrape missed, a target away):
    /// a live watcher skips the step rather than stopping.
    #[error("{0}")]
    NoData(String),
    /// The source refused the input (a malformed query, an address where nothing
    /// answers): the CLI exits 2.
    #[error("{0}")]
    Input(String),
    /// The source failed while running (a timeout, a server error).
    #[error("{0}")]
    Failed(String),
}

/// A source of time series, such as a Prometheus-compatible query API.
pub trait SeriesSource: Send + Sync {
    /// The source's clock, Unix seconds (so a watcher's steps line up with its data).
    fn now(&self) -> SourceFuture<'_, f64>;

    /// The value of each series `query` gives now: `(series name, value)`, non-finite
    /// values left out.
    fn instant<'a>(&'a self, query: &'a str) -> SourceFuture<'a, Vec<(String, f64)>>;

    /// Every series `query` gives over `[start, end]` (Unix seconds) at `step`, each in
    /// time order.
    fn query_range<'a>(
        &'a self,
        query: &'a str,
        start: f64,
        end: f64,
        step: Duration,
    ) -> SourceFuture<'a, Vec<Series>>;
}
