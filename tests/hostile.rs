//! Hostile and malformed requests, each with its exact status and scimType. None may answer
//! 500, panic, or change stored data.

mod common;

use common::*;
use serde_json::json;

struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    /// None: send the client's own Authorization header.
    auth: Option<Option<String>>,
    body: Option<Vec<u8>>,
    status: u16,
    scim_type: Option<&'static str>,
}

fn case(
    name: &'static str,
    method: &'static str,
    path: impl Into<String>,
    body: Option<Vec<u8>>,
    status: u16,
    scim_type: Option<&'static str>,
) -> Case {
    Case {
        name,
        method,
        path: path.into(),
        headers: vec![],
        auth: None,
        body,
        status,
        scim_type,
    }
}

fn json_body(v: serde_json::Value) -> Option<Vec<u8>> {
    Some(serde_json::to_vec(&v).unwrap())
}

fn text(s: &str) -> Option<Vec<u8>> {
    Some(s.as_bytes().to_vec())
}

#[test]
fn hostile_requests_get_exact_errors_and_change_nothing() {
    let s = TestServer::start_with(|c| c.server.max_body_bytes = 1 << 20);
    let t = s.tenant("acme", &["acme.com"]);
    let other = s.tenant("globex", &["globex.com"]);
    let c = s.client(&t);
    let alice = create_user(&c, "alice@acme.com");
    let bob = create_user(&c, "bob@acme.com");
    let group = create_group(&c, "Engineering", &[&alice]);
    let before_users = c.get("/Users?count=1000").json();
    let before_groups = c.get("/Groups?count=1000").json();
    let etag = c
        .get(&format!("/Users/{alice}"))
        .header("etag")
        .unwrap()
        .to_string();

    let deep_array = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_object = format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let big = format!(
        "{{\"userName\":\"big@acme.com\",\"title\":\"{}\"}}",
        "x".repeat(10 << 20)
    );
    let long_filter = format!("userName eq \"{}\"", "a".repeat(100_000));
    let nested_filter = format!("{}userName pr{}", "(".repeat(1_000), ")".repeat(1_000));
    let ops_10k: Vec<serde_json::Value> = (0..10_000)
        .map(|_| json!({"op": "add", "path": "title", "value": "x"}))
        .collect();
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let u = |id: &str| format!("/Users/{id}");
    let patch = |ops: serde_json::Value| json_body(patch_ops(ops));

    let mut cases = vec![
        // Bodies that are not what they claim.
        case(
            "broken JSON",
            "POST",
            "/Users",
            text("{\"userName\": "),
            400,
            Some("invalidSyntax"),
        ),
        case(
            "JSON array",
            "POST",
            "/Users",
            text("[]"),
            400,
            Some("invalidSyntax"),
        ),
        case(
            "JSON string",
            "POST",
            "/Users",
            text("\"alice\""),
            400,
            Some("invalidSyntax"),
        ),
        case(
            "JSON null",
            "POST",
            "/Users",
            text("null"),
            400,
            Some("invalidSyntax"),
        ),
        case(
            "empty body",
            "POST",
            "/Users",
            text(""),
            400,
            Some("invalidSyntax"),
        ),
        case(
            "trailing garbage",
            "POST",
            "/Users",
            text("{\"userName\":\"x@acme.com\"} junk"),
            400,
            Some("invalidSyntax"),
        ),
        case(
            "invalid UTF-8",
            "POST",
            "/Users",
            Some(b"{\"userName\":\"\xff\xfe@acme.com\"}".to_vec()),
            400,
            Some("invalidSyntax"),
        ),
        case(
            "arrays 10,000 deep",
            "POST",
            "/Users",
            Some(deep_array.clone().into_bytes()),
            400,
            Some("invalidSyntax"),
        ),
        case(
            "objects 10,000 deep",
            "POST",
            "/Users",
            Some(deep_object.into_bytes()),
            400,
            Some("invalidSyntax"),
        ),
        case(
            "10 MB body",
            "POST",
            "/Users",
            Some(big.into_bytes()),
            413,
            None,
        ),
        // Wrong types and values.
        case(
            "userName an object",
            "POST",
            "/Users",
            json_body(json!({"userName": {"a": 1}})),
            400,
            Some("invalidValue"),
        ),
        case(
            "userName a list",
            "POST",
            "/Users",
            json_body(json!({"userName": ["a@acme.com"]})),
            400,
            Some("invalidValue"),
        ),
        case(
            "userName null",
            "POST",
            "/Users",
            json_body(json!({"userName": null})),
            400,
            Some("invalidValue"),
        ),
        case(
            "no userName, unknown schema",
            "POST",
            "/Users",
            json_body(json!({"schemas": ["urn:bogus:1.0"], "displayName": "x"})),
            400,
            Some("invalidValue"),
        ),
        case(
            "active not a boolean",
            "POST",
            "/Users",
            json_body(json!({"userName": "c@acme.com", "active": "maybe"})),
            400,
            Some("invalidValue"),
        ),
        case(
            "active a number",
            "POST",
            "/Users",
            json_body(json!({"userName": "c@acme.com", "active": 3})),
            400,
            Some("invalidValue"),
        ),
        case(
            "emails nested list",
            "POST",
            "/Users",
            json_body(json!({"userName": "c@acme.com", "emails": [[{"value": "c@acme.com"}]]})),
            400,
            Some("invalidValue"),
        ),
        case(
            "name a string",
            "POST",
            "/Users",
            json_body(json!({"userName": "c@acme.com", "name": "C"})),
            400,
            Some("invalidValue"),
        ),
        case(
            "control characters in userName",
            "POST",
            "/Users",
            json_body(json!({"userName": "c\u{1}\u{7}@acme.com"})),
            400,
            Some("invalidValue"),
        ),
        case(
            "userName of 10,000 characters",
            "POST",
            "/Users",
            json_body(json!({"userName": format!("{}@acme.com", "c".repeat(10_000))})),
            400,
            Some("invalidValue"),
        ),
        case(
            "title of 100,000 characters",
            "POST",
            "/Users",
            json_body(json!({"userName": "c@acme.com", "title": "t".repeat(100_000)})),
            400,
            Some("invalidValue"),
        ),
        case(
            "2,000 emails",
            "POST",
            "/Users",
            json_body(
                json!({"userName": "c@acme.com", "emails": (0..2000).map(|i| json!({"value": format!("c{i}@acme.com")})).collect::<Vec<_>>()}),
            ),
            400,
            Some("invalidValue"),
        ),
        case(
            "address outside the domains",
            "POST",
            "/Users",
            json_body(json!({"userName": "eve@evil.com"})),
            400,
            Some("invalidValue"),
        ),
        case(
            "second email outside the domains",
            "POST",
            "/Users",
            json_body(json!({"userName": "c@acme.com", "emails": [{"value": "c@evil.com"}]})),
            400,
            Some("invalidValue"),
        ),
        case(
            "duplicate userName in another case",
            "POST",
            "/Users",
            json_body(json!({"userName": "ALICE@acme.com"})),
            409,
            Some("uniqueness"),
        ),
        case(
            "group without displayName",
            "POST",
            "/Groups",
            json_body(json!({"members": []})),
            400,
            Some("invalidValue"),
        ),
        case(
            "group members not objects",
            "POST",
            "/Groups",
            json_body(json!({"displayName": "X", "members": [1, 2]})),
            400,
            Some("invalidValue"),
        ),
        case(
            "duplicate group name",
            "POST",
            "/Groups",
            json_body(json!({"displayName": "engineering"})),
            409,
            Some("uniqueness"),
        ),
        // Filters and list parameters.
        // (hyper itself refuses URIs over 64 KB with 414 before routing; a 100 KB filter goes in
        // a search body, and a long one in a query.)
        case(
            "filter of 100 KB in a search",
            "POST",
            "/Users/.search",
            json_body(json!({"filter": long_filter})),
            400,
            Some("invalidFilter"),
        ),
        case(
            "filter of 30 KB in a query",
            "GET",
            format!("/Users?filter={}", enc(&long_filter[..30_000])),
            None,
            400,
            Some("invalidFilter"),
        ),
        case(
            "filter nested 1,000 deep",
            "GET",
            format!("/Users?filter={}", enc(&nested_filter)),
            None,
            400,
            Some("invalidFilter"),
        ),
        case(
            "filter without a value",
            "GET",
            format!("/Users?filter={}", enc("userName eq")),
            None,
            400,
            Some("invalidFilter"),
        ),
        case(
            "filter with an unknown operator",
            "GET",
            format!("/Users?filter={}", enc("userName is \"x\"")),
            None,
            400,
            Some("invalidFilter"),
        ),
        case(
            "filter with unbalanced brackets",
            "GET",
            format!("/Users?filter={}", enc("emails[type eq \"work\"")),
            None,
            400,
            Some("invalidFilter"),
        ),
        case(
            "query not UTF-8",
            "GET",
            "/Users?filter=%FF%FE",
            None,
            400,
            Some("invalidValue"),
        ),
        case(
            "count not a number",
            "GET",
            "/Users?count=lots",
            None,
            400,
            Some("invalidValue"),
        ),
        case(
            "sortOrder unknown",
            "GET",
            "/Users?sortBy=userName&sortOrder=sideways",
            None,
            400,
            Some("invalidValue"),
        ),
        case(
            "startIndex beyond any integer",
            "GET",
            "/Users?startIndex=999999999999999999999999",
            None,
            200,
            None,
        ),
        case(
            "search body not an object",
            "POST",
            "/Users/.search",
            text("[1]"),
            400,
            Some("invalidSyntax"),
        ),
        case(
            "search count an object",
            "POST",
            "/Users/.search",
            json_body(json!({"count": {}})),
            400,
            Some("invalidValue"),
        ),
        // Ids that try to escape.
        case(
            "id with an encoded slash",
            "GET",
            "/Users/..%2F..%2Fetc%2Fpasswd",
            None,
            404,
            None,
        ),
        case("id of dot-dot", "GET", "/Users/..", None, 404, None),
        case("id with a NUL", "GET", "/Users/%00", None, 404, None),
        case("id not UTF-8", "GET", "/Users/%FF", None, 404, None),
        case(
            "another organization's user id",
            "GET",
            u("00000000-0000-7000-8000-000000000000"),
            None,
            404,
            None,
        ),
        case(
            "extra path segments",
            "GET",
            format!("/Users/{alice}/extra"),
            None,
            404,
            None,
        ),
        // PATCH.
        case(
            "PATCH with 10,000 operations",
            "PATCH",
            u(&alice),
            patch(json!(ops_10k)),
            400,
            Some("invalidValue"),
        ),
        case(
            "PATCH with no operations",
            "PATCH",
            u(&alice),
            patch(json!([])),
            400,
            Some("invalidValue"),
        ),
        case(
            "PATCH Operations not a list",
            "PATCH",
            u(&alice),
            json_body(json!({"Operations": {"op": "add"}})),
            400,
            Some("invalidSyntax"),
        ),
        case(
            "PATCH unknown op",
            "PATCH",
            u(&alice),
            patch(json!([{"op": "explode", "path": "title"}])),
            400,
            Some("invalidSyntax"),
        ),
        case(
            "PATCH bad path",
            "PATCH",
            u(&alice),
            patch(json!([{"op": "add", "path": "emails[type eq", "value": "x"}])),
            400,
            Some("invalidPath"),
        ),
        case(
            "PATCH remove without path",
            "PATCH",
            u(&alice),
            patch(json!([{"op": "remove"}])),
            400,
            Some("noTarget"),
        ),
        case(
            "PATCH read-only groups",
            "PATCH",
            u(&alice),
            patch(json!([{"op": "replace", "path": "groups", "value": []}])),
            400,
            Some("mutability"),
        ),
        case(
            "PATCH onto a taken userName",
            "PATCH",
            u(&bob),
            patch(json!([{"op": "replace", "path": "userName", "value": "Alice@acme.com"}])),
            409,
            Some("uniqueness"),
        ),
        case(
            "PATCH active not a boolean",
            "PATCH",
            u(&alice),
            patch(json!([{"op": "replace", "path": "active", "value": "perhaps"}])),
            400,
            Some("invalidValue"),
        ),
        case(
            "PATCH second op invalid: nothing applied",
            "PATCH",
            u(&alice),
            patch(
                json!([{"op": "replace", "path": "title", "value": "CEO"}, {"op": "replace", "path": "active", "value": 7}]),
            ),
            400,
            Some("invalidValue"),
        ),
        case(
            "PATCH a missing user",
            "PATCH",
            u("nope"),
            patch(json!([{"op": "replace", "value": {"active": false}}])),
            404,
            None,
        ),
        case(
            "PATCH group displayName emptied",
            "PATCH",
            format!("/Groups/{group}"),
            patch(json!([{"op": "replace", "path": "displayName", "value": ""}])),
            400,
            Some("invalidValue"),
        ),
        // PUT and DELETE.
        case(
            "PUT without userName",
            "PUT",
            u(&alice),
            json_body(json!({"displayName": "A"})),
            400,
            Some("invalidValue"),
        ),
        case(
            "PUT a missing user",
            "PUT",
            u("nope"),
            json_body(json!({"userName": "n@acme.com"})),
            404,
            None,
        ),
        case(
            "DELETE a missing user",
            "DELETE",
            u("nope"),
            None,
            404,
            None,
        ),
        case(
            "DELETE a missing group",
            "DELETE",
            "/Groups/nope",
            None,
            404,
            None,
        ),
        // Methods and routes.
        case(
            "POST to a discovery endpoint",
            "POST",
            "/ServiceProviderConfig",
            json_body(json!({})),
            405,
            None,
        ),
        case("DELETE a collection", "DELETE", "/Users", None, 405, None),
        case(
            "POST to a resource",
            "POST",
            u(&alice),
            json_body(json!({})),
            405,
            None,
        ),
        case("Bulk", "POST", "/Bulk", json_body(json!({})), 501, None),
        case("Me", "GET", "/Me", None, 501, None),
        case("unknown endpoint", "GET", "/Printers", None, 404, None),
    ];
    // Conditional and authentication cases.
    let mut stale = case(
        "If-Match with an old version",
        "DELETE",
        u(&alice),
        None,
        412,
        None,
    );
    stale.headers.push(("If-Match".into(), "W/\"999\"".into()));
    cases.push(stale);
    let mut lying = case(
        "Content-Length over the limit",
        "POST",
        "/Users",
        text("{}"),
        413,
        None,
    );
    lying
        .headers
        .push(("Content-Length".into(), "99999999999".into()));
    cases.push(lying);
    for (name, auth) in [
        ("no Authorization", None),
        ("empty bearer token", Some("Bearer ".to_string())),
        ("Basic auth", Some("Basic YWRtaW46YWRtaW4=".to_string())),
        (
            "10 KB of garbage",
            Some(format!("Bearer {}", "g".repeat(10_000))),
        ),
        (
            "another organization's key",
            Some(format!("Bearer {}", other.secret)),
        ),
    ] {
        let mut c401 = case(name, "GET", "/Users", None, 401, None);
        c401.auth = Some(auth);
        cases.push(c401);
    }
    let mut doubled = case("doubled Authorization", "GET", "/Users", None, 401, None);
    doubled.auth = Some(None);
    doubled
        .headers
        .push(("Authorization".into(), format!("Bearer {}", t.secret)));
    doubled
        .headers
        .push(("Authorization".into(), format!("Bearer {}", t.secret)));
    cases.push(doubled);
    let mut unknown_org = case(
        "unknown organization",
        "GET",
        "/scim/v2/nosuchorg/Users",
        None,
        401,
        None,
    );
    unknown_org.auth = Some(None);
    cases.push(unknown_org);

    assert!(cases.len() >= 50, "{} cases", cases.len());
    for case in &cases {
        let client = match &case.auth {
            None => c.clone(),
            Some(auth) => c.with_auth(auth.as_deref()),
        };
        let headers: Vec<(&str, &str)> = case
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = if case.headers.iter().any(|(k, _)| k == "Content-Length") {
            // A declared length that is a lie: send the head by hand.
            let body = case.body.clone().unwrap_or_default();
            let mut raw = format!(
                "{} {}{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {}\r\n",
                case.method, client.base, case.path, t.secret
            );
            for (k, v) in &headers {
                raw.push_str(&format!("{k}: {v}\r\n"));
            }
            raw.push_str("\r\n");
            let mut bytes = raw.into_bytes();
            bytes.extend_from_slice(&body);
            client.raw(&bytes)
        } else {
            client.send(case.method, &case.path, case.body.as_deref(), &headers)
        };
        assert_ne!(r.status, 500, "{}: 500", case.name);
        if case.status == 200 {
            assert_eq!(r.status, 200, "{}", case.name);
            continue;
        }
        assert_eq!(
            r.status,
            case.status,
            "{}: {}",
            case.name,
            String::from_utf8_lossy(&r.body)
        );
        let v = r.assert_error(case.status, case.scim_type);
        assert!(
            !v["detail"].as_str().unwrap().contains("sled"),
            "{}: internals leaked",
            case.name
        );
    }
    // Nothing changed.
    assert_eq!(c.get("/Users?count=1000").json(), before_users);
    assert_eq!(c.get("/Groups?count=1000").json(), before_groups);
    assert_eq!(
        c.get(&format!("/Users/{alice}")).header("etag").unwrap(),
        etag
    );
    let report = s.dir.check().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.users, report.groups), (2, 1));
}
