//! Each behaviour of ../shared/scim-idp-behaviour.md, replayed as the Okta or Entra ID request
//! sequence that shows it, against the real server.

mod common;

use common::*;
use serde_json::{Value, json};

const EXT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn setup() -> (TestServer, Client) {
    let s = TestServer::start();
    let t = s.tenant("acme", &["acme.com"]);
    let c = s.client(&t);
    (s, c)
}

fn total(r: &Response) -> u64 {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["totalResults"].as_u64().unwrap()
}

#[test]
fn entra_test_connection_with_a_random_guid_filter_gets_an_empty_list() {
    let (_s, c) = setup();
    for attr in ["userName", "externalId", "id", "displayName"] {
        let r = c.get(&format!(
            "/Users?filter={attr}%20eq%20%22d4f3c2a1-7b6e-4c5d-9e8f-0a1b2c3d4e5f%22"
        ));
        assert_eq!(r.status, 200);
        let v = r.json();
        assert_eq!(v["totalResults"], 0);
        assert_eq!(v["Resources"], json!([]));
        assert_eq!(r.header("content-type"), Some("application/scim+json"));
    }
    let r = c.get("/Groups?filter=displayName%20eq%20%22d4f3c2a1-7b6e-4c5d-9e8f-0a1b2c3d4e5f%22");
    assert_eq!(total(&r), 0);
}

#[test]
fn okta_test_connection_pages_with_start_index_and_count() {
    let (_s, c) = setup();
    for i in 0..3 {
        create_user(&c, &format!("u{i}@acme.com"));
    }
    let v = c.get("/Users?startIndex=1&count=2").json();
    assert_eq!(v["totalResults"], 3);
    assert_eq!(v["itemsPerPage"], 2);
    assert_eq!(v["startIndex"], 1);
    assert!(v["totalResults"].is_u64() && v["itemsPerPage"].is_u64() && v["startIndex"].is_u64());
}

#[test]
fn okta_required_test_non_token_is_401_with_a_scim_body() {
    let (_s, c) = setup();
    c.with_auth(Some("non-token"))
        .get("/Users")
        .assert_error(401, None);
    c.with_auth(None).get("/Users").assert_error(401, None);
}

#[test]
fn okta_looks_up_then_creates_with_its_body() {
    let (_s, c) = setup();
    let r = c.get("/Users?filter=userName%20eq%20%22jane.doe%40acme.com%22&startIndex=1&count=100");
    assert_eq!(total(&r), 0);
    let okta_body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "jane.doe@acme.com",
        "name": {"givenName": "Jane", "familyName": "Doe"},
        "emails": [{"primary": "True", "value": "jane.doe@acme.com", "type": "work"}],
        "displayName": "Jane Doe",
        "locale": "en-US",
        "externalId": "00u1abcd",
        "groups": [],
        "roles": [],
        "password": "1mP@ssw0rd",
        "active": "True",
        "meta": {"resourceType": "User"}
    });
    let r = c.send(
        "POST",
        "/Users",
        Some(&serde_json::to_vec(&okta_body).unwrap()),
        &[("Content-Type", "application/json")],
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    let v = r.json();
    assert_eq!(r.header("location"), v["meta"]["location"].as_str());
    assert_eq!(v["userName"], "jane.doe@acme.com");
    assert_eq!(v["active"], true);
    assert_eq!(v["emails"][0]["primary"], true);
    assert_eq!(v["name"]["familyName"], "Doe");
    assert!(v.get("password").is_none());
    // The lookup now finds it, so Okta will not create a duplicate.
    let r = c.get("/Users?filter=userName%20eq%20%22jane.doe%40acme.com%22&startIndex=1&count=100");
    assert_eq!(total(&r), 1);
    assert_eq!(r.json()["Resources"][0]["id"], v["id"]);
}

#[test]
fn entra_looks_up_by_user_name_external_id_and_work_email() {
    let (_s, c) = setup();
    let mut body = user("jyoung@acme.com");
    body["externalId"] = json!("jyoung");
    let id = c.post("/Users", &body).json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let filters = [
        "userName eq \"jyoung@acme.com\"",
        "externalId eq \"jyoung\"",
        "externalId eq jyoung", // Microsoft's unquoted example
        "emails[type eq \"work\"].value eq \"jyoung@acme.com\"",
        "userName eq \"jyoung%40acme.com\"", // left %-encoded after one decoding
        "UserName Eq \"JYOUNG@ACME.COM\"",   // names, operators and values in any case
        "name.FamilyName eq \"user\"",
    ];
    for f in filters {
        let q = percent_encoding::utf8_percent_encode(f, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
        let r = c.get(&format!("/Users?filter={q}"));
        assert_eq!(total(&r), 1, "{f}");
        assert_eq!(r.json()["Resources"][0]["id"], id.as_str(), "{f}");
    }
    // Doubly-encoded filter text as a whole.
    let r = c.get("/Users?filter=userName%2520eq%2520%2522jyoung%2540acme.com%2522");
    assert_eq!(total(&r), 1);
}

#[test]
fn creates_accept_every_content_type_and_missing_ones() {
    let (_s, c) = setup();
    let types = [
        Some("application/json"),
        Some("application/scim+json"),
        Some("application/scim+json; charset=utf-8"),
        None,
    ];
    for (i, ct) in types.into_iter().enumerate() {
        let body = serde_json::to_vec(&user(&format!("ct{i}@acme.com"))).unwrap();
        let headers: Vec<(&str, &str)> =
            ct.map(|ct| vec![("Content-Type", ct)]).unwrap_or_default();
        let r = c.send("POST", "/Users", Some(&body), &headers);
        assert_eq!(r.status, 201, "{ct:?}");
        assert_eq!(r.header("content-type"), Some("application/scim+json"));
        assert!(!r.body.is_empty(), "Okta fails on an empty create response");
    }
}

#[test]
fn duplicates_missing_user_name_and_bad_json() {
    let (_s, c) = setup();
    create_user(&c, "a@acme.com");
    let v = c
        .post("/Users", &user("a@acme.com"))
        .assert_error(409, Some("uniqueness"));
    assert_eq!(v["status"], "409");
    c.post("/Users", &json!({"name": {"givenName": "x"}}))
        .assert_error(400, Some("invalidValue"));
    c.send(
        "POST",
        "/Users",
        Some(b"{\"userName\":"),
        &[("Content-Type", "application/json")],
    )
    .assert_error(400, Some("invalidSyntax"));
}

#[test]
fn okta_imports_in_pages_of_100_in_a_stable_order() {
    let (_s, c) = setup();
    let mut created = Vec::new();
    for i in 0..250 {
        created.push(create_user(&c, &format!("user{i:03}@acme.com")));
    }
    let mut seen = Vec::new();
    for start in [1, 101, 201] {
        let v = c
            .get(&format!("/Users?startIndex={start}&count=100"))
            .json();
        assert_eq!(v["totalResults"], 250);
        assert_eq!(v["startIndex"], start);
        seen.extend(
            v["Resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string()),
        );
    }
    assert_eq!(seen, created);
    // Entra pages with small counts.
    let mut small = Vec::new();
    let mut start = 1;
    loop {
        let v = c.get(&format!("/Users?startIndex={start}&count=7")).json();
        let page = v["Resources"].as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        start += page.len();
        small.extend(page.iter().map(|r| r["id"].as_str().unwrap().to_string()));
    }
    assert_eq!(small, created);
    assert_eq!(c.get("/Users").json()["itemsPerPage"], 100);
}

#[test]
fn okta_deactivates_with_a_no_path_patch_and_reactivates() {
    let (_s, c) = setup();
    let id = create_user(&c, "dee@acme.com");
    let r = c.patch(
        &format!("/Users/{id}"),
        &patch_ops(json!([{"op": "replace", "value": {"active": false}}])),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["active"], false);
    let r = c.get(&format!("/Users/{id}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["active"], false);
    assert_eq!(
        total(&c.get("/Users?filter=userName%20eq%20%22dee%40acme.com%22")),
        1
    );
    assert_eq!(total(&c.get("/Users?filter=active%20eq%20false")), 1);
    let r = c.patch(
        &format!("/Users/{id}"),
        &patch_ops(json!([{"op": "replace", "value": {"active": true}}])),
    );
    assert_eq!(r.json()["active"], true);
}

#[test]
fn okta_wizard_apps_put_the_whole_user() {
    let (_s, c) = setup();
    let id = create_user(&c, "pat@acme.com");
    let mut whole = c.get(&format!("/Users/{id}")).json();
    whole["active"] = json!(false);
    whole["name"]["givenName"] = json!("Patricia");
    let r = c.put(&format!("/Users/{id}"), &whole);
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["active"], false);
    assert_eq!(v["name"]["givenName"], "Patricia");
    assert_eq!(v["id"], id.as_str());
}

#[test]
fn entra_disables_with_string_booleans() {
    let (_s, c) = setup();
    let id = create_user(&c, "ent@acme.com");
    for (value, expected) in [
        ("False", false),
        ("True", true),
        ("false", false),
        ("true", true),
    ] {
        let r = c.patch(
            &format!("/Users/{id}"),
            &patch_ops(json!([{"op": "Replace", "path": "active", "value": value}])),
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["active"], expected, "{value}");
    }
    let r = c.patch(
        &format!("/Users/{id}"),
        &patch_ops(json!([{"op": "Replace", "path": "emails[type eq \"work\"].primary", "value": "False"}])),
    );
    assert_eq!(r.json()["emails"][0]["primary"], false);
}

#[test]
fn entra_updates_one_attribute_per_operation() {
    let (_s, c) = setup();
    let id = create_user(&c, "one@acme.com");
    let r = c.patch(
        &format!("/Users/{id}"),
        &patch_ops(json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "one.two@acme.com"},
            {"op": "Replace", "path": "name.familyName", "value": "Two"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "1001"},
            {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Sales"}
        ])),
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(
        v["emails"],
        json!([{"value": "one.two@acme.com", "type": "work", "primary": true}])
    );
    assert_eq!(v["name"]["familyName"], "Two");
    assert_eq!(v[EXT]["employeeNumber"], "1001");
    assert_eq!(v[EXT]["department"], "Sales");
    // The new address is indexed.
    assert_eq!(
        total(&c.get("/Users?filter=emails.value%20eq%20%22one.two%40acme.com%22")),
        1
    );
}

#[test]
fn entra_new_behaviour_sends_one_no_path_operation_with_dotted_and_urn_keys() {
    let (_s, c) = setup();
    let id = create_user(&c, "flag@acme.com");
    let r = c.patch(
        &format!("/Users/{id}"),
        &patch_ops(json!([{"op": "replace", "value": {
            "displayName": "Flag Bearer",
            "name.givenName": "Flag",
            "name.familyName": "Bearer",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "77",
            "active": "False"
        }}])),
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["displayName"], "Flag Bearer");
    assert_eq!(
        v["name"],
        json!({"givenName": "Flag", "familyName": "Bearer"})
    );
    assert_eq!(v[EXT]["employeeNumber"], "77");
    assert_eq!(v["active"], false);
}

#[test]
fn adds_to_value_paths_that_match_nothing_create_the_element() {
    let (_s, c) = setup();
    let mut body = user("addr@acme.com");
    body.as_object_mut().unwrap().remove("emails");
    let id = c.post("/Users", &body).json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c.patch(
        &format!("/Users/{id}"),
        &patch_ops(json!([
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "addr@acme.com"},
            {"op": "Add", "path": "addresses[type eq \"work\"].streetAddress", "value": "1 Infinite Loop"},
            {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Cupertino"},
            {"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 408 555 0100"}
        ])),
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(
        v["emails"],
        json!([{"type": "work", "value": "addr@acme.com"}])
    );
    assert_eq!(
        v["addresses"],
        json!([{"type": "work", "streetAddress": "1 Infinite Loop", "locality": "Cupertino"}])
    );
    assert_eq!(
        v["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 408 555 0100"}])
    );
}

#[test]
fn manager_in_every_form() {
    let (_s, c) = setup();
    let boss = create_user(&c, "boss@acme.com");
    let id = create_user(&c, "worker@acme.com");
    let path = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";
    let forms = [
        json!({"op": "add", "path": path, "value": {"value": boss}}),
        json!({"op": "replace", "path": path, "value": {"value": boss}}),
        json!({"op": "replace", "path": path, "value": [{"value": boss, "$ref": format!("../Users/{boss}")}]}),
        json!({"op": "Add", "path": path, "value": boss}),
    ];
    for op in forms {
        c.patch(
            &format!("/Users/{id}"),
            &patch_ops(json!([{"op": "remove", "path": path}])),
        );
        let r = c.patch(&format!("/Users/{id}"), &patch_ops(json!([op.clone()])));
        assert_eq!(r.status, 200, "{op}");
        assert_eq!(r.json()[EXT]["manager"]["value"], boss.as_str(), "{op}");
    }
    let r = c.patch(
        &format!("/Users/{id}"),
        &patch_ops(json!([{"op": "remove", "path": format!("{path}[value eq \"{boss}\"]")}])),
    );
    assert!(r.json().get(EXT).is_none_or(|e| e.get("manager").is_none()));
}

#[test]
fn empty_string_then_null_clear_an_attribute() {
    let (_s, c) = setup();
    let mut body = user("clear@acme.com");
    body["title"] = json!("Boss");
    body["nickName"] = json!("B");
    let id = c.post("/Users", &body).json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c.patch(
        &format!("/Users/{id}"),
        &patch_ops(json!([{"op": "Replace", "path": "title", "value": ""}])),
    );
    assert!(r.json().get("title").is_none());
    let r = c.patch(
        &format!("/Users/{id}"),
        &patch_ops(json!([{"op": "Replace", "path": "title", "value": null}])),
    );
    assert_eq!(r.status, 200);
    let r = c.patch(
        &format!("/Users/{id}"),
        &patch_ops(json!([{"op": "replace", "value": {"nickName": null}}])),
    );
    assert!(r.json().get("nickName").is_none());
}

#[test]
fn put_ignores_unknown_attributes_and_requires_user_name() {
    let (_s, c) = setup();
    let id = create_user(&c, "put@acme.com");
    let mut body = user("put@acme.com");
    body["displayNmae"] = json!("typo");
    body["urn:example:custom:1.0:User"] = json!({"thing": 1});
    let r = c.put(&format!("/Users/{id}"), &body);
    assert_eq!(r.status, 200);
    assert!(r.json().get("displayNmae").is_none());
    body.as_object_mut().unwrap().remove("userName");
    c.put(&format!("/Users/{id}"), &body)
        .assert_error(400, Some("invalidValue"));
}

#[test]
fn delete_then_get_and_delete_again_are_404() {
    let (_s, c) = setup();
    let id = create_user(&c, "gone@acme.com");
    let group = create_group(&c, "Team", &[&id]);
    let r = c.delete(&format!("/Users/{id}"));
    assert_eq!(r.status, 204);
    c.get(&format!("/Users/{id}")).assert_error(404, None);
    c.delete(&format!("/Users/{id}")).assert_error(404, None);
    // Its memberships went with it.
    assert!(member_ids(&c, &group).is_empty());
    let gid = create_group(&c, "Other", &[]);
    assert_eq!(c.delete(&format!("/Groups/{gid}")).status, 204);
    c.get(&format!("/Groups/{gid}")).assert_error(404, None);
}

#[test]
fn entra_reads_groups_without_members() {
    let (_s, c) = setup();
    let u = create_user(&c, "m@acme.com");
    let g = create_group(&c, "Sales Team", &[&u]);
    let r = c.get(&format!("/Groups/{g}?excludedAttributes=members"));
    assert_eq!(r.status, 200);
    let v = r.json();
    assert!(v.get("members").is_none());
    assert_eq!(v["displayName"], "Sales Team");
    let r =
        c.get("/Groups?excludedAttributes=members&filter=displayName%20eq%20%22sales%20team%22");
    assert_eq!(total(&r), 1);
    assert!(r.json()["Resources"][0].get("members").is_none());
    // Without the exclusion the members are there.
    assert_eq!(
        c.get(&format!("/Groups/{g}")).json()["members"][0]["value"],
        u.as_str()
    );
    // Duplicate displayName, any case: 409.
    c.post("/Groups", &json!({"displayName": "SALES TEAM"}))
        .assert_error(409, Some("uniqueness"));
}

#[test]
fn entra_and_okta_group_create_bodies() {
    let (_s, c) = setup();
    let r = c.post("/Groups", &json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "Group1DisplayName",
        "members": []
    }));
    assert_eq!(r.status, 201);
    assert_eq!(
        r.json()["externalId"],
        "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"
    );
    assert_eq!(
        total(
            &c.get("/Groups?filter=externalId%20eq%20%228aa1a0c0-c4c3-4bc0-b4a5-2ef676900159%22")
        ),
        1
    );
    let r = c.post("/Groups", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Okta Group", "members": []}));
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["members"], json!([]));
}

#[test]
fn adding_many_members_in_one_patch_and_re_adding() {
    let (_s, c) = setup();
    let users: Vec<String> = (0..4)
        .map(|i| create_user(&c, &format!("a{i}@acme.com")))
        .collect();
    let g = create_group(&c, "G", &[]);
    let r = c.patch(
        &format!("/Groups/{g}"),
        &patch_ops(json!([{"op": "Add", "path": "members", "value": [
            {"value": users[0]},
            {"value": users[1], "$ref": format!("https://scim.test/scim/v2/acme/Users/{}", users[1]), "display": "a1", "type": "User"},
            {"value": users[2], "display": "a2"}
        ]}])),
    );
    // A group's PATCH answers 204 with the new version, no body (RFC 7644 §3.5.2), so a
    // membership change costs the same for any group size.
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert!(r.header("etag").is_some_and(|e| e.starts_with("W/")));
    let mut expected = users[..3].to_vec();
    expected.sort();
    assert_eq!(member_ids(&c, &g), expected);
    // Re-adding an existing member succeeds.
    let r = c.patch(
        &format!("/Groups/{g}"),
        &patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": users[0]}]}])),
    );
    assert_eq!(r.status, 204);
    assert_eq!(member_ids(&c, &g).len(), 3);
    // Members can be asked for in the reply: then 200 with them.
    let r = c.patch(
        &format!("/Groups/{g}?attributes=members"),
        &patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": users[3]}]}])),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["members"].as_array().unwrap().len(), 4);
}

#[test]
fn entra_removes_only_the_listed_members() {
    let (_s, c) = setup();
    let users: Vec<String> = (0..4)
        .map(|i| create_user(&c, &format!("r{i}@acme.com")))
        .collect();
    let refs: Vec<&str> = users.iter().map(String::as_str).collect();
    let g = create_group(&c, "G", &refs);
    let r = c.patch(
        &format!("/Groups/{g}"),
        &patch_ops(json!([{"op": "Remove", "path": "members", "value": [{"value": users[1]}]}])),
    );
    assert_eq!(r.status, 204);
    let mut left = vec![users[0].clone(), users[2].clone(), users[3].clone()];
    left.sort();
    assert_eq!(member_ids(&c, &g), left);
    // The filter form.
    let r = c.patch(
        &format!("/Groups/{g}"),
        &patch_ops(
            json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", users[2])}]),
        ),
    );
    assert_eq!(r.status, 204);
    let mut left = vec![users[0].clone(), users[3].clone()];
    left.sort();
    assert_eq!(member_ids(&c, &g), left);
    // Path `members` with no value removes everyone.
    c.patch(
        &format!("/Groups/{g}"),
        &patch_ops(json!([{"op": "remove", "path": "members"}])),
    );
    assert!(member_ids(&c, &g).is_empty());
    // The users themselves are untouched.
    assert_eq!(c.get(&format!("/Users/{}", users[1])).status, 200);
}

#[test]
fn okta_pushes_whole_membership_renames_and_mixes_operations() {
    let (_s, c) = setup();
    let users: Vec<String> = (0..4)
        .map(|i| create_user(&c, &format!("o{i}@acme.com")))
        .collect();
    let g = create_group(&c, "Okta Push", &[&users[0], &users[1]]);
    let r = c.patch(&format!("/Groups/{g}"), &patch_ops(json!([{"op": "replace", "path": "members", "value": [{"value": users[1]}, {"value": users[2]}]}])));
    assert_eq!(r.status, 204);
    let mut expected = vec![users[1].clone(), users[2].clone()];
    expected.sort();
    assert_eq!(member_ids(&c, &g), expected);
    c.patch(
        &format!("/Groups/{g}"),
        &patch_ops(json!([{"op": "replace", "path": "members", "value": []}])),
    );
    assert!(member_ids(&c, &g).is_empty());
    // Rename with the id in the value.
    let r = c.patch(
        &format!("/Groups/{g}"),
        &patch_ops(json!([{"op": "replace", "value": {"id": g, "displayName": "Okta Renamed"}}])),
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        c.get(&format!("/Groups/{g}")).json()["displayName"],
        "Okta Renamed"
    );
    // An id that is not the group's is refused: id is read-only.
    let r = c.patch(
        &format!("/Groups/{g}"),
        &patch_ops(json!([{"op": "replace", "value": {"id": "another", "displayName": "X"}}])),
    );
    r.assert_error(400, Some("mutability"));
    assert_eq!(
        total(&c.get("/Groups?filter=displayName%20eq%20%22okta%20renamed%22")),
        1
    );
    assert_eq!(
        total(&c.get("/Groups?filter=displayName%20eq%20%22Okta%20Push%22")),
        0
    );
    // Remove and add in one request.
    c.patch(
        &format!("/Groups/{g}"),
        &patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": users[0]}]}])),
    );
    let r = c.patch(
        &format!("/Groups/{g}"),
        &patch_ops(json!([
            {"op": "remove", "path": "members", "value": [{"value": users[0]}]},
            {"op": "add", "path": "members", "value": [{"value": users[3]}]}
        ])),
    );
    assert_eq!(r.status, 204);
    assert_eq!(member_ids(&c, &g), vec![users[3].clone()]);
}

#[test]
fn one_unknown_member_id_does_not_fail_the_patch() {
    let (_s, c) = setup();
    let u = create_user(&c, "known@acme.com");
    let g = create_group(&c, "G", &[]);
    let r = c.patch(
        &format!("/Groups/{g}"),
        &patch_ops(json!([{"op": "add", "path": "members", "value": [
            {"value": "00000000-0000-7000-8000-000000000000"}, {"value": u}
        ]}])),
    );
    assert_eq!(r.status, 204);
    assert_eq!(member_ids(&c, &g), vec![u.clone()]);
    // Creating a group with an unknown member works the same way.
    let r = c.post(
        "/Groups",
        &json!({"displayName": "H", "members": [{"value": "nope"}, {"value": u}]}),
    );
    assert_eq!(r.status, 201);
    let members: Vec<Value> = r.json()["members"].as_array().unwrap().clone();
    assert_eq!(members.len(), 1);
}

#[test]
fn user_groups_are_derived_and_read_only() {
    let (_s, c) = setup();
    let u = create_user(&c, "g@acme.com");
    let g = create_group(&c, "Derived", &[&u]);
    let v = c.get(&format!("/Users/{u}")).json();
    assert_eq!(v["groups"][0]["value"], g.as_str());
    assert_eq!(v["groups"][0]["display"], "Derived");
    c.patch(
        &format!("/Users/{u}"),
        &patch_ops(json!([{"op": "add", "path": "groups", "value": [{"value": g}]}])),
    )
    .assert_error(400, Some("mutability"));
    assert_eq!(
        total(&c.get(&format!("/Users?filter=groups.value%20eq%20%22{g}%22"))),
        1
    );
}

#[test]
fn group_members_show_their_display_and_follow_renames() {
    let (s, c) = setup();
    let named = create_user(&c, "dn@acme.com");
    c.patch(
        &format!("/Users/{named}"),
        &patch_ops(json!([{"op": "replace", "path": "displayName", "value": "Dee Enn"}])),
    );
    let bare = create_user(&c, "bare@acme.com");
    let g = create_group(&c, "Shown", &[&named]);
    c.patch(
        &format!("/Groups/{g}"),
        &patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": bare}]}])),
    );
    let display = |c: &Client| -> Vec<(String, String)> {
        let mut m: Vec<(String, String)> = c.get(&format!("/Groups/{g}")).json()["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["value"].as_str().unwrap().to_string(),
                    m["display"].as_str().unwrap_or("<none>").to_string(),
                )
            })
            .collect();
        m.sort();
        m
    };
    let mut want = vec![
        (named.clone(), "Dee Enn".to_string()),
        (bare.clone(), "bare@acme.com".to_string()),
    ];
    want.sort();
    assert_eq!(display(&c), want);
    // Renamed (displayName by PATCH, userName by PUT): every group shows the new name.
    c.patch(
        &format!("/Users/{named}"),
        &patch_ops(json!([{"op": "replace", "path": "displayName", "value": "Dee Renamed"}])),
    );
    let r = c.put(
        &format!("/Users/{bare}"),
        &json!({"userName": "still.bare@acme.com"}),
    );
    assert_eq!(r.status, 200);
    let mut want = vec![
        (named.clone(), "Dee Renamed".to_string()),
        (bare.clone(), "still.bare@acme.com".to_string()),
    ];
    want.sort();
    assert_eq!(display(&c), want);
    // Removing displayName falls back to userName.
    c.patch(
        &format!("/Users/{named}"),
        &patch_ops(json!([{"op": "remove", "path": "displayName"}])),
    );
    assert!(display(&c).contains(&(named.clone(), "dn@acme.com".to_string())));
    let report = s.dir.check().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}
