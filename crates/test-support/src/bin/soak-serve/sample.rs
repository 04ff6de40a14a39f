//! The server's RSS (from `/proc/PID/status`, every 500 ms) and the size
//! of its `/metrics` (every 2 s), sampled over the run, and what "flat"
//! means for them.
//!
//! The first fifth of the run (at least 5 s) is warm-up: every case has
//! run by then, the instance pool and the allocator have found their
//! working set. The rest is cut in thirds; a series is flat when the
//! highest sample of the last third is at most a margin above the highest
//! of the first third. Peaks are compared, not single samples, so a
//! request that briefly needs memory (a 1 MiB JSON body) does not decide
//! the result by when it is sampled; a leak or a series that keeps
//! growing raises the last third's peak past the first's.

use crate::net::{self, request};
use crate::tally::Class;
use crate::{Soak, pause};
use std::sync::Arc;
use std::time::Duration;

/// RSS may end this much above the first third's peak…
pub const RSS_MARGIN: u64 = 16 << 20;
/// …or this fraction of it, whichever is larger.
pub const RSS_MARGIN_RATIO: f64 = 0.10;
/// `/metrics` may end this many bytes above the first third's peak (counts
/// gaining digits, a status seen for the first time)…
pub const METRICS_MARGIN: u64 = 4 << 10;
/// …or this fraction of it, whichever is larger.
pub const METRICS_MARGIN_RATIO: f64 = 0.10;

/// (seconds since the start, value).
pub type Series = Vec<(f64, u64)>;

#[derive(Default)]
pub struct Samples {
    /// RSS in bytes.
    pub rss: Series,
    /// `/metrics` in bytes.
    pub metrics: Series,
}

/// The server's resident set in bytes, if it is still running.
pub fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib << 10)
}

pub async fn run(soak: Arc<Soak>) -> Samples {
    let mut samples = Samples::default();
    let mut tick = 0u64;
    while soak.running() {
        match rss(soak.pid) {
            Some(bytes) => samples.rss.push((soak.at(), bytes)),
            None => {
                soak.tally.fail(
                    Class::Normal,
                    "server",
                    format!("process {} is gone", soak.pid),
                );
                return samples;
            }
        }
        if tick.is_multiple_of(4) {
            let at = soak.at();
            let answer = net::fresh(
                soak.addr,
                http::Version::HTTP_11,
                request("GET", "/metrics", ""),
            )
            .await;
            let outcome = match &answer {
                Ok(r) if r.status == 200 => {
                    samples.metrics.push((at, r.body.len() as u64));
                    Ok(())
                }
                Ok(r) => Err(format!("expected 200, got {}", r.status)),
                Err(e) => Err(format!("no answer: {e}")),
            };
            crate::record(&soak, Class::Normal, "metrics", &answer, outcome);
        }
        tick += 1;
        pause(&soak, Duration::from_millis(500)).await;
    }
    samples
}

/// The end of warm-up, in seconds.
pub fn warm_up(duration: f64) -> f64 {
    (duration / 5.0).max(5.0)
}

/// A series' peaks in the first and the last third after warm-up.
pub struct Flat {
    pub first: u64,
    pub last: u64,
    pub margin: u64,
}

impl Flat {
    /// `None` when a third has no sample.
    pub fn of(series: &Series, duration: f64, margin: u64, ratio: f64) -> Option<Self> {
        let from = warm_up(duration);
        let third = (duration - from) / 3.0;
        let peak = |lo: f64, hi: f64| {
            series
                .iter()
                .filter(|(t, _)| *t >= lo && *t < hi)
                .map(|(_, v)| *v)
                .max()
        };
        let first = peak(from, from + third)?;
        let last = peak(duration - third, f64::INFINITY)?;
        let margin = margin.max((first as f64 * ratio) as u64);
        Some(Self {
            first,
            last,
            margin,
        })
    }

    pub fn ok(&self) -> bool {
        self.last <= self.first + self.margin
    }
}

/// Up to `n` samples spread over the run: the series as a table row.
pub fn spread(series: &Series, n: usize) -> Vec<(f64, u64)> {
    if series.len() <= n {
        return series.clone();
    }
    (0..n)
        .map(|i| series[i * (series.len() - 1) / (n - 1)])
        .collect()
}
