//! A long mixed run: Okta- and Entra-shaped traffic, each in its own dialect and with its own
//! User-Agent (lookups, creates, deactivations, attribute PATCHes, group membership adds and
//! removes, group reads), reporting throughput and the server's memory every 10 seconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{Value, json};

use crate::Args;
use crate::load::{Call, ENTRA, OKTA, Pace, Slot, drive};
use crate::process::{Server, ServerOptions};
use crate::scenarios::{group, populate, user_body};

/// The request mix: `n` numbers the request; every tenth request is of one kind.
fn call(n: u64, ids: &[String], gid: &str) -> Call {
    let user = &ids[(n.wrapping_mul(7919) % ids.len() as u64) as usize];
    // Which visit of this request kind this is, for alternating adds and removes.
    let visit = n / 10;
    match n % 10 {
        // Okta: look up before creating, then create.
        0 => Call::get(format!(
            "/Users?filter=userName%20eq%20%22soak{}%40bench.example%22&startIndex=1&count=100",
            n % ids.len() as u64
        ))
        .agent(OKTA),
        1 => Call::with(Method::POST, "/Users", user_body("soaknew", n), 201).agent(OKTA),
        // Okta: deactivate or reactivate with a no-path replace.
        2 => Call::with(
            Method::PATCH,
            format!("/Users/{user}"),
            format!(
                r#"{{"Operations":[{{"op":"replace","value":{{"active":{}}}}}]}}"#,
                visit % 2 == 1
            )
            .into_bytes(),
            200,
        )
        .agent(OKTA),
        // Okta: membership add and remove by filter, alternating.
        3 => {
            let body = if visit.is_multiple_of(2) {
                format!(
                    r#"{{"Operations":[{{"op":"add","path":"members","value":[{{"value":"{user}"}}]}}]}}"#
                )
            } else {
                format!(
                    r#"{{"Operations":[{{"op":"remove","path":"members[value eq \"{user}\"]"}}]}}"#
                )
            };
            Call::with(
                Method::PATCH,
                format!("/Groups/{gid}"),
                body.into_bytes(),
                0,
            )
            .expect_any_success()
            .agent(OKTA)
        }
        4 => Call::get(format!("/Users/{user}")).agent(OKTA),
        // Entra: look up by externalId, unquoted as Microsoft's examples send it.
        5 => Call::get(format!(
            "/Users?filter=externalId%20eq%20ext-soak{}",
            n % ids.len() as u64
        ))
        .agent(ENTRA),
        // Entra: disable or enable with a capitalised op and a string boolean.
        6 => Call::with(
            Method::PATCH,
            format!("/Users/{user}"),
            format!(
                r#"{{"Operations":[{{"op":"Replace","path":"active","value":"{}"}}]}}"#,
                if visit.is_multiple_of(2) {
                    "False"
                } else {
                    "True"
                }
            )
            .into_bytes(),
            200,
        )
        .agent(ENTRA),
        // Entra: one attribute per operation.
        7 => Call::with(
            Method::PATCH,
            format!("/Users/{user}"),
            format!(
                r#"{{"Operations":[{{"op":"Replace","path":"name.familyName","value":"F{n}"}}]}}"#
            )
            .into_bytes(),
            200,
        )
        .agent(ENTRA),
        // Entra: add and remove members with value lists, alternating.
        8 => {
            let op = if visit.is_multiple_of(2) {
                "Add"
            } else {
                "Remove"
            };
            Call::with(
                Method::PATCH,
                format!("/Groups/{gid}"),
                format!(r#"{{"Operations":[{{"op":"{op}","path":"members","value":[{{"value":"{user}"}}]}}]}}"#)
                    .into_bytes(),
                0,
            )
            .expect_any_success()
            .agent(ENTRA)
        }
        _ => Call::get(format!("/Groups/{gid}?excludedAttributes=members")).agent(ENTRA),
    }
}

pub async fn run(args: &Args, seconds: u64) -> Value {
    let server = Server::start(&args.server_bin_resolved, &ServerOptions::default());
    let t = server.target.clone();
    let ids = Arc::new(populate(&t, 2_000, "soak", args.connections).await);
    let gid = Arc::new(group(&t, "soak-group", &ids[..100]).await);
    let started = Instant::now();
    let mut samples = Vec::new();
    let (mut total, mut errors, mut server_errors) = (0, 0, 0);
    let mut offset = 0u64;
    while started.elapsed().as_secs() < seconds {
        let left = seconds
            .saturating_sub(started.elapsed().as_secs())
            .clamp(1, 10);
        let (ids, gid) = (ids.clone(), gid.clone());
        let base = offset;
        let o = drive(
            "soak",
            &t,
            args.connections,
            Pace::Closed(Duration::from_secs(left)),
            move |Slot { n, .. }| call(base + n, &ids, &gid),
        )
        .await;
        offset += o.requests;
        total += o.requests;
        errors += o.errors;
        server_errors += o.server_errors;
        let (rss, hwm) = server.memory_now();
        let at = started.elapsed().as_secs();
        println!(
            "soak t={at:>4}s  {:>8.0} req/s  errors {:>3} (5xx {})  server RSS {rss:.1} MiB (peak {hwm:.1})",
            o.rps(),
            o.errors,
            o.server_errors
        );
        samples.push(json!({"t": at, "rps": o.rps(), "errors": o.errors, "server_errors": o.server_errors, "rss_mib": rss, "hwm_mib": hwm}));
    }
    json!({
        "seconds": seconds,
        "requests": total,
        "errors": errors,
        "server_errors": server_errors,
        "samples": samples,
        "disk_bytes": server.disk_bytes(),
    })
}
