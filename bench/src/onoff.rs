//! A feature on against off, in alternating rounds on fresh servers, with the per-round paired
//! ratio as the headline. Activity recording: before a recording-on window the log is filled
//! to its retention limit, so the window trims as it records, and each round reports how many
//! records were stored within it. The change feed: events written in every change's own
//! atomic write, or none.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{Value, json};

use crate::Args;
use crate::load::{Call, Pace, Slot, drive};
use crate::process::{Server, ServerOptions};
use crate::report::{Outcome, median};
use crate::scenarios::{populate, user_body};

/// Records kept per organization during these rounds.
const LIMIT: usize = 20_000;

/// What is switched on and off.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    Recording,
    Events,
}

impl Switch {
    fn name(self) -> &'static str {
        match self {
            Switch::Recording => "recording",
            Switch::Events => "events",
        }
    }
}

#[derive(Clone, Copy)]
pub enum Workload {
    Creates,
    Deactivations,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Creates => "creates",
            Workload::Deactivations => "Okta deactivate/reactivate PATCH (1k users)",
        }
    }

    pub fn key(self, switch: Switch) -> String {
        let w = match self {
            Workload::Creates => "creates",
            Workload::Deactivations => "deactivations",
        };
        format!("{}_{w}", switch.name())
    }
}

/// Waits until the server has reported storing at least `n` records (or a few seconds).
async fn stored_at_least(server: &Server, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.activity_totals(Instant::now()).stored < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn side(
    args: &Args,
    switch: Switch,
    workload: Workload,
    on: bool,
    round: usize,
) -> (Outcome, Value) {
    let recording = on && switch == Switch::Recording;
    let server = Server::start(
        &args.server_bin_resolved,
        &ServerOptions {
            activity: switch != Switch::Recording || on,
            events: switch != Switch::Events || on,
            max_records_per_org: LIMIT,
            ..Default::default()
        },
    );
    let t = server.target.clone();
    let ids = Arc::new(populate(&t, 1_000, "r", args.connections).await);
    if recording {
        // Fill the log past its limit with reads, so the window starts at the limit.
        let fill = (LIMIT + LIMIT / 100) as u64;
        let v = ids.clone();
        drive(
            "fill",
            &t,
            args.connections,
            Pace::Count(fill),
            move |Slot { n, .. }| Call::get(format!("/Users/{}", v[(n % v.len() as u64) as usize])),
        )
        .await;
        stored_at_least(&server, fill + 1_000).await;
    }
    let users_at_start = crate::scenarios::users(&t).await;
    let start = Instant::now();
    let at_start = server.activity_totals(start);
    let d = Duration::from_secs_f64(args.seconds);
    let tag = format!("w{round}{}", if on { "on" } else { "off" });
    let v = ids.clone();
    let name = format!(
        "{}, {} {}",
        workload.name(),
        switch.name(),
        if on { "on" } else { "off" }
    );
    let o = match workload {
        Workload::Creates => {
            drive(
                &name,
                &t,
                args.connections,
                Pace::Closed(d),
                move |Slot { n, .. }| Call::with(Method::POST, "/Users", user_body(&tag, n), 201),
            )
            .await
        }
        Workload::Deactivations => {
            drive(
                &name,
                &t,
                args.connections,
                Pace::Closed(d),
                move |Slot { n, .. }| {
                    let active = (n / v.len() as u64) % 2 == 1;
                    let body = format!(
                        r#"{{"Operations":[{{"op":"replace","value":{{"active":{active}}}}}]}}"#
                    );
                    Call::with(
                        Method::PATCH,
                        format!("/Users/{}", v[(n % v.len() as u64) as usize]),
                        body.into_bytes(),
                        200,
                    )
                },
            )
            .await
        }
    };
    let end = Instant::now();
    let at_end = server.activity_totals(end);
    let mut o = o;
    o.size = crate::report::Size {
        users_at_start,
        users_at_end: crate::scenarios::users(&t).await,
        ..Default::default()
    };
    let detail = json!({
        "round": round,
        "switch": switch.name(),
        "on": on,
        "rps": o.rps(),
        "requests": o.requests,
        "errors": o.errors,
        "records_stored_in_window": at_end.stored.saturating_sub(at_start.stored),
        "records_dropped_in_window": at_end.dropped.saturating_sub(at_start.dropped),
        "records_retained_at_start": at_start.retained,
        "records_retained_at_end": at_end.retained,
    });
    if recording {
        println!(
            "  {} round {round}: recording on : {:>6.0} req/s, {} records stored within the window for {} requests, {} dropped; {} -> {} retained (limit {LIMIT})",
            workload.name(),
            o.rps(),
            at_end.stored.saturating_sub(at_start.stored),
            o.requests,
            at_end.dropped.saturating_sub(at_start.dropped),
            at_start.retained,
            at_end.retained,
        );
    } else {
        println!(
            "  {} round {round}: {} {}: {:>6.0} req/s",
            workload.name(),
            switch.name(),
            if on { "on " } else { "off" },
            o.rps()
        );
    }
    (o, detail)
}

/// `rounds` alternating rounds; returns the two median rows and the JSON of every round.
pub async fn compare(args: &Args, switch: Switch, workload: Workload) -> (Outcome, Outcome, Value) {
    let mut on = Vec::new();
    let mut off = Vec::new();
    let mut ratios = Vec::new();
    let mut details = Vec::new();
    for round in 0..args.rounds {
        // Alternate which side goes first, so drift over the run does not favour either.
        let order = if round.is_multiple_of(2) {
            [false, true]
        } else {
            [true, false]
        };
        let mut pair = [None, None];
        for on in order {
            let (o, d) = side(args, switch, workload, on, round).await;
            details.push(d);
            pair[usize::from(on)] = Some(o);
        }
        let [Some(without), Some(with)] = pair else {
            unreachable!("both sides ran")
        };
        ratios.push(with.rps() / without.rps().max(1e-9));
        off.push(without);
        on.push(with);
    }
    let pick = |sides: &[Outcome], label: &str| {
        let rates: Vec<f64> = sides.iter().map(Outcome::rps).collect();
        let m = median(&rates);
        let mut row = sides
            .iter()
            .min_by(|a, b| (a.rps() - m).abs().total_cmp(&(b.rps() - m).abs()))
            .cloned()
            .expect("at least one round");
        row.name = format!(
            "{}, {} {label} (median of {})",
            workload.name(),
            switch.name(),
            sides.len()
        );
        row
    };
    let paired = median(&ratios);
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "  {}, {}: per-round on/off ratios {}; paired median {:.0}%",
        workload.name(),
        switch.name(),
        sorted
            .iter()
            .map(|r| format!("{:.0}%", r * 100.0))
            .collect::<Vec<_>>()
            .join(" "),
        paired * 100.0
    );
    let mut with = pick(&on, "on");
    with.extra
        .insert("paired_ratio_median".into(), json!(paired));
    (
        pick(&off, "off"),
        with,
        json!({"rounds": details, "per_round_ratios": ratios, "paired_ratio_median": paired}),
    )
}
