use super::*;
use proptest::prelude::*;
use serde_json::json;

fn user() -> Value {
    json!({
        "schemas": [schema::USER_SCHEMA, schema::ENTERPRISE_SCHEMA],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "jYoung",
        "userName": "bjensen@example.com",
        "name": {"familyName": "O'Malley", "givenName": "Barbara"},
        "title": "Tour Guide",
        "userType": "Employee",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "ims": [{"value": "babs@foo.com", "type": "xmpp"}],
        "meta": {"lastModified": "2011-05-13T04:42:34Z", "created": "2010-01-23T04:56:22Z"},
        schema::ENTERPRISE_SCHEMA: {"employeeNumber": "701984", "manager": {"value": "26118915"}}
    })
}

fn m(filter: &str) -> bool {
    parse(filter)
        .unwrap_or_else(|e| panic!("{filter}: {e}"))
        .matches(
            crate::scim::schema::Schemas::standard(),
            ResourceKind::User,
            &user(),
        )
}

#[test]
fn rfc_7644_examples_parse_and_evaluate() {
    // RFC 7644 §3.4.2.2, each with its expected result on the user above.
    let cases = [
        (r#"userName eq "bjensen@example.com""#, true),
        (r#"name.familyName co "O'Malley""#, true),
        (r#"userName sw "J""#, false),
        (r#"userName sw "B""#, true),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bj""#,
            true,
        ),
        ("title pr", true),
        ("nickName pr", false),
        (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, false),
        (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, true),
        (r#"meta.lastModified lt "2011-05-13T04:42:34Z""#, false),
        (r#"meta.lastModified le "2011-05-13T04:42:34Z""#, true),
        (r#"title pr and userType eq "Employee""#, true),
        (r#"title pr or userType eq "Intern""#, true),
        (
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            true,
        ),
        (
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            true,
        ),
        (
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            false,
        ),
        (
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            true,
        ),
        (
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            true,
        ),
        (
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            true,
        ),
        (
            r#"emails[type eq "home" and value co "@example.com"]"#,
            false,
        ),
    ];
    for (f, expected) in cases {
        assert_eq!(m(f), expected, "{f}");
    }
}

#[test]
fn idp_forms() {
    // Case-insensitive names, operators and (non-caseExact) values.
    assert!(m(r#"UserName Eq "BJENSEN@EXAMPLE.COM""#));
    assert!(m(r#"name.FamilyName CO "o'malley""#));
    // externalId is caseExact.
    assert!(m(r#"externalId eq "jYoung""#));
    assert!(!m(r#"externalId eq "jyoung""#));
    // Microsoft: unquoted values, and values left %-encoded.
    assert!(m("externalId eq jYoung"));
    assert!(m(r#"userName eq "bjensen%40example.com""#));
    assert!(m("userName%20eq%20%22bjensen%40example.com%22"));
    // Entra's value path with a trailing sub-attribute.
    assert!(m(
        r#"emails[type eq "work"].value eq "bjensen@example.com""#
    ));
    assert!(!m(
        r#"emails[type eq "home"].value eq "bjensen@example.com""#
    ));
    // Enterprise extension by URN and bare.
    assert!(m(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#
    ));
    assert!(m(r#"employeeNumber eq "701984""#));
    assert!(m(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915""#
    ));
    // Booleans, also written as strings.
    assert!(m("active eq true"));
    assert!(!m("active eq false"));
    assert!(m(r#"active eq "True""#));
    assert!(m("emails[primary eq true].type eq \"work\""));
    // Random GUID (Entra's test connection): no match, no error.
    assert!(!m(r#"userName eq "c6d6c9a5-1b0a-4b54-8d0e-7a8f1a2f3c11""#));
    // Dates compare as instants, whatever the offset.
    assert!(m(r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#));
    assert!(m(r#"meta.created lt "2011-05-13T04:42:34.5Z""#));
    // ne on an absent attribute matches.
    assert!(m(r#"nickName ne "x""#));
    assert!(m("nickName eq null"));
}

#[test]
fn precedence_and_grouping() {
    let f = parse(r#"a eq "1" or b eq "2" and c eq "3""#).unwrap();
    assert!(matches!(f, Filter::Or(_, ref r) if matches!(**r, Filter::And(..))));
    let f = parse(r#"(a eq "1" or b eq "2") and not (c pr)"#).unwrap();
    assert!(
        matches!(f, Filter::And(ref l, ref r) if matches!(**l, Filter::Or(..)) && matches!(**r, Filter::Not(..)))
    );
}

#[test]
fn bad_syntax_is_an_error() {
    for bad in [
        "",
        "userName",
        "userName eq",
        r#"userName xx "a""#,
        r#"userName eq "a" and"#,
        r#"(userName eq "a""#,
        r#"userName eq "a")"#,
        r#"emails[type eq "work""#,
        r#"userName eq "unterminated"#,
        r#""a" eq "b""#,
        r#"1abc eq "b""#,
        r#"userName eq "a" userName eq "b""#,
        "and or not",
        r#"emails.value[type eq "x"] pr"#,
    ] {
        assert!(parse(bad).is_err(), "{bad:?} parsed");
    }
    let deep = format!("{}userName pr{}", "(".repeat(1000), ")".repeat(1000));
    assert!(parse(&deep).unwrap_err().0.contains("nested"));
    assert!(
        parse(&"a".repeat(MAX_FILTER_LEN + 1))
            .unwrap_err()
            .0
            .contains("longer")
    );
}

#[test]
fn long_numbers_print_and_parse_back_exactly() {
    // Found by `cargo fuzz run filter`: without correctly rounded float parsing the printed
    // form of this number parsed back to a different one.
    let f = parse("eeeee lt 55555555555555555555555555555555555555555550e2").unwrap();
    assert_eq!(parse(&f.to_string()), Ok(f));
}

fn arb_path() -> impl Strategy<Value = AttrPath> {
    let urn = prop::option::of(prop::sample::select(vec![
        schema::USER_SCHEMA.to_string(),
        schema::ENTERPRISE_SCHEMA.to_string(),
    ]));
    let attr = prop::sample::select(vec![
        "userName", "name", "emails", "title", "active", "x-y_z1", "$ref",
    ]);
    let sub = prop::option::of(prop::sample::select(vec!["value", "givenName", "type"]));
    (urn, attr, sub).prop_map(|(urn, attr, sub)| AttrPath {
        urn,
        attr: attr.to_string(),
        sub: sub.map(str::to_string),
    })
}

fn arb_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        any::<String>().prop_map(CompValue::Str),
        any::<i64>().prop_map(|n| CompValue::Num(n.into())),
        any::<bool>().prop_map(CompValue::Bool),
        Just(CompValue::Null),
    ]
}

fn arb_op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(vec![
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ])
}

fn arb_filter() -> impl Strategy<Value = Filter> {
    let leaf = prop_oneof![
        (arb_path(), arb_op(), arb_value()).prop_map(|(p, o, v)| Filter::Compare(p, o, v)),
        arb_path().prop_map(Filter::Present),
    ];
    leaf.prop_recursive(4, 32, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.clone().prop_map(|a| Filter::Not(Box::new(a))),
            (arb_path(), inner).prop_map(|(mut p, f)| {
                p.sub = None;
                Filter::ValuePath(p, Box::new(f))
            }),
        ]
    })
}

proptest! {
    #[test]
    fn printing_then_parsing_gives_the_same_filter(f in arb_filter()) {
        let printed = f.to_string();
        let back = parse(&printed);
        prop_assert_eq!(back.as_ref(), Ok(&f), "printed: {}", printed);
    }

    #[test]
    fn parsing_never_panics(s in any::<String>()) {
        let _ = parse(&s);
    }

    #[test]
    fn parsing_filter_shaped_noise_never_panics(
        parts in prop::collection::vec(prop::sample::select(vec![
            "(", ")", "[", "]", "\"", " ", "eq", "and", "or", "not", "pr", "userName", "emails",
            ".value", "\"x\"", "%20", "%", "urn:a:b", "true", "1e999", "-", "\\",
        ]), 0..40)
    ) {
        let text = parts.concat();
        if let Ok(f) = parse(&text) {
            let _ = f.matches(crate::scim::schema::Schemas::standard(), ResourceKind::User, &user());
            prop_assert_eq!(parse(&f.to_string()), Ok(f));
        }
    }
}
