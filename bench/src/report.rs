//! What a scenario measured, how it prints, and the JSON document of a run.

use serde_json::{Map, Value, json};

/// Latencies in milliseconds, sorted, with percentiles.
#[derive(Debug, Clone, Default)]
pub struct Latencies(Vec<f64>);

impl Latencies {
    pub fn new(mut ms: Vec<f64>) -> Latencies {
        ms.sort_by(f64::total_cmp);
        Latencies(ms)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn percentile(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0[((self.0.len() - 1) as f64 * p).round() as usize]
    }

    pub fn max(&self) -> f64 {
        self.0.last().copied().unwrap_or(0.0)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "p50": self.percentile(0.5),
            "p90": self.percentile(0.9),
            "p99": self.percentile(0.99),
            "p999": self.percentile(0.999),
            "max": self.max(),
            "samples": self.len(),
        })
    }
}

/// The median of some figures (0 when there are none).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

/// A ceiling measured right before and right after a scenario.
#[derive(Debug, Clone)]
pub struct Ceiling {
    pub name: &'static str,
    pub before: f64,
    pub after: f64,
}

impl Ceiling {
    pub fn mean(&self) -> f64 {
        (self.before + self.after) / 2.0
    }
}

/// The store a scenario ran against, at its start and end.
#[derive(Debug, Clone, Default)]
pub struct Size {
    pub users_at_start: u64,
    pub users_at_end: u64,
    pub members_at_start: Option<u64>,
    pub members_at_end: Option<u64>,
}

/// The server process's memory over a phase, in MiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub rss_end: f64,
    /// The largest RSS seen while sampling during the phase.
    pub rss_peak: f64,
    /// The kernel's high-water mark for the process (never falls; the process is fresh per
    /// scenario group).
    pub hwm: f64,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    pub requests: u64,
    /// Replies other than the one expected.
    pub errors: u64,
    /// 5xx replies and connection failures among them.
    pub server_errors: u64,
    pub seconds: f64,
    pub latency: Latencies,
    pub ceiling: Option<Ceiling>,
    pub size: Size,
    pub memory: Option<Memory>,
    pub extra: Map<String, Value>,
}

impl Outcome {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds.max(1e-9)
    }

    /// This scenario's rate as a share of its ceiling's (mean of before and after).
    pub fn ratio(&self) -> Option<f64> {
        self.ceiling
            .as_ref()
            .map(|c| self.rps() / c.mean().max(1e-9))
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "requests": self.requests,
            "errors": self.errors,
            "server_errors": self.server_errors,
            "seconds": self.seconds,
            "rps": self.rps(),
            "latency_ms": self.latency.to_json(),
            "users_at_start": self.size.users_at_start,
            "users_at_end": self.size.users_at_end,
            "members_at_start": self.size.members_at_start,
            "members_at_end": self.size.members_at_end,
        });
        if let Some(c) = &self.ceiling {
            v["ceiling"] = json!({
                "name": c.name,
                "rps_before": c.before,
                "rps_after": c.after,
            });
            v["ratio_of_ceiling"] = json!(self.ratio());
        }
        if let Some(m) = &self.memory {
            v["server_memory_mib"] =
                json!({"rss_end": m.rss_end, "rss_peak_sampled": m.rss_peak, "hwm": m.hwm});
        }
        for (k, x) in &self.extra {
            v[k] = x.clone();
        }
        v
    }
}

pub fn print_header() {
    println!(
        "{:<72} {:>9} {:>7} {:>7} {:>7} {:>8} {:>5} {:>17} {:>11}",
        "scenario",
        "req/s",
        "p50 ms",
        "p99 ms",
        "p99.9",
        "users",
        "err",
        "of ceiling",
        "server RSS"
    );
}

pub fn print_row(o: &Outcome) {
    let ratio = match (&o.ceiling, o.ratio()) {
        (Some(c), Some(r)) => format!("{:.0}% of {}", r * 100.0, c.name),
        _ => String::new(),
    };
    let rss = o
        .memory
        .map(|m| format!("{:.0} MiB", m.rss_peak))
        .unwrap_or_default();
    println!(
        "{:<72} {:>9.0} {:>7.2} {:>7.2} {:>7.2} {:>8} {:>5} {:>17} {:>11}",
        o.name,
        o.rps(),
        o.latency.percentile(0.5),
        o.latency.percentile(0.99),
        o.latency.percentile(0.999),
        o.size.users_at_start,
        o.errors,
        ratio,
        rss
    );
}
