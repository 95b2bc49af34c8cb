//! Extension schemas an operator declares: `schema add/list/remove` through a running server,
//! then what Entra and Okta send with custom attributes, end to end: `/Schemas`, create,
//! filter, PATCH by full URN path and by whole extension, PUT, types, uniqueness, the change
//! feed, and the activity record of attributes nobody declared.

mod common;

use serde_json::{Value, json};

use common::{Client, Installation, patch_ops};

const ENTRA: &str = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";
const OKTA: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";
const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

fn asset(name: &str) -> String {
    format!("{}/assets/schemas/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A running `serve`, stopped with SIGTERM when dropped (also when a test fails midway).
struct Serving(Option<std::process::Child>);

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

fn setup() -> (Installation, Serving, Client, std::net::SocketAddr) {
    let inst = Installation::new("127.0.0.1:0");
    for args in [
        &["org", "create", "acme", "--name", "Acme"][..],
        &["domain", "add", "acme", "example.com"],
        &["org", "scim", "acme", "on"],
    ] {
        ok(inst.run(args));
    }
    let key: Value =
        serde_json::from_str(&ok(inst.run(&["--json", "key", "issue", "acme"]))).unwrap();
    let (child, addr, api) = inst.serve_with_api();
    let c = Client {
        addr,
        base: "/scim/v2/acme".into(),
        auth: Some(format!("Bearer {}", key["secret"].as_str().unwrap())),
    };
    (
        inst,
        Serving(Some(child)),
        c,
        api.expect("the application API listens"),
    )
}

fn stop(serving: Serving) {
    drop(serving);
}

#[test]
fn entra_custom_attributes_round_trip() {
    let (inst, child, c, api) = setup();
    // Declared through the running server.
    let said = ok(inst.run(&["schema", "add", &asset("entra-custom-user.json")]));
    assert!(said.starts_with(&format!("declared {ENTRA}")), "{said}");
    assert!(
        said.contains("costCenter, isContractor, hireDate, badgeNumber"),
        "{said}"
    );
    let listed = ok(inst.run(&["schema", "list"]));
    assert!(
        listed.contains(ENTRA) && listed.contains("(all)"),
        "{listed}"
    );

    // Advertised: /Schemas, /Schemas/{urn}, the User ResourceType's schemaExtensions.
    let schemas = c.get("/Schemas").json();
    let ids: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&ENTRA), "{ids:?}");
    let one = c.get(&format!("/Schemas/{ENTRA}")).json();
    assert_eq!(one["attributes"][1]["name"], "isContractor");
    assert_eq!(one["attributes"][1]["type"], "boolean");
    assert_eq!(one["attributes"][3]["uniqueness"], "server");
    let rt = c.get("/ResourceTypes/User").json();
    assert!(
        rt["schemaExtensions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["schema"] == ENTRA)
    );

    // Entra's create: the extension nested under its URN and listed in `schemas`, with an
    // attribute nobody declared beside it.
    let r = c.post(
        "/Users",
        &json!({"schemas": [CORE, ENTRA], "userName": "ada@example.com", "active": true,
            ENTRA: {"costCenter": "42", "isContractor": "False", "hireDate": "2026-01-05T09:00:00Z",
                "badgeNumber": "B-1", "badge": "not declared"}}),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let ada = r.json();
    let id = ada["id"].as_str().unwrap().to_string();
    assert_eq!(
        ada[ENTRA],
        json!({"costCenter": "42", "isContractor": false, "hireDate": "2026-01-05T09:00:00Z", "badgeNumber": "B-1"})
    );
    assert!(ada["schemas"].as_array().unwrap().contains(&json!(ENTRA)));

    // Filterable, by the full URN path; the unique one from its index.
    for (filter, n) in [
        (format!("{ENTRA}:costCenter eq \"42\""), 1),
        (format!("{ENTRA}:costCenter eq \"43\""), 0),
        (format!("{ENTRA}:badgeNumber eq \"B-1\""), 1),
        (format!("{ENTRA}:badgeNumber eq \"b-1\""), 0), // caseExact
        (format!("{ENTRA}:isContractor eq false"), 1),
    ] {
        let r = c.get(&format!(
            "/Users?filter={}",
            filter.replace(' ', "%20").replace('"', "%22")
        ));
        assert_eq!(r.json()["totalResults"], n, "{filter}");
    }

    // Entra's PATCH by full path, with its capitalised op.
    let r = c.patch(
        &format!("/Users/{id}"),
        &patch_ops(json!([{"op": "Add", "path": format!("{ENTRA}:costCenter"), "value": "43"}])),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()[ENTRA]["costCenter"], "43");
    // A path that is the whole extension, with an object value.
    let r = c.patch(
        &format!("/Users/{id}"),
        &patch_ops(json!([{"op": "replace", "path": ENTRA, "value": {"costCenter": "44", "isContractor": true}}])),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()[ENTRA]["costCenter"], "44");
    assert_eq!(r.json()[ENTRA]["isContractor"], true);
    assert_eq!(r.json()[ENTRA]["badgeNumber"], "B-1");

    // Types are checked: a number for a string, a word for a dateTime.
    for (value, words) in [
        (
            json!({"costCenter": 45}),
            "costCenter must be a string, not a number",
        ),
        (json!({"hireDate": "soon"}), "hireDate must be a dateTime"),
        (
            json!({"isContractor": "maybe"}),
            "isContractor must be true or false",
        ),
    ] {
        let r = c.patch(
            &format!("/Users/{id}"),
            &patch_ops(json!([{"op": "replace", "path": ENTRA, "value": value}])),
        );
        let e = r.assert_error(400, Some("invalidValue"));
        assert!(e["detail"].as_str().unwrap().contains(words), "{e}");
    }

    // Unique: another user cannot take the badge.
    let r = c.post(
        "/Users",
        &json!({"userName": "bob@example.com", ENTRA: {"badgeNumber": "B-1"}}),
    );
    let e = r.assert_error(409, Some("uniqueness"));
    assert!(e["detail"].as_str().unwrap().contains("badgeNumber"), "{e}");

    // The change feed carries the values.
    let events = ok(inst.run(&["--json", "events", "--org", "acme", "--type", "user.*"]));
    let last: Value = serde_json::from_str(events.lines().last().unwrap()).unwrap();
    assert_eq!(last["data"][ENTRA]["costCenter"], "44", "{last}");

    // So does the read API.
    let app: Value = serde_json::from_str(&ok(
        inst.run(&["--json", "app-key", "issue", "--name", "reader"])
    ))
    .unwrap();
    let reader = Client {
        addr: api,
        base: "/api/v1/organizations/acme".into(),
        auth: Some(format!("Bearer {}", app["secret"].as_str().unwrap())),
    };
    let read = reader.get(&format!("/users/{id}"));
    assert_eq!(read.status, 200, "{}", String::from_utf8_lossy(&read.body));
    assert_eq!(read.json()[ENTRA]["costCenter"], "44");

    // The activity record names what was ignored.
    // (Records are stored in the background within half a second.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let created = loop {
        let activity = ok(inst.run(&["--json", "activity", "--org", "acme", "--limit", "100"]));
        let records: Vec<Value> = serde_json::from_str(&activity).unwrap();
        if let Some(r) = records
            .into_iter()
            .find(|e| e["method"] == "POST" && e["status"] == 201)
        {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "the create's record");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(created["ignored"], json!([format!("{ENTRA}:badge")]));
    assert!(
        created["summary"]
            .as_str()
            .unwrap()
            .ends_with(&format!("; ignored: {ENTRA}:badge")),
        "{created}"
    );

    // The organization says what IdPs send that nobody declared.
    let shown = ok(inst.run(&["org", "show", "acme"]));
    assert!(
        shown.contains(&format!(
            "not declared:   {ENTRA}:badge (1 requests in 7 days"
        )),
        "{shown}"
    );
    assert!(
        shown.contains("directory:      1 users (1 active), 0 groups"),
        "{shown}"
    );

    // Removing the whole extension by its URN path.
    let r = c.patch(
        &format!("/Users/{id}"),
        &patch_ops(json!([{"op": "remove", "path": ENTRA}])),
    );
    assert_eq!(r.status, 200);
    assert!(r.json().get(ENTRA).is_none());
    assert!(
        !r.json()["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(ENTRA))
    );
    stop(child);
    let check = ok(inst.run(&["check"]));
    assert!(check.contains("consistent"), "{check}");
}

#[test]
fn okta_puts_custom_attributes_and_schemas_are_removed_with_care() {
    let (inst, child, c, _) = setup();
    // For one organization only.
    let said = ok(inst.run(&[
        "schema",
        "add",
        &asset("okta-custom-user.json"),
        "--org",
        "acme",
    ]));
    assert!(said.contains("for organization acme"), "{said}");
    let r = c.post("/Users", &json!({"userName": "eve@example.com"}));
    let id = r.json()["id"].as_str().unwrap().to_string();
    // Okta updates with PUT of the whole user, the custom attributes nested under the URN.
    let put = json!({"schemas": [CORE, OKTA], "id": id, "userName": "eve@example.com",
        "active": true, OKTA: {"clearanceLevel": 3, "region": "EMEA", "remote": true,
            "office": {"building": "North", "floor": "2"}}});
    let r = c.put(&format!("/Users/{id}"), &put);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json()[OKTA],
        json!({"clearanceLevel": 3, "region": "EMEA", "remote": true, "office": {"building": "North", "floor": 2}})
    );
    // canonicalValues are enforced; an integer is not a decimal word.
    let mut bad = put.clone();
    bad[OKTA]["region"] = json!("mars");
    let e = c
        .put(&format!("/Users/{id}"), &bad)
        .assert_error(400, Some("invalidValue"));
    assert!(
        e["detail"].as_str().unwrap().contains("emea, amer, apac"),
        "{e}"
    );
    let mut bad = put.clone();
    bad[OKTA]["clearanceLevel"] = json!(2.5);
    c.put(&format!("/Users/{id}"), &bad)
        .assert_error(400, Some("invalidValue"));
    // A PUT naming another id is refused: id is read-only.
    let mut bad = put.clone();
    bad["id"] = json!("someone-else");
    c.put(&format!("/Users/{id}"), &bad)
        .assert_error(400, Some("mutability"));
    // Sorting by an extension attribute works like any other.
    let r = c.get(&format!("/Users?sortBy={OKTA}:region&count=5"));
    assert_eq!(r.status, 200);

    // Removal is refused while a user carries values; --force removes it anyway.
    let out = inst.run(&["schema", "remove", OKTA, "--org", "acme"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 stored users or groups carry"), "{err}");
    assert_eq!(err.trim().lines().count(), 1);
    ok(inst.run(&["schema", "remove", OKTA, "--org", "acme", "--force"]));
    let r = c.get(&format!("/Users/{id}"));
    assert!(
        r.json().get(OKTA).is_none(),
        "undeclared values are not shown"
    );
    assert!(
        !c.get("/Schemas").json()["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == OKTA)
    );
    stop(child);
}

#[test]
fn bad_schema_files_are_one_line_errors_naming_the_attribute() {
    let inst = Installation::new("127.0.0.1:0");
    let file = inst.dir.path().join("bad.json");
    for (doc, words) in [
        (
            r#"{"id": "urn:x:acme:2.0:User", "attributes": [{"name": "costCenter", "type": "number"}]}"#,
            "attribute \"costCenter\": type \"number\" is not one of",
        ),
        (
            r#"{"id": "urn:x:acme:2.0:User", "attributes": [{"name": "office", "type": "complex"}]}"#,
            "attribute \"office\" is complex but has no \"subAttributes\"",
        ),
        (r#"{"id": "costs", "attributes": []}"#, "must be a URN"),
        ("not json", "not valid JSON"),
    ] {
        std::fs::write(&file, doc).unwrap();
        let out = inst.run(&["schema", "add", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{doc}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(words), "{doc}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let out = inst.run(&["schema", "add", "/nonexistent.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(ok(inst.run(&["schema", "list"])).contains("no extension schemas"));
}
