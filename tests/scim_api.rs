//! The SCIM API over real HTTP: endpoints, errors, authentication, tenancy, ETags, queries,
//! concurrency and restarts.

mod common;

use common::*;
use serde_json::json;

#[test]
fn healthz_and_unknown_routes() {
    let s = TestServer::start();
    let c = s.anonymous();
    let r = c.get("/healthz");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    c.send("POST", "/healthz", None, &[])
        .assert_error(405, None);
    c.get("/nope").assert_error(404, None);
    c.get("/").assert_error(404, None);
}

#[test]
fn discovery_endpoints() {
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let c = s.client(&t);
    let spc = c.get("/ServiceProviderConfig");
    assert_eq!(spc.status, 200);
    assert_eq!(spc.header("content-type"), Some("application/scim+json"));
    let spc = spc.json();
    for feature in ["patch", "bulk", "filter", "changePassword", "sort", "etag"] {
        assert!(spc[feature]["supported"].is_boolean(), "{feature}");
    }
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["bulk"]["supported"], false);
    assert_eq!(spc["filter"]["maxResults"], 1000);
    assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");

    let schemas = c.get("/Schemas").json();
    let ids: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"urn:ietf:params:scim:schemas:core:2.0:Group"),
        "Entra needs the Group schema"
    );
    assert!(ids.contains(&"urn:ietf:params:scim:schemas:core:2.0:User"));
    assert!(ids.contains(&"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"));
    let one = c.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group");
    assert_eq!(one.status, 200);
    assert_eq!(
        one.json()["meta"]["location"],
        "https://scim.test/scim/v2/acme/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group"
    );
    c.get("/Schemas/urn:nope").assert_error(404, None);

    let types = c.get("/ResourceTypes").json();
    assert_eq!(types["totalResults"], 2);
    assert_eq!(c.get("/ResourceTypes/User").json()["endpoint"], "/Users");
    assert_eq!(
        c.get("/ResourceTypes/Group").json()["schema"],
        "urn:ietf:params:scim:schemas:core:2.0:Group"
    );
    c.get("/ResourceTypes/Printer").assert_error(404, None);

    for path in [
        "/ServiceProviderConfig",
        "/Schemas",
        "/ResourceTypes",
        "/ResourceTypes/User",
    ] {
        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            let r = c.send(
                method,
                path,
                Some(b"{}"),
                &[("Content-Type", "application/json")],
            );
            r.assert_error(405, None);
            assert!(r.header("allow").is_some());
        }
    }
    c.get("/Me").assert_error(501, None);
    c.post("/Bulk", &json!({})).assert_error(501, None);
    c.get("/Printers").assert_error(404, None);
    c.get("/Users/x/y").assert_error(404, None);
}

#[test]
fn every_authentication_failure_is_the_same_401() {
    let s = TestServer::start();
    let acme = s.tenant("acme", &["acme.com"]);
    let globex = s.tenant("globex", &["globex.com"]);
    let c = s.client(&acme);
    let revoked = s.block_on(s.dir.issue_key("acme", Some("old"))).unwrap();
    s.block_on(s.dir.revoke_key("acme", &revoked.key.id))
        .unwrap();

    let bearer_revoked = format!("Bearer {}", revoked.secret);
    let bearer_globex = format!("Bearer {}", globex.secret);
    let cases: Vec<(Option<&str>, &str)> = vec![
        (None, "/scim/v2/acme/Users"),
        (Some("non-token"), "/scim/v2/acme/Users"), // Okta's required test
        (Some("Bearer"), "/scim/v2/acme/Users"),
        (Some("Basic dXNlcjpwYXNz"), "/scim/v2/acme/Users"),
        (Some("Bearer scimdesk_wrong"), "/scim/v2/acme/Users"),
        (Some(&bearer_revoked), "/scim/v2/acme/Users"),
        (Some(&bearer_globex), "/scim/v2/acme/Users"),
        (Some(&bearer_globex), "/scim/v2/nosuchorg/Users"),
        (Some(&bearer_globex), "/scim/v2/Not_A_Slug/Users"),
    ];
    let mut bodies = Vec::new();
    for (auth, path) in cases {
        let r = c.with_auth(auth).get(path);
        let body = r.assert_error(401, None);
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"scimdesk\""),
            "{auth:?}"
        );
        bodies.push(body);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "401 bodies differ: {bodies:?}"
    );
    // Doubled Authorization headers are refused too.
    let r = c.with_auth(None).send(
        "GET",
        "/Users",
        None,
        &[
            ("Authorization", &format!("Bearer {}", acme.secret)),
            ("Authorization", &format!("Bearer {}", acme.secret)),
        ],
    );
    r.assert_error(401, None);
    // The scheme is case-insensitive.
    assert_eq!(
        c.with_auth(Some(&format!("bearer {}", acme.secret)))
            .get("/Users")
            .status,
        200
    );
}

#[test]
fn scim_disabled_is_403_and_key_use_is_recorded() {
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let c = s.client(&t);
    assert!(s.dir.list_keys("acme").unwrap()[0].last_used.is_none());
    assert_eq!(c.get("/Users").status, 200);
    // The last use is written in the background (it is not flushed per request).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.dir.list_keys("acme").unwrap()[0].last_used.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "last use never recorded"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    s.block_on(s.dir.set_scim_enabled("acme", false)).unwrap();
    let v = c.get("/Users").assert_error(403, None);
    assert_eq!(v["detail"], "SCIM is disabled for this organization");
}

#[test]
fn create_read_replace_delete_a_user() {
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let c = s.client(&t);
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": "alice@acme.com",
        "externalId": "00u1",
        "name": {"formatted": "Alice Smith", "givenName": "Alice", "familyName": "Smith", "middleName": "M", "honorificPrefix": "Dr", "honorificSuffix": "III"},
        "displayName": "Alice", "nickName": "Al", "profileUrl": "https://acme.com/alice", "title": "Engineer",
        "userType": "Employee", "preferredLanguage": "en", "locale": "en-US", "timezone": "Europe/Paris", "active": true,
        "password": "correct horse",
        "emails": [{"value": "alice@acme.com", "type": "work", "primary": true}],
        "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}],
        "ims": [{"value": "alice", "type": "xmpp"}],
        "photos": [{"value": "https://acme.com/a.png", "type": "photo"}],
        "addresses": [{"streetAddress": "1 Main St", "locality": "Springfield", "region": "IL", "postalCode": "62701", "country": "US", "type": "work", "primary": true}],
        "entitlements": [{"value": "admin"}], "roles": [{"value": "dev", "primary": "True"}],
        "x509Certificates": [{"value": "MIIB"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984", "costCenter": "4130", "organization": "Acme", "division": "R&D",
            "department": "Tour Operations", "manager": {"value": "26118915"}
        },
        "unknownThing": "ignored"
    });
    let r = c.post("/Users", &body);
    assert_eq!(r.status, 201);
    let created = r.json();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.header("location").unwrap(),
        created["meta"]["location"].as_str().unwrap()
    );
    assert_eq!(
        created["meta"]["location"],
        format!("https://scim.test/scim/v2/acme/Users/{id}")
    );
    assert_eq!(
        r.header("etag").unwrap(),
        created["meta"]["version"].as_str().unwrap()
    );
    assert_eq!(created["meta"]["resourceType"], "User");
    assert!(created.get("password").is_none());
    assert!(created.get("unknownThing").is_none());
    assert_eq!(created["groups"], json!([]));
    assert_eq!(created["roles"], json!([{"value": "dev", "primary": true}]));
    for attr in [
        "name",
        "displayName",
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "addresses",
        "entitlements",
        "x509Certificates",
        "externalId",
    ] {
        assert_eq!(created[attr], body[attr], "{attr}");
    }
    let ext = &created["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
    assert_eq!(
        ext,
        &body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]
    );
    assert_eq!(created["schemas"].as_array().unwrap().len(), 2);

    let got = c.get(&format!("/Users/{id}"));
    assert_eq!(got.status, 200);
    assert_eq!(got.json(), created);

    // The password never reached the disk: not in the record, not in the activity record of
    // the create (waited for until it is stored, then read back decoded), not in any file.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let stored = loop {
        let records = s
            .dir
            .activity()
            .query(&scimdesk::activity::ActivityQuery {
                org: Some(t.id.clone()),
                resource_id: Some(id.clone()),
                ..Default::default()
            })
            .unwrap();
        if records.iter().any(|r| r.method == "POST") {
            break records;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the create was never stored"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let text = serde_json::to_string(&stored).unwrap();
    assert!(text.contains("alice@acme.com") && !text.contains("correct horse"));
    s.block_on(s.dir.durable()).unwrap();
    for f in walk(&s.data) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(13).any(|w| w == b"correct horse"),
            "password on disk in {f:?}"
        );
    }

    // PUT replaces: attributes left out are gone; `meta` and the resource's own id are
    // ignored; another id is a mutability error (id is read-only).
    let r = c.put(
        &format!("/Users/{id}"),
        &json!({"userName": "alice@acme.com", "id": "other", "displayName": "Alice S"}),
    );
    let e = r.assert_error(400, Some("mutability"));
    assert!(
        e["detail"].as_str().unwrap().contains("id is read-only"),
        "{e}"
    );
    let r = c.put(&format!("/Users/{id}"), &json!({"userName": "alice@acme.com", "id": id, "meta": {"version": "x"}, "displayName": "Alice S", "misspeled": 1}));
    assert_eq!(r.status, 200);
    let replaced = r.json();
    assert_eq!(replaced["id"], id.as_str());
    assert_eq!(replaced["displayName"], "Alice S");
    assert!(replaced.get("title").is_none() && replaced.get("emails").is_none());
    assert_ne!(replaced["meta"]["version"], created["meta"]["version"]);
    assert_eq!(replaced["meta"]["created"], created["meta"]["created"]);
    c.put(
        &format!("/Users/{id}"),
        &json!({"displayName": "no userName"}),
    )
    .assert_error(400, Some("invalidValue"));
    c.put("/Users/nope", &json!({"userName": "x@acme.com"}))
        .assert_error(404, None);

    assert_eq!(c.delete(&format!("/Users/{id}")).status, 204);
    c.get(&format!("/Users/{id}")).assert_error(404, None);
    c.delete(&format!("/Users/{id}")).assert_error(404, None);
    c.send("POST", &format!("/Users/{id}"), Some(b"{}"), &[])
        .assert_error(405, None);
    c.send("DELETE", "/Users", None, &[])
        .assert_error(405, None);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

#[test]
fn uniqueness_ignores_case() {
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let c = s.client(&t);
    create_user(&c, "alice@acme.com");
    c.post("/Users", &user("ALICE@acme.com"))
        .assert_error(409, Some("uniqueness"));
    let bob = create_user(&c, "bob@acme.com");
    // Renaming onto someone else's userName is a clash too.
    c.patch(
        &format!("/Users/{bob}"),
        &patch_ops(json!([{"op": "replace", "path": "userName", "value": "Alice@Acme.com"}])),
    )
    .assert_error(409, Some("uniqueness"));
    create_group(&c, "Engineering", &[]);
    c.post("/Groups", &json!({"displayName": "engineering"}))
        .assert_error(409, Some("uniqueness"));
    c.post("/Groups", &json!({"members": []}))
        .assert_error(400, Some("invalidValue"));
}

#[test]
fn domain_rule() {
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let c = s.client(&t);
    let v = c
        .post("/Users", &user("eve@evil.com"))
        .assert_error(400, Some("invalidValue"));
    let detail = v["detail"].as_str().unwrap();
    assert!(detail.contains("eve@evil.com"), "{detail}");
    assert!(
        !detail.contains("acme.com"),
        "the allowed list must not leak: {detail}"
    );
    // An extra email outside the domains is refused as well; case does not matter.
    let mut body = user("bob@ACME.com");
    body["emails"] = json!([{"value": "bob@acme.com"}, {"value": "bob@gmail.com"}]);
    c.post("/Users", &body)
        .assert_error(400, Some("invalidValue"));
    let bob = create_user(&c, "bob@ACME.com");
    // A userName without @ is not an address.
    let mut plain = user("carol");
    plain.as_object_mut().unwrap().remove("emails");
    assert_eq!(c.post("/Users", &plain).status, 201);
    // Changing to an outside address is refused...
    c.patch(
        &format!("/Users/{bob}"),
        &patch_ops(json!([{"op": "add", "path": "emails", "value": [{"value": "b@evil.com"}]}])),
    )
    .assert_error(400, Some("invalidValue"));
    // ...but after the domain is removed, deactivating and deleting still work.
    s.block_on(s.dir.remove_domain("acme", "acme.com")).unwrap();
    let r = c.patch(
        &format!("/Users/{bob}"),
        &patch_ops(json!([{"op": "replace", "value": {"active": false}}])),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let mut put = user("bob@ACME.com");
    put["active"] = json!(false);
    assert_eq!(c.put(&format!("/Users/{bob}"), &put).status, 200);
    assert_eq!(c.delete(&format!("/Users/{bob}")).status, 204);
    // `*` allows any domain.
    s.block_on(s.dir.add_domain("acme", "*")).unwrap();
    assert_eq!(c.post("/Users", &user("eve@evil.com")).status, 201);
}

#[test]
fn organizations_are_isolated() {
    let s = TestServer::start();
    let acme = s.tenant("acme", &["shared.com"]);
    let globex = s.tenant("globex", &["shared.com"]);
    let a = s.client(&acme);
    let g = s.client(&globex);
    let alice = create_user(&a, "alice@shared.com");
    let eng = create_group(&a, "Eng", &[&alice]);
    // Same userName in another organization is fine.
    let other_alice = create_user(&g, "alice@shared.com");
    assert_ne!(alice, other_alice);
    // Globex cannot see or touch acme's records by id or filter.
    g.get(&format!("/Users/{alice}")).assert_error(404, None);
    g.get(&format!("/Groups/{eng}")).assert_error(404, None);
    g.put(&format!("/Users/{alice}"), &user("alice@shared.com"))
        .assert_error(404, None);
    g.patch(
        &format!("/Users/{alice}"),
        &patch_ops(json!([{"op": "replace", "value": {"active": false}}])),
    )
    .assert_error(404, None);
    g.delete(&format!("/Users/{alice}")).assert_error(404, None);
    g.delete(&format!("/Groups/{eng}")).assert_error(404, None);
    let found = g
        .get(&format!("/Users?filter=id%20eq%20%22{alice}%22"))
        .json();
    assert_eq!(found["totalResults"], 0);
    let found = g
        .get("/Users?filter=userName%20eq%20%22alice%40shared.com%22")
        .json();
    assert_eq!(found["Resources"][0]["id"], other_alice.as_str());
    assert_eq!(g.get("/Groups").json()["totalResults"], 0);
    // Adding acme's user to a globex group: unknown id, skipped.
    let gg = create_group(&g, "G", &[]);
    let r = g.patch(
        &format!("/Groups/{gg}"),
        &patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": alice}]}])),
    );
    assert_eq!(r.status, 204);
    assert!(member_ids(&g, &gg).is_empty());
    assert_eq!(member_ids(&a, &eng), vec![alice.clone()]);
    // Acme is unchanged.
    assert_eq!(a.get(&format!("/Users/{alice}")).json()["active"], true);
}

#[test]
fn etags_and_conditional_requests() {
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let c = s.client(&t);
    let id = create_user(&c, "alice@acme.com");
    let r = c.get(&format!("/Users/{id}"));
    let etag = r.header("etag").unwrap().to_string();
    assert!(etag.starts_with("W/\""));
    let r = c.send(
        "GET",
        &format!("/Users/{id}"),
        None,
        &[("If-None-Match", &etag)],
    );
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(
        c.send(
            "GET",
            &format!("/Users/{id}"),
            None,
            &[("If-None-Match", "W/\"999\"")]
        )
        .status,
        200
    );
    let body = serde_json::to_vec(&patch_ops(
        json!([{"op": "replace", "path": "title", "value": "x"}]),
    ))
    .unwrap();
    c.send(
        "PATCH",
        &format!("/Users/{id}"),
        Some(&body),
        &[("If-Match", "W/\"999\"")],
    )
    .assert_error(412, None);
    let r = c.send(
        "PATCH",
        &format!("/Users/{id}"),
        Some(&body),
        &[("If-Match", &etag)],
    );
    assert_eq!(r.status, 200);
    let new_etag = r.header("etag").unwrap().to_string();
    assert_ne!(new_etag, etag);
    assert_eq!(r.json()["meta"]["version"], new_etag.as_str());
    // The old version no longer matches anything that writes.
    let put = serde_json::to_vec(&user("alice@acme.com")).unwrap();
    c.send(
        "PUT",
        &format!("/Users/{id}"),
        Some(&put),
        &[("If-Match", &etag)],
    )
    .assert_error(412, None);
    c.send(
        "DELETE",
        &format!("/Users/{id}"),
        None,
        &[("If-Match", &etag)],
    )
    .assert_error(412, None);
    assert_eq!(
        c.send(
            "DELETE",
            &format!("/Users/{id}"),
            None,
            &[("If-Match", "*")]
        )
        .status,
        204
    );
}

#[test]
fn filters_paging_sorting_and_projection() {
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let c = s.client(&t);
    let names = ["dave", "alice", "carol", "bob", "eve"];
    let mut ids = Vec::new();
    for n in names {
        let mut body = user(&format!("{n}@acme.com"));
        body["externalId"] = json!(format!("ext-{n}"));
        body["title"] = json!(if n < "c" { "Engineer" } else { "Manager" });
        let r = c.post("/Users", &body);
        assert_eq!(r.status, 201);
        ids.push(r.json()["id"].as_str().unwrap().to_string());
    }
    let list = c.get("/Users").json();
    assert_eq!(
        list["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    assert_eq!(list["totalResults"], 5);
    assert_eq!(list["itemsPerPage"], 5);
    assert_eq!(list["startIndex"], 1);
    // Stable creation order across pages.
    let page = |start: usize, count: usize| -> Vec<String> {
        c.get(&format!("/Users?startIndex={start}&count={count}"))
            .json()["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let mut paged = page(1, 2);
    paged.extend(page(3, 2));
    paged.extend(page(5, 2));
    assert_eq!(paged, ids);
    assert_eq!(page(0, 2), page(1, 2));
    assert!(page(6, 2).is_empty());
    let zero = c.get("/Users?count=0").json();
    assert_eq!(zero["totalResults"], 5);
    assert_eq!(zero["itemsPerPage"], 0);
    // Filters.
    let count = |f: &str| {
        c.get(&format!("/Users?filter={}", enc(f))).json()["totalResults"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(count(r#"userName eq "ALICE@acme.com""#), 1);
    assert_eq!(count(r#"UserName Eq "bob@acme.com""#), 1);
    assert_eq!(count(r#"externalId eq "ext-carol""#), 1);
    assert_eq!(count("externalId eq ext-carol"), 1);
    assert_eq!(count(r#"title eq "Engineer""#), 2);
    assert_eq!(count(r#"title eq "engineer" and userName sw "a""#), 1);
    assert_eq!(
        count(r#"userName eq "alice@acme.com" or userName eq "bob@acme.com""#),
        2
    );
    assert_eq!(count(r#"not (title eq "Engineer")"#), 3);
    assert_eq!(
        count(r#"emails[type eq "work" and value co "@acme.com"]"#),
        5
    );
    assert_eq!(count(r#"emails.value eq "EVE@acme.com""#), 1);
    assert_eq!(count(&format!(r#"id eq "{}""#, ids[2])), 1);
    assert_eq!(count(r#"meta.created gt "2000-01-01T00:00:00Z""#), 5);
    assert_eq!(count("title pr"), 5);
    c.get(&format!("/Users?filter={}", enc("userName eq")))
        .assert_error(400, Some("invalidFilter"));
    c.get(&format!("/Users?filter={}", enc("((userName pr")))
        .assert_error(400, Some("invalidFilter"));
    c.get("/Users?count=lots")
        .assert_error(400, Some("invalidValue"));
    // Sorting.
    let sorted: Vec<String> = c.get("/Users?sortBy=userName").json()["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        sorted,
        [
            "alice@acme.com",
            "bob@acme.com",
            "carol@acme.com",
            "dave@acme.com",
            "eve@acme.com"
        ]
    );
    let desc: Vec<String> = c
        .get("/Users?sortBy=userName&sortOrder=descending&count=2")
        .json()["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(desc, ["eve@acme.com", "dave@acme.com"]);
    // Projection on reads and writes; id and schemas always come back.
    let one = c
        .get(&format!(
            "/Users/{}?attributes=userName,name.givenName",
            ids[0]
        ))
        .json();
    let keys: Vec<&String> = one.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["schemas", "id", "userName", "name"]);
    assert_eq!(one["name"], json!({"givenName": "Test"}));
    let without = c
        .get(&format!(
            "/Users?excludedAttributes=emails,meta&filter={}",
            enc(r#"userName eq "dave@acme.com""#)
        ))
        .json();
    assert!(
        without["Resources"][0].get("emails").is_none()
            && without["Resources"][0].get("meta").is_none()
    );
    let created = c.post("/Users?attributes=userName", &user("frank@acme.com"));
    assert_eq!(created.status, 201);
    assert_eq!(created.json().as_object().unwrap().len(), 3);
    // POST .search takes the same as a body.
    let found = c.post("/Users/.search", &json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "title eq \"Manager\"", "sortBy": "userName", "startIndex": 1, "count": 2, "attributes": ["userName"]
    }));
    assert_eq!(found.status, 200);
    let found = found.json();
    assert_eq!(found["totalResults"], 3);
    assert_eq!(found["Resources"][0]["userName"], "carol@acme.com");
    assert!(found["Resources"][0].get("title").is_none());
    let all = c
        .post(
            "/.search",
            &json!({"filter": "userName pr or displayName pr"}),
        )
        .json();
    assert_eq!(all["totalResults"], 6);
    c.get("/Users/.search").assert_error(405, None);
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[test]
fn malformed_requests_are_scim_errors() {
    let s = TestServer::start_with(|c| c.server.max_body_bytes = 4096);
    let t = s.tenant("acme", &["acme.com"]);
    let c = s.client(&t);
    let send = |body: &[u8], ct: Option<&str>| {
        let headers: Vec<(&str, &str)> =
            ct.map(|ct| vec![("Content-Type", ct)]).unwrap_or_default();
        c.send("POST", "/Users", Some(body), &headers)
    };
    send(b"{not json", Some("application/scim+json")).assert_error(400, Some("invalidSyntax"));
    send(b"\xff\xfe{}", Some("application/json")).assert_error(400, Some("invalidSyntax"));
    send(b"", None).assert_error(400, Some("invalidSyntax"));
    send(b"[1,2]", None).assert_error(400, Some("invalidSyntax"));
    send(br#"{"userName": ["a"]}"#, None).assert_error(400, Some("invalidValue"));
    send(br#"{"userName": "a@acme.com", "active": 3}"#, None)
        .assert_error(400, Some("invalidValue"));
    let big = format!(
        r#"{{"userName": "a@acme.com", "title": "{}"}}"#,
        "x".repeat(5000)
    );
    send(big.as_bytes(), None).assert_error(413, None);
    // Every accepted content type.
    for (i, ct) in [
        Some("application/json"),
        Some("application/scim+json"),
        Some("application/scim+json; charset=utf-8"),
        Some("application/json;charset=UTF-8"),
        None,
    ]
    .into_iter()
    .enumerate()
    {
        let body = serde_json::to_vec(&user(&format!("u{i}@acme.com"))).unwrap();
        assert_eq!(send(&body, ct).status, 201, "{ct:?}");
    }
    // A body sent chunked, without Content-Length, over the limit.
    let chunk = "x".repeat(3000);
    let raw = format!(
        "POST /scim/v2/acme/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{chunk}\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        t.secret,
        chunk.len(),
        chunk.len()
    );
    c.raw(raw.as_bytes()).assert_error(413, None);
    c.patch(
        "/Users/nope",
        &patch_ops(json!([{"op": "replace", "value": {"active": false}}])),
    )
    .assert_error(404, None);
    let id = create_user(&c, "z@acme.com");
    c.patch(&format!("/Users/{id}"), &json!({"Operations": []}))
        .assert_error(400, Some("invalidValue"));
    c.patch(&format!("/Users/{id}"), &patch_ops(json!([{"op": "jump"}])))
        .assert_error(400, Some("invalidSyntax"));
}

#[test]
fn concurrent_creates_of_one_user_name_have_one_winner() {
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let c = s.client(&t);
    let handles: Vec<_> = (0..50)
        .map(|_| {
            let c = c.clone();
            std::thread::spawn(move || c.post("/Users", &user("same@acme.com")).status)
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert_eq!(c.get("/Users").json()["totalResults"], 1);
}

#[test]
fn concurrent_membership_patches_lose_no_member() {
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let c = s.client(&t);
    let users: Vec<String> = (0..50)
        .map(|i| create_user(&c, &format!("u{i}@acme.com")))
        .collect();
    let group = create_group(&c, "Everyone", &[]);
    let handles: Vec<_> = users
        .iter()
        .map(|u| {
            let (c, u, g) = (c.clone(), u.clone(), group.clone());
            std::thread::spawn(move || {
                c.patch(
                    &format!("/Groups/{g}"),
                    &patch_ops(json!([{"op": "Add", "path": "members", "value": [{"value": u}]}])),
                )
                .status
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 204);
    }
    let mut expected = users.clone();
    expected.sort();
    assert_eq!(member_ids(&c, &group), expected);
}

#[test]
fn everything_survives_a_restart() {
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let c = s.client(&t);
    let alice = create_user(&c, "alice@acme.com");
    let bob = create_user(&c, "bob@acme.com");
    let group = create_group(&c, "Eng", &[&alice, &bob]);
    c.patch(
        &format!("/Users/{bob}"),
        &patch_ops(json!([{"op": "replace", "value": {"active": false}}])),
    );
    let before_user = c.get(&format!("/Users/{alice}")).json();
    let before_group = c.get(&format!("/Groups/{group}")).json();

    let s = s.restart();
    let c = s.client(&t);
    assert_eq!(c.get(&format!("/Users/{alice}")).json(), before_user);
    assert_eq!(c.get(&format!("/Groups/{group}")).json(), before_group);
    assert_eq!(c.get(&format!("/Users/{bob}")).json()["active"], false);
    let found = c
        .get("/Users?filter=userName%20eq%20%22BOB%40acme.com%22")
        .json();
    assert_eq!(found["Resources"][0]["id"], bob.as_str());
    c.post("/Users", &user("alice@acme.com"))
        .assert_error(409, Some("uniqueness"));
}

#[test]
fn deleting_an_organization_under_live_traffic_leaves_a_clean_store() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let s = TestServer::start();
    let acme = s.tenant("acme", &["acme.com"]);
    let globex = s.tenant("globex", &["globex.com"]);
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let traffic: Vec<_> = (0..4)
        .map(|t| {
            let (c, domain) = if t == 3 {
                (s.client(&globex), "globex.com")
            } else {
                (s.client(&acme), "acme.com")
            };
            let (stop, served) = (stop.clone(), served.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let r = c.post("/Users", &user(&format!("t{t}-{n}@{domain}")));
                    // 404: the organization went between authentication and the write.
                    assert!(matches!(r.status, 201 | 401 | 404), "{}", r.status);
                    if r.status == 201 {
                        let id = r.json()["id"].as_str().unwrap().to_string();
                        c.get(&format!("/Users/{id}"));
                    }
                    served.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
            })
        })
        .collect();
    while served.load(Ordering::Relaxed) < 200 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    s.block_on(s.dir.delete_org("acme")).unwrap();
    let after = served.load(Ordering::Relaxed);
    while served.load(Ordering::Relaxed) < after + 100 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    for t in traffic {
        t.join().unwrap();
    }
    // Everything recorded is stored (or dropped, for the deleted organization) before checking.
    s.block_on(s.dir.close()).unwrap();
    let report = s.dir.check().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.organizations, 1);
    assert!(report.users > 0 && report.activity_records > 0);
    let left = s
        .dir
        .activity()
        .query(&scimdesk::activity::ActivityQuery {
            org: Some("acme".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(
        left.is_empty(),
        "{} activity records of acme left",
        left.len()
    );
    assert!(s.dir.get_org("acme").is_err());
}

/// A client that writes its whole oversized body before reading (as most HTTP stacks do) gets
/// the 413 with a SCIM body, not a broken pipe; chunked bodies too.
#[test]
fn an_oversized_body_is_read_to_its_end_and_answered_413() {
    use std::io::{Read, Write};
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let big = vec![b' '; 10 << 20];
    for chunked in [false, true] {
        let mut head = format!(
            "POST /scim/v2/acme/Users HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/scim+json\r\nAuthorization: Bearer {}\r\n",
            t.secret
        );
        let mut bytes = Vec::new();
        if chunked {
            head.push_str("Transfer-Encoding: chunked\r\n\r\n");
            bytes.extend_from_slice(head.as_bytes());
            for part in big.chunks(64 << 10) {
                bytes.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                bytes.extend_from_slice(part);
                bytes.extend_from_slice(b"\r\n");
            }
            bytes.extend_from_slice(b"0\r\n\r\n");
        } else {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", big.len()));
            bytes.extend_from_slice(head.as_bytes());
            bytes.extend_from_slice(&big);
        }
        let mut stream = std::net::TcpStream::connect(s.addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        stream
            .write_all(&bytes)
            .unwrap_or_else(|e| panic!("chunked {chunked}: the body could not be sent: {e}"));
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).unwrap();
        let r = parse_response(&buf);
        let e = r.assert_error(413, None);
        assert!(e["detail"].as_str().unwrap().contains("larger than"), "{e}");
    }
}

/// A URL longer than hyper accepts (a filter of 4,000 clauses) gets a SCIM error body, not an
/// empty 414; the same filter sent in the body of `.search` is a readable 400 invalidFilter.
#[test]
fn an_over_long_url_gets_a_scim_error_body() {
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let c = s.client(&t);
    create_user(&c, "u3999@acme.com");
    let filter: Vec<String> = (0..4000)
        .map(|i| format!("userName eq \"u{i}@acme.com\""))
        .collect();
    let filter = filter.join(" or ");
    let encoded = filter.replace(' ', "%20").replace('"', "%22");
    let r = c.get(&format!("/Users?filter={encoded}"));
    let e = r.assert_error(414, None);
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .contains("longer than 65534 bytes"),
        "{e}"
    );
    // The connection is closed after it, and the server serves the next one.
    assert_eq!(c.get("/Users?count=0").status, 200);
    let r = c.post(
        "/Users/.search",
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": filter}),
    );
    let e = r.assert_error(400, Some("invalidFilter"));
    assert!(e["detail"].as_str().unwrap().contains("longer than"), "{e}");
    // A filter within the limit, in the URL, works.
    let r = c.get("/Users?filter=userName%20eq%20%22u3999@acme.com%22");
    assert_eq!(r.json()["totalResults"], 1);
}
