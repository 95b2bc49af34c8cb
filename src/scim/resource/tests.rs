use super::*;
use crate::scim::schema::ENTERPRISE_SCHEMA;

#[test]
fn normalizes_what_idps_send() {
    // Okta's create: password, groups, string booleans, unknown attributes.
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "USERNAME": "alice@acme.com",
        "name": {"GivenName": "Alice", "familyName": "Smith", "nonsense": "x"},
        "emails": [{"primary": "True", "value": "alice@acme.com", "type": "work"}],
        "active": "True",
        "password": "hunter2",
        "groups": [],
        "roles": [],
        "locale": "en-US",
        "meta": {"resourceType": "User"},
        "id": "client-chosen",
        "favouriteColour": "blue",
        ENTERPRISE_SCHEMA: {"employeeNumber": "701984", "manager": "m1", "bogus": 1}
    });
    let out = normalize(
        crate::scim::schema::Schemas::standard(),
        ResourceKind::User,
        &body,
    )
    .unwrap();
    assert_eq!(
        Value::Object(out),
        json!({
            "userName": "alice@acme.com",
            "name": {"givenName": "Alice", "familyName": "Smith"},
            "emails": [{"primary": true, "value": "alice@acme.com", "type": "work"}],
            "active": true,
            "locale": "en-US",
            ENTERPRISE_SCHEMA: {"employeeNumber": "701984", "manager": {"value": "m1"}}
        })
    );
}

#[test]
fn required_and_invalid_values() {
    for (body, scim_type) in [
        (json!({}), "invalidValue"),
        (json!({"userName": ""}), "invalidValue"),
        (json!({"userName": 5, "name": "x"}), "invalidValue"),
        (
            json!({"userName": "a", "active": "sometimes"}),
            "invalidValue",
        ),
        (json!({"userName": "a", "name": "Alice"}), "invalidValue"),
        (
            json!({"userName": "a", "emails": [[{"value": "x"}]]}),
            "invalidValue",
        ),
        (json!({"userName": "a\u{0}b"}), "invalidValue"),
        (
            json!({"userName": "x".repeat(MAX_NAME_CHARS + 1)}),
            "invalidValue",
        ),
        (json!([1, 2]), "invalidSyntax"),
    ] {
        let err = normalize(
            crate::scim::schema::Schemas::standard(),
            ResourceKind::User,
            &body,
        )
        .unwrap_err();
        assert_eq!(err.scim_type, Some(scim_type), "{body}");
    }
    // Each value's JSON type is checked against its attribute's: a number is not a string.
    for (body, words) in [
        (
            json!({"userName": 42}),
            "userName must be a string, not a number",
        ),
        (
            json!({"userName": "a", "displayName": true}),
            "displayName must be a string, not a boolean",
        ),
        (
            json!({"userName": "a", "name": {"givenName": 7}}),
            "givenName must be a string, not a number",
        ),
        (
            json!({"userName": "a", "emails": [{"value": "a@b.c", "primary": 1}]}),
            "primary must be true or false",
        ),
        (
            json!({"userName": "a", "title": ["x"]}),
            "title must be a string, not a list",
        ),
        (
            json!({"userName": "a", "active": {"x": 1}}),
            "active must be true or false, not an object",
        ),
        (
            json!({"userName": "a", ENTERPRISE_SCHEMA: {"employeeNumber": 701984}}),
            "employeeNumber must be a string, not a number",
        ),
    ] {
        let err = normalize(
            crate::scim::schema::Schemas::standard(),
            ResourceKind::User,
            &body,
        )
        .unwrap_err();
        assert_eq!(err.scim_type, Some("invalidValue"), "{body}");
        assert!(err.detail.contains(words), "{body}: {}", err.detail);
    }
}

#[test]
fn groups_keep_display_name_and_external_id_not_members() {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "displayName": "Engineering",
        "externalId": "e1",
        "members": [{"value": "u1", "display": "x"}, {"value": "u2"}, "u3", {"value": "u1"}]
    });
    let out = normalize(
        crate::scim::schema::Schemas::standard(),
        ResourceKind::Group,
        &body,
    )
    .unwrap();
    assert_eq!(
        Value::Object(out),
        json!({"displayName": "Engineering", "externalId": "e1"})
    );
    assert_eq!(member_values(&body).unwrap(), ["u1", "u2", "u3"]);
    assert!(member_values(&json!({"members": [{"display": "x"}]})).is_err());
    assert!(
        normalize(
            crate::scim::schema::Schemas::standard(),
            ResourceKind::Group,
            &json!({"members": []})
        )
        .is_err()
    );
}

fn rendered() -> Value {
    let attrs = normalize(
        crate::scim::schema::Schemas::standard(),
        ResourceKind::User,
        &json!({"userName": "a@b.com", "name": {"givenName": "A", "familyName": "B"}, "emails": [{"value": "a@b.com", "type": "work"}], ENTERPRISE_SCHEMA: {"department": "R&D"}}),
    )
    .unwrap();
    let meta = Meta {
        resource_type: "User",
        created: "c",
        last_modified: "m",
        location: "l",
        version: "W/\"1\"",
    };
    render(
        crate::scim::schema::Schemas::standard(),
        ResourceKind::User,
        "id1",
        &attrs,
        &meta,
        vec![("groups", json!([{"value": "g1"}]))],
    )
}

#[test]
fn render_lists_schemas_in_use() {
    let r = rendered();
    assert_eq!(
        r["schemas"],
        json!([
            "urn:ietf:params:scim:schemas:core:2.0:User",
            ENTERPRISE_SCHEMA
        ])
    );
    assert_eq!(r["id"], "id1");
    assert_eq!(r["meta"]["version"], "W/\"1\"");
    assert_eq!(r["groups"][0]["value"], "g1");
}

#[test]
fn projection() {
    let p = Projection::parse(Some("userName, name.givenName,emails.value"), None);
    assert_eq!(
        p.apply(
            crate::scim::schema::Schemas::standard(),
            ResourceKind::User,
            rendered()
        ),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_SCHEMA],
            "id": "id1",
            "userName": "a@b.com",
            "name": {"givenName": "A"},
            "emails": [{"value": "a@b.com"}]
        })
    );
    let p = Projection::parse(
        None,
        Some(
            "groups,name.familyName,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department,id",
        ),
    );
    let out = p.apply(
        crate::scim::schema::Schemas::standard(),
        ResourceKind::User,
        rendered(),
    );
    assert!(out.get("groups").is_none());
    assert_eq!(out["name"], json!({"givenName": "A"}));
    // Its only attribute excluded, the extension is left out, with its URN in `schemas`.
    assert!(out.get(ENTERPRISE_SCHEMA).is_none());
    assert_eq!(
        out["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:User"])
    );
    assert_eq!(out["id"], "id1");
    let p = Projection::parse(
        Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
        None,
    );
    assert_eq!(
        p.apply(
            crate::scim::schema::Schemas::standard(),
            ResourceKind::User,
            rendered()
        )[ENTERPRISE_SCHEMA],
        json!({"department": "R&D"})
    );
    let members = Projection::parse(None, Some("members"));
    assert!(!members.includes(ResourceKind::Group, "members"));
    assert!(
        Projection::parse(Some("displayName"), None).includes(ResourceKind::Group, "displayName")
    );
    assert!(!Projection::parse(Some("displayName"), None).includes(ResourceKind::Group, "members"));
    assert!(Projection::default().includes(ResourceKind::Group, "members"));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = Value> {
        "[a-zA-Z0-9@. ]{1,10}".prop_map(Value::String)
    }

    /// User bodies as IdPs send them: known attributes in any case, string booleans, nulls,
    /// enterprise values, and attributes nobody declared.
    fn user_body() -> impl Strategy<Value = Value> {
        (
            "[a-z]{1,8}@acme\\.com",
            prop::option::of(text()),
            prop::option::of(prop_oneof![
                any::<bool>().prop_map(Value::Bool),
                Just(json!("True")),
                Just(json!("false")),
            ]),
            prop::option::of((text(), text())),
            prop::collection::vec(("[a-z]{1,6}@acme\\.com", prop::option::of(text())), 0..3),
            prop::option::of(text()),
            prop::option::of(text()),
        )
            .prop_map(|(user_name, title, active, name, emails, dept, junk)| {
                let mut v = json!({"UserName": user_name});
                if let Some(t) = title {
                    v["title"] = t;
                }
                if let Some(a) = active {
                    v["active"] = a;
                }
                if let Some((g, f)) = name {
                    v["name"] = json!({"givenName": g, "FamilyName": f});
                }
                v["emails"] = Value::Array(
                    emails
                        .into_iter()
                        .map(|(e, t)| json!({"value": e, "type": t}))
                        .collect(),
                );
                if let Some(d) = dept {
                    v[ENTERPRISE_SCHEMA] = json!({"department": d});
                }
                if let Some(j) = junk {
                    v["favouriteColour"] = j;
                }
                v
            })
    }

    proptest! {
        /// What a normalised user renders to normalises back to the same attributes: an IdP
        /// that PUTs back what it read changes nothing.
        #[test]
        fn rendered_users_normalise_to_themselves(body in user_body()) {
            let attrs = normalize(crate::scim::schema::Schemas::standard(), ResourceKind::User, &body).expect("valid body");
            let meta = Meta {
                resource_type: "User",
                created: "2026-01-01T00:00:00.000Z",
                last_modified: "2026-01-01T00:00:00.000Z",
                location: "https://scim.test/Users/1",
                version: "W/\"1\"",
            };
            let rendered = render(crate::scim::schema::Schemas::standard(), ResourceKind::User, "1", &attrs, &meta, vec![]);
            prop_assert_eq!(normalize(crate::scim::schema::Schemas::standard(), ResourceKind::User, &rendered).expect("renders valid"), attrs);
        }

        /// Normalising is idempotent, and keeps the userName it was given.
        #[test]
        fn normalising_twice_changes_nothing(body in user_body()) {
            let once = normalize(crate::scim::schema::Schemas::standard(), ResourceKind::User, &body).expect("valid body");
            prop_assert_eq!(&once["userName"], &body["UserName"]);
            prop_assert!(!once.contains_key("favouriteColour"));
            prop_assert_eq!(normalize(crate::scim::schema::Schemas::standard(), ResourceKind::User, &Value::Object(once.clone())).unwrap(), once);
        }
    }
}
