//! The SCIM scenarios, each at the store size its label states, with the ceilings measured
//! right before and after it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{Value, json};

use crate::Args;
use crate::load::{self, Call, Conn, Pace, Slot, Target, drive};
use crate::process::{CeilingServer, Sampler, Server};
use crate::report::{Ceiling, Outcome, Size};

/// Size of a user as the server returns it, for the ceilings' bodies and values.
pub const SAMPLE_LEN: usize = 560;

pub fn user_body(tag: &str, i: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": format!("{tag}{i}@bench.example"),
        "name": {"givenName": "Bench", "familyName": format!("User{i}")},
        "emails": [{"value": format!("{tag}{i}@bench.example"), "type": "work", "primary": true}],
        "externalId": format!("ext-{tag}{i}"),
        "active": true
    }))
    .expect("JSON")
}

/// Creates `n` users named `{tag}{i}@bench.example` and returns their ids in creation order.
pub async fn populate(target: &Target, n: u64, tag: &str, connections: usize) -> Vec<String> {
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (target, next, tag) = (target.clone(), next.clone(), tag.to_string());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&target).await.expect("connect");
            let mut made = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let r = conn
                    .call(&Call::with(Method::POST, "/Users", user_body(&tag, i), 201))
                    .await
                    .expect("create");
                assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
                let v: Value = serde_json::from_slice(&r.body).expect("JSON");
                made.push((i, v["id"].as_str().expect("id").to_string()));
            }
            made
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("populate task"));
    }
    all.sort();
    all.into_iter().map(|(_, id)| id).collect()
}

/// How many users the organization has, as the server counts them.
pub async fn users(target: &Target) -> u64 {
    let r = load::once(target, &Call::get("/Users?count=1&attributes=id")).await;
    let v: Value = serde_json::from_slice(&r.body).expect("JSON");
    v["totalResults"].as_u64().expect("totalResults")
}

/// How many members a group has, read back in full.
pub async fn members(target: &Target, group: &str) -> u64 {
    let r = load::once(
        target,
        &Call::get(format!("/Groups/{group}?attributes=members")),
    )
    .await;
    let v: Value = serde_json::from_slice(&r.body).expect("JSON");
    v["members"].as_array().map_or(0, |m| m.len() as u64)
}

/// Creates a group, then adds `member_ids` 1,000 per PATCH.
/// A PATCH adding (or removing) every one of `ids` to (from) group `group`: one event each.
pub fn members_patch(group: &str, ids: &[String], add: bool) -> Call {
    let op = if add { "add" } else { "remove" };
    let value: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let body = json!({"Operations": [{"op": op, "path": "members", "value": value}]});
    Call::with(
        Method::PATCH,
        format!("/Groups/{group}"),
        serde_json::to_vec(&body).expect("JSON"),
        0,
    )
    .expect_any_success()
}

pub async fn group(target: &Target, name: &str, member_ids: &[String]) -> String {
    let r = load::once(
        target,
        &Call::with(
            Method::POST,
            "/Groups",
            serde_json::to_vec(&json!({"displayName": name})).expect("JSON"),
            201,
        ),
    )
    .await;
    let v: Value = serde_json::from_slice(&r.body).expect("JSON");
    let id = v["id"].as_str().expect("group id").to_string();
    for chunk in member_ids.chunks(1000) {
        let value: Vec<Value> = chunk.iter().map(|m| json!({"value": m})).collect();
        let body = json!({"Operations": [{"op": "add", "path": "members", "value": value}]});
        let r = load::once(
            target,
            &Call::with(
                Method::PATCH,
                format!("/Groups/{id}"),
                serde_json::to_vec(&body).expect("JSON"),
                200,
            ),
        )
        .await;
        assert!(r.status < 300, "{}", String::from_utf8_lossy(&r.body));
    }
    id
}

/// The machine's two ceilings, measured around each scenario.
pub struct Ceilings {
    http: CeilingServer,
    seconds: f64,
    connections: usize,
}

#[derive(Clone, Copy)]
pub enum CeilingKind {
    /// warp returning a fixed body, over the same client and connections.
    Http,
    /// Raw store writes acknowledged through the same writer and group commit, 32 writers.
    Durable,
}

impl Ceilings {
    pub fn start(args: &Args) -> Ceilings {
        Ceilings {
            http: CeilingServer::start(SAMPLE_LEN),
            seconds: args.ceiling_seconds,
            connections: args.connections,
        }
    }

    pub async fn measure(&self, kind: CeilingKind) -> f64 {
        match kind {
            CeilingKind::Http => drive(
                "HTTP ceiling",
                &self.http.target,
                self.connections,
                Pace::Closed(Duration::from_secs_f64(self.seconds)),
                |_: Slot| Call::get("/"),
            )
            .await
            .rps(),
            CeilingKind::Durable => durable_ceiling(self.seconds).await,
        }
    }

    /// Runs `scenario` between two measurements of its ceiling.
    pub async fn around(
        &self,
        kind: CeilingKind,
        scenario: impl std::future::Future<Output = Outcome>,
    ) -> Outcome {
        let before = self.measure(kind).await;
        let mut o = scenario.await;
        let after = self.measure(kind).await;
        o.ceiling = Some(Ceiling {
            name: match kind {
                CeilingKind::Http => "HTTP",
                CeilingKind::Durable => "durable",
            },
            before,
            after,
        });
        o
    }
}

/// Durable writes per second through the store's own writer and group commit (32 writers),
/// on a store of its own in the scratch directory.
pub async fn durable_ceiling(seconds: f64) -> f64 {
    let tmp = tempfile::tempdir_in(crate::scratch_dir()).expect("temp dir");
    let store = scimdesk::store::Store::open(tmp.path(), 64 << 20).expect("open store");
    let value = vec![b'x'; SAMPLE_LEN];
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (store, value, counter) = (store.clone(), value.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let k = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                store
                    .write_scratch(format!("k{k}").as_bytes(), &value)
                    .await
                    .expect("durable write");
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("writer task");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// Runs one scenario with the server's memory sampled and the store's size probed around it.
async fn scenario(
    server: &Server,
    ceilings: &Ceilings,
    kind: CeilingKind,
    group: Option<&str>,
    run: impl std::future::Future<Output = Outcome>,
) -> Outcome {
    let t = &server.target;
    let users_at_start = users(t).await;
    let members_at_start = match group {
        Some(g) => Some(members(t, g).await),
        None => None,
    };
    let sampler = Sampler::start(server.pid());
    let mut o = ceilings.around(kind, run).await;
    o.memory = Some(sampler.finish());
    o.size = Size {
        users_at_start,
        users_at_end: users(t).await,
        members_at_start,
        members_at_end: match group {
            Some(g) => Some(members(t, g).await),
            None => None,
        },
    };
    o
}

fn pick(ids: &[String], n: u64) -> &str {
    // A fixed stride through the ids, so consecutive requests touch different users.
    &ids[(n.wrapping_mul(7919) % ids.len() as u64) as usize]
}

/// Creates into an empty store.
pub async fn creates(args: &Args, ceilings: &Ceilings, server: &Server, tag: &str) -> Outcome {
    let d = Duration::from_secs_f64(args.seconds);
    let tag = tag.to_string();
    scenario(
        server,
        ceilings,
        CeilingKind::Durable,
        None,
        drive(
            "creates POST /Users (empty store)",
            &server.target,
            args.connections,
            Pace::Closed(d),
            move |Slot { n, .. }| Call::with(Method::POST, "/Users", user_body(&tag, n), 201),
        ),
    )
    .await
}

/// A populated store: its users (named `{tag}{i}@bench.example`, in creation order), a group
/// and the users outside it, and how the rows name the sizes.
pub struct Populated<'a> {
    pub server: &'a Server,
    pub ids: Arc<Vec<String>>,
    pub tag: &'a str,
    pub group: &'a str,
    pub pool: Arc<Vec<String>>,
    pub label: String,
    pub group_label: String,
}

/// Lookups, reads, Okta's deactivation, pages, and a group's membership at the store's size.
pub async fn at_size(args: &Args, ceilings: &Ceilings, store: Populated<'_>) -> Vec<Outcome> {
    let Populated {
        server,
        ids,
        tag,
        group,
        pool,
        label,
        group_label,
    } = store;
    let t = &server.target;
    let c = args.connections;
    let d = Duration::from_secs_f64(args.seconds);
    let mut rows = Vec::new();
    let n_users = ids.len() as u64;
    let tag_s = tag.to_string();
    rows.push(
        scenario(
            server,
            ceilings,
            CeilingKind::Http,
            None,
            drive(
                &format!("lookup userName eq ({label})"),
                t,
                c,
                Pace::Closed(d),
                move |Slot { n, .. }| {
                    let i = n.wrapping_mul(7919) % n_users;
                    Call::get(format!(
                        "/Users?filter=userName%20eq%20%22{tag_s}{i}%40bench.example%22&startIndex=1&count=100"
                    ))
                },
            ),
        )
        .await,
    );
    let v = ids.clone();
    rows.push(
        scenario(
            server,
            ceilings,
            CeilingKind::Http,
            None,
            drive(
                &format!("GET /Users/{{id}} ({label})"),
                t,
                c,
                Pace::Closed(d),
                move |Slot { n, .. }| Call::get(format!("/Users/{}", pick(&v, n))),
            ),
        )
        .await,
    );
    let v = ids.clone();
    rows.push(
        scenario(
            server,
            ceilings,
            CeilingKind::Durable,
            None,
            drive(
                &format!("Okta deactivate/reactivate PATCH ({label})"),
                t,
                c,
                Pace::Closed(d),
                move |Slot { n, .. }| {
                    // Each visit to a user flips it, so every request changes something.
                    let round = n / v.len() as u64;
                    let active = round % 2 == 1;
                    let body = format!(
                        r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{{"op":"replace","value":{{"active":{active}}}}}]}}"#
                    );
                    Call::with(
                        Method::PATCH,
                        format!("/Users/{}", v[(n % v.len() as u64) as usize]),
                        body.into_bytes(),
                        200,
                    )
                },
            ),
        )
        .await,
    );
    rows.push(
        scenario(
            server,
            ceilings,
            CeilingKind::Http,
            None,
            drive(
                &format!("list page of 100 ({label})"),
                t,
                c,
                Pace::Closed(d),
                move |Slot { n, .. }| {
                    let pages = n_users.div_ceil(100).max(1);
                    Call::get(format!(
                        "/Users?startIndex={}&count=100",
                        (n % pages) * 100 + 1
                    ))
                },
            ),
        )
        .await,
    );
    let (g, p) = (group.to_string(), pool.clone());
    let connections = c;
    rows.push(
        scenario(
            server,
            ceilings,
            CeilingKind::Durable,
            Some(group),
            drive(
                &format!("add or remove 1 member ({group_label})"),
                t,
                c,
                Pace::Closed(d),
                move |s: Slot| {
                    // Each connection adds a user of its own share of the pool and removes it
                    // with its next request, so the group keeps its size (at most one extra
                    // member per connection at any moment).
                    let share = (p.len() / connections).max(1);
                    let user = &p[(s.conn * share + (s.k / 2) as usize % share) % p.len()];
                    let op = if s.k.is_multiple_of(2) { "add" } else { "remove" };
                    let body = format!(
                        r#"{{"Operations":[{{"op":"{op}","path":"members","value":[{{"value":"{user}"}}]}}]}}"#
                    );
                    Call::with(Method::PATCH, format!("/Groups/{g}"), body.into_bytes(), 204)
                        .expect_any_success()
                },
            ),
        )
        .await,
    );
    let g = group.to_string();
    rows.push(
        scenario(
            server,
            ceilings,
            CeilingKind::Http,
            Some(group),
            drive(
                &format!("GET group excludedAttributes=members ({group_label})"),
                t,
                c,
                Pace::Closed(d),
                move |_: Slot| Call::get(format!("/Groups/{g}?excludedAttributes=members")),
            ),
        )
        .await,
    );
    rows
}

/// GET by id and creates at a fixed rate (half the closed-loop maximum), for tail latency.
pub async fn tail(
    args: &Args,
    server: &Server,
    ids: Arc<Vec<String>>,
    get_rate: f64,
    create_rate: f64,
) -> Vec<Outcome> {
    let t = &server.target;
    let d = Duration::from_secs_f64(args.seconds);
    let mut rows = Vec::new();
    let users_at_start = users(t).await;
    let v = ids.clone();
    let mut o = drive(
        &format!("GET /Users/{{id}} at {get_rate:.0}/s (half of max, 1k users)"),
        t,
        args.connections,
        Pace::Rate(get_rate, d),
        move |Slot { n, .. }| Call::get(format!("/Users/{}", pick(&v, n))),
    )
    .await;
    o.size = Size {
        users_at_start,
        users_at_end: users(t).await,
        ..Default::default()
    };
    rows.push(o);
    let users_at_start = users(t).await;
    let mut o = drive(
        &format!("creates at {create_rate:.0}/s (half of max)"),
        t,
        args.connections,
        Pace::Rate(create_rate, d),
        move |Slot { n, .. }| Call::with(Method::POST, "/Users", user_body("tail", n), 201),
    )
    .await;
    o.size = Size {
        users_at_start,
        users_at_end: users(t).await,
        ..Default::default()
    };
    rows.push(o);
    rows
}
