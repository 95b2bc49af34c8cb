use super::*;
use crate::scim::resource::normalize;
use crate::scim::schema::ENTERPRISE_SCHEMA;
use serde_json::json;

const EXT: &str = ENTERPRISE_SCHEMA;

fn user() -> Map<String, Value> {
    normalize(
        crate::scim::schema::Schemas::standard(),
        ResourceKind::User,
        &json!({
            "userName": "alice@acme.com",
            "active": true,
            "name": {"givenName": "Alice", "familyName": "Smith"},
            "emails": [{"value": "alice@acme.com", "type": "work", "primary": true}],
            EXT: {"employeeNumber": "1", "manager": {"value": "m1"}}
        }),
    )
    .unwrap()
}

/// Applies a PATCH body and normalises the result, as the directory does.
fn patch(attrs: &Map<String, Value>, body: Value) -> Result<Map<String, Value>, ScimError> {
    let mut copy = attrs.clone();
    for op in parse_request(&body)? {
        apply(
            crate::scim::schema::Schemas::standard(),
            ResourceKind::User,
            &mut copy,
            &op,
        )?;
    }
    normalize(
        crate::scim::schema::Schemas::standard(),
        ResourceKind::User,
        &Value::Object(copy),
    )
}

fn ops(list: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": list})
}

#[test]
fn okta_deactivates_with_a_no_path_replace() {
    let out = patch(
        &user(),
        ops(json!([{"op": "replace", "value": {"active": false}}])),
    )
    .unwrap();
    assert_eq!(out["active"], false);
    let back = patch(
        &out,
        ops(json!([{"op": "replace", "value": {"active": true}}])),
    )
    .unwrap();
    assert_eq!(back["active"], true);
}

#[test]
fn entra_capitalised_ops_and_string_booleans() {
    for (v, expected) in [
        ("False", false),
        ("false", false),
        ("True", true),
        ("true", true),
    ] {
        let out = patch(
            &user(),
            ops(json!([{"op": "Replace", "path": "active", "value": v}])),
        )
        .unwrap();
        assert_eq!(out["active"], expected, "{v}");
    }
    let out = patch(
        &user(),
        ops(json!([{"op": "Replace", "path": "emails[type eq \"work\"].primary", "value": "False"}])),
    )
    .unwrap();
    assert_eq!(out["emails"][0]["primary"], false);
}

#[test]
fn entra_single_attribute_paths() {
    let out = patch(
        &user(),
        ops(json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "alice.smith@acme.com"},
            {"op": "Replace", "path": "name.familyName", "value": "Jones"},
            {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "42"},
            {"op": "Add", "path": "title", "value": "Engineer"}
        ])),
    )
    .unwrap();
    assert_eq!(
        out["emails"],
        json!([{"value": "alice.smith@acme.com", "type": "work", "primary": true}])
    );
    assert_eq!(
        out["name"],
        json!({"givenName": "Alice", "familyName": "Jones"})
    );
    assert_eq!(out[EXT]["employeeNumber"], "42");
    assert_eq!(out["title"], "Engineer");
}

#[test]
fn entra_no_path_value_with_dotted_and_urn_keys() {
    let out = patch(
        &user(),
        ops(json!([{"op": "replace", "value": {
            "displayName": "Alice S",
            "name.givenName": "Ally",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "7",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "R&D"
        }}])),
    )
    .unwrap();
    assert_eq!(out["displayName"], "Alice S");
    assert_eq!(out["name"]["givenName"], "Ally");
    assert_eq!(out["name"]["familyName"], "Smith");
    assert_eq!(out[EXT]["employeeNumber"], "7");
    assert_eq!(out[EXT]["department"], "R&D");
}

#[test]
fn add_to_an_absent_value_path_creates_the_element() {
    let mut u = user();
    u.remove("emails");
    let out = patch(
        &u,
        ops(
            json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "a@acme.com"}]),
        ),
    )
    .unwrap();
    assert_eq!(
        out["emails"],
        json!([{"type": "work", "value": "a@acme.com"}])
    );
    // Two adds to one address fill one element.
    let out = patch(
        &out,
        ops(json!([
            {"op": "Add", "path": "addresses[type eq \"work\"].streetAddress", "value": "1 Main St"},
            {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Springfield"}
        ])),
    )
    .unwrap();
    assert_eq!(
        out["addresses"],
        json!([{"type": "work", "streetAddress": "1 Main St", "locality": "Springfield"}])
    );
    // Entra: a replace on a value path matching nothing adds.
    let out = patch(&out, ops(json!([{"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"}]))).unwrap();
    assert_eq!(
        out["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555"}])
    );
}

#[test]
fn manager_forms() {
    let path = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";
    for value in [
        json!({"value": "m2"}),
        json!("m2"),
        json!([{"value": "m2", "$ref": "../Users/m2"}]),
    ] {
        for op in ["add", "replace"] {
            let out = patch(
                &user(),
                ops(json!([{"op": op, "path": path, "value": value}])),
            )
            .unwrap();
            assert_eq!(out[EXT]["manager"]["value"], "m2", "{op} {value}");
        }
    }
    let out = patch(&user(), ops(json!([{"op": "remove", "path": path}]))).unwrap();
    assert!(out[EXT].get("manager").is_none());
    let out = patch(
        &user(),
        ops(json!([{"op": "remove", "path": format!("{path}[value eq \"m1\"]")}])),
    )
    .unwrap();
    assert!(out[EXT].get("manager").is_none());
    let out = patch(
        &user(),
        ops(json!([{"op": "remove", "path": format!("{path}[value eq \"other\"]")}])),
    )
    .unwrap();
    assert_eq!(out[EXT]["manager"]["value"], "m1");
}

#[test]
fn empty_string_then_null_clear() {
    let out = patch(
        &user(),
        ops(json!([{"op": "replace", "path": "name.givenName", "value": ""}])),
    )
    .unwrap();
    assert!(out["name"].get("givenName").is_none());
    let out = patch(
        &out,
        ops(json!([{"op": "replace", "path": "name.familyName", "value": null}])),
    )
    .unwrap();
    assert!(out.get("name").is_none());
    let out = patch(
        &user(),
        ops(json!([{"op": "replace", "value": {"title": ""}}])),
    )
    .unwrap();
    assert!(out.get("title").is_none());
    let out = patch(&user(), ops(json!([{"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": null}]))).unwrap();
    assert!(out[EXT].get("employeeNumber").is_none());
}

#[test]
fn remove_with_a_value_list_removes_only_those() {
    let mut u = user();
    u.insert(
        "roles".into(),
        json!([{"value": "a"}, {"value": "b"}, {"value": "c"}]),
    );
    let out = patch(
        &u,
        ops(json!([{"op": "Remove", "path": "roles", "value": [{"value": "b"}]}])),
    )
    .unwrap();
    assert_eq!(out["roles"], json!([{"value": "a"}, {"value": "c"}]));
    let out = patch(
        &out,
        ops(json!([{"op": "remove", "path": "roles[value eq \"a\"]"}])),
    )
    .unwrap();
    assert_eq!(out["roles"], json!([{"value": "c"}]));
    let out = patch(&out, ops(json!([{"op": "remove", "path": "roles"}]))).unwrap();
    assert!(out.get("roles").is_none());
}

#[test]
fn add_to_multi_valued_appends_without_duplicates() {
    let out = patch(
        &user(),
        ops(json!([{"op": "add", "path": "emails", "value": [
            {"value": "alice@acme.com", "type": "work", "primary": true},
            {"value": "alice@home.acme.com", "type": "home"}
        ]}])),
    )
    .unwrap();
    assert_eq!(out["emails"].as_array().unwrap().len(), 2);
    let out = patch(
        &out,
        ops(json!([{"op": "replace", "path": "emails", "value": [{"value": "x@acme.com"}]}])),
    )
    .unwrap();
    assert_eq!(out["emails"], json!([{"value": "x@acme.com"}]));
}

#[test]
fn read_only_and_unknown_attributes() {
    // Okta's rename carries the id: ignored in a no-path value.
    let out = patch(
        &user(),
        ops(
            json!([{"op": "replace", "value": {"id": "x", "userName": "b@acme.com", "madeUp": 1}}]),
        ),
    )
    .unwrap();
    assert_eq!(out["userName"], "b@acme.com");
    assert!(out.get("id").is_none() && out.get("madeUp").is_none());
    // Explicit paths: unknown ignored, read-only refused, password accepted and dropped.
    assert!(
        patch(
            &user(),
            ops(json!([{"op": "replace", "path": "madeUp", "value": 1}]))
        )
        .is_ok()
    );
    let err = patch(
        &user(),
        ops(json!([{"op": "replace", "path": "groups", "value": []}])),
    )
    .unwrap_err();
    assert_eq!(err.scim_type, Some("mutability"));
    let out = patch(
        &user(),
        ops(json!([{"op": "replace", "path": "password", "value": "hunter2"}])),
    )
    .unwrap();
    assert!(!Value::Object(out).to_string().contains("hunter2"));
}

#[test]
fn malformed_requests() {
    let cases: Vec<(Value, &str)> = vec![
        (json!([]), "invalidSyntax"),
        (json!("nope"), "invalidSyntax"),
        (json!({"Operations": "x"}), "invalidSyntax"),
        (ops(json!([])), "invalidValue"),
        (
            ops(json!([{"op": "frobnicate", "path": "title", "value": "x"}])),
            "invalidSyntax",
        ),
        (
            ops(json!([{"path": "title", "value": "x"}])),
            "invalidSyntax",
        ),
        (ops(json!([{"op": "add", "path": "title"}])), "invalidValue"),
        (
            ops(json!([{"op": "add", "value": "not an object"}])),
            "invalidValue",
        ),
        (ops(json!([{"op": "remove"}])), "noTarget"),
        (
            ops(json!([{"op": "add", "path": "emails[type eq", "value": "x"}])),
            "invalidPath",
        ),
        (
            ops(json!([{"op": "add", "path": "emails[type eq \"w\"]junk", "value": "x"}])),
            "invalidPath",
        ),
        (
            ops(json!([{"op": "add", "path": "1bad", "value": "x"}])),
            "invalidPath",
        ),
        (
            ops(json!([{"op": "replace", "path": "active", "value": "maybe"}])),
            "invalidValue",
        ),
        (
            ops(json!([{"op": "replace", "path": "userName", "value": ""}])),
            "invalidValue",
        ),
        (
            ops(json!([{"op": "replace", "path": "title", "value": [[1]]}])),
            "invalidValue",
        ),
    ];
    for (body, scim_type) in cases {
        let err = patch(&user(), body.clone()).expect_err(&body.to_string());
        assert_eq!(err.scim_type, Some(scim_type), "{body}: {}", err.detail);
    }
    let many: Vec<Value> = (0..MAX_OPERATIONS + 1)
        .map(|_| json!({"op": "add", "path": "title", "value": "x"}))
        .collect();
    assert_eq!(
        patch(&user(), ops(Value::Array(many)))
            .unwrap_err()
            .scim_type,
        Some("invalidValue")
    );
}

#[test]
fn members_paths_are_recognised() {
    for p in [
        "members",
        "Members",
        "members[value eq \"x\"]",
        "urn:ietf:params:scim:schemas:core:2.0:Group:members",
    ] {
        assert!(
            is_members(ResourceKind::Group, &parse_path(p).unwrap()),
            "{p}"
        );
    }
    assert!(!is_members(
        ResourceKind::Group,
        &parse_path("displayName").unwrap()
    ));
    assert!(!is_members(
        ResourceKind::User,
        &parse_path("members").unwrap()
    ));
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            "[a-zA-Z@. \"\\[\\]]{0,12}".prop_map(Value::String),
            prop::sample::select(vec![
                "active",
                "emails",
                "name.givenName",
                "emails[type eq \"work\"].value",
                "True",
                ""
            ])
            .prop_map(|s| json!(s)),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop::sample::select(vec![
                        "op",
                        "path",
                        "value",
                        "Operations",
                        "emails",
                        "type",
                        "active",
                        "name",
                        "givenName",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
                    ])
                    .prop_map(str::to_string),
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn patch_and_normalize_never_panic(ops_list in prop::collection::vec(json_value(), 0..5)) {
            let _ = patch(&user(), ops(Value::Array(ops_list)));
        }

        #[test]
        fn normalize_never_panics(body in json_value()) {
            let _ = normalize(crate::scim::schema::Schemas::standard(), ResourceKind::User, &body);
            let _ = normalize(crate::scim::schema::Schemas::standard(), ResourceKind::Group, &body);
        }

        #[test]
        fn paths_never_panic(p in "\\PC{0,40}") {
            let _ = parse_path(&p);
        }

        /// A replace applied twice leaves what one leaves (IdPs retry).
        #[test]
        fn replace_is_idempotent(path in simple_path(), value in "[a-zA-Z0-9@.][a-zA-Z0-9@. ]{0,11}") {
            let body = ops(json!([{"op": "replace", "path": path, "value": value}]));
            let once = patch(&user(), body.clone());
            let twice = once.clone().and_then(|o| patch(&o, body));
            prop_assert_eq!(once, twice);
        }

        /// Adding an attribute the user does not have and removing it again gives back the
        /// user as it was.
        #[test]
        fn remove_undoes_add(path in absent_path(), value in "[a-zA-Z0-9@.][a-zA-Z0-9@. ]{0,11}") {
            let added = patch(&user(), ops(json!([{"op": "add", "path": path, "value": value}])))
                .expect("add");
            prop_assert_ne!(&added, &user());
            let removed = patch(&added, ops(json!([{"op": "remove", "path": path}]))).expect("remove");
            prop_assert_eq!(removed, user());
        }

        /// A replace sets exactly what it says: the value reads back at its path.
        #[test]
        fn replace_reads_back(path in simple_path(), value in "[a-zA-Z0-9@.][a-zA-Z0-9@. ]{0,11}") {
            let out = patch(&user(), ops(json!([{"op": "replace", "path": path, "value": value}])))
                .expect("replace");
            let read = match path.split_once('.') {
                Some((a, b)) => out.get(a).and_then(|v| v.get(b)),
                None => out.get(path.as_str()),
            };
            prop_assert_eq!(read, Some(&json!(value)));
        }
    }

    /// Single-valued string attributes, core and complex, that a replace can set.
    fn simple_path() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "displayName",
            "title",
            "nickName",
            "userName",
            "name.givenName",
            "name.familyName",
            "locale",
        ])
        .prop_map(String::from)
    }

    /// Attributes the test user does not have.
    fn absent_path() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "displayName",
            "title",
            "nickName",
            "locale",
            "timezone",
            "name.middleName",
            "profileUrl",
        ])
        .prop_map(String::from)
    }
}
