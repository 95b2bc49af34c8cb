//! The SCIM schemas scimdesk serves (RFC 7643 §4, §8.7): attribute definitions used to
//! normalise resources, evaluate filters, resolve PATCH paths and answer `/Schemas`. Pure.

use serde_json::{Value, json};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Boolean,
    DateTime,
    Reference,
    Binary,
    Complex,
    Integer,
    Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    WriteOnly,
    Immutable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Default,
    Never,
    /// Only when named in `attributes`.
    Request,
}

/// One attribute definition.
#[derive(Debug)]
pub struct Attr {
    pub name: &'static str,
    pub ty: Type,
    pub multi: bool,
    pub case_exact: bool,
    pub required: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub unique: bool,
    pub sub: &'static [Attr],
    /// Values the attribute may take (empty: any), from a declared schema's `canonicalValues`.
    pub canonical: &'static [&'static str],
    /// Shown in `/Schemas`; empty: the name.
    pub description: &'static str,
}

const fn attr(name: &'static str, ty: Type) -> Attr {
    Attr {
        name,
        ty,
        multi: false,
        case_exact: false,
        required: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        unique: false,
        sub: &[],
        canonical: &[],
        description: "",
    }
}

const fn s(name: &'static str) -> Attr {
    attr(name, Type::String)
}

const fn complex(name: &'static str, sub: &'static [Attr]) -> Attr {
    let mut a = attr(name, Type::Complex);
    a.sub = sub;
    a
}

const fn multi(name: &'static str, sub: &'static [Attr]) -> Attr {
    let mut a = complex(name, sub);
    a.multi = true;
    a
}

const fn read_only(mut a: Attr) -> Attr {
    a.mutability = Mutability::ReadOnly;
    a
}

const fn case_exact(mut a: Attr) -> Attr {
    a.case_exact = true;
    a
}

const NAME_SUB: &[Attr] = &[
    s("formatted"),
    s("familyName"),
    s("givenName"),
    s("middleName"),
    s("honorificPrefix"),
    s("honorificSuffix"),
];

const TYPED_VALUE: &[Attr] = &[
    s("value"),
    s("display"),
    s("type"),
    attr("primary", Type::Boolean),
];

const PHOTO_SUB: &[Attr] = &[
    case_exact(attr("value", Type::Reference)),
    s("display"),
    s("type"),
    attr("primary", Type::Boolean),
];

const CERT_SUB: &[Attr] = &[
    attr("value", Type::Binary),
    s("display"),
    s("type"),
    attr("primary", Type::Boolean),
];

const ADDRESS_SUB: &[Attr] = &[
    s("formatted"),
    s("streetAddress"),
    s("locality"),
    s("region"),
    s("postalCode"),
    s("country"),
    s("type"),
    attr("primary", Type::Boolean),
];

const GROUP_REF_SUB: &[Attr] = &[
    read_only(case_exact(s("value"))),
    read_only(case_exact(attr("$ref", Type::Reference))),
    read_only(s("display")),
    read_only(s("type")),
];

const MEMBER_SUB: &[Attr] = &[
    case_exact(s("value")),
    case_exact(attr("$ref", Type::Reference)),
    s("display"),
    s("type"),
];

const MANAGER_SUB: &[Attr] = &[
    case_exact(s("value")),
    case_exact(attr("$ref", Type::Reference)),
    read_only(s("displayName")),
];

const META_SUB: &[Attr] = &[
    read_only(case_exact(s("resourceType"))),
    read_only(attr("created", Type::DateTime)),
    read_only(attr("lastModified", Type::DateTime)),
    read_only(case_exact(attr("location", Type::Reference))),
    read_only(case_exact(s("version"))),
];

/// Attributes every resource has (RFC 7643 §3.1).
pub const COMMON: &[Attr] = &[
    {
        let mut a = read_only(case_exact(s("id")));
        a.returned = Returned::Always;
        a.unique = true;
        a
    },
    case_exact(s("externalId")),
    read_only(complex("meta", META_SUB)),
];

pub const USER_ATTRS: &[Attr] = &[
    {
        let mut a = s("userName");
        a.required = true;
        a.unique = true;
        a
    },
    complex("name", NAME_SUB),
    s("displayName"),
    s("nickName"),
    case_exact(attr("profileUrl", Type::Reference)),
    s("title"),
    s("userType"),
    s("preferredLanguage"),
    s("locale"),
    s("timezone"),
    attr("active", Type::Boolean),
    {
        let mut a = case_exact(s("password"));
        a.mutability = Mutability::WriteOnly;
        a.returned = Returned::Never;
        a
    },
    multi("emails", TYPED_VALUE),
    multi("phoneNumbers", TYPED_VALUE),
    multi("ims", TYPED_VALUE),
    multi("photos", PHOTO_SUB),
    multi("addresses", ADDRESS_SUB),
    read_only(multi("groups", GROUP_REF_SUB)),
    multi("entitlements", TYPED_VALUE),
    multi("roles", TYPED_VALUE),
    multi("x509Certificates", CERT_SUB),
];

pub const ENTERPRISE_ATTRS: &[Attr] = &[
    s("employeeNumber"),
    s("costCenter"),
    s("organization"),
    s("division"),
    s("department"),
    complex("manager", MANAGER_SUB),
];

pub const GROUP_ATTRS: &[Attr] = &[
    {
        let mut a = s("displayName");
        a.required = true;
        a.unique = true;
        a
    },
    multi("members", MEMBER_SUB),
];

/// The two SCIM resource types scimdesk keeps: the one kind used by every layer.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 2] = [ResourceKind::User, ResourceKind::Group];

    /// The SCIM resource type name (`User`, `Group`).
    pub fn resource_type(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }

    /// The endpoint segment under a base URL (`Users`, `Groups`).
    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "Users",
            ResourceKind::Group => "Groups",
        }
    }

    /// The endpoint named by a path segment, case-insensitively.
    pub fn from_endpoint(segment: &str) -> Option<ResourceKind> {
        ResourceKind::ALL
            .into_iter()
            .find(|k| k.endpoint().eq_ignore_ascii_case(segment))
    }

    /// The attribute that names a resource and is unique in its organization.
    pub fn name_attr(self) -> &'static str {
        match self {
            ResourceKind::User => "userName",
            ResourceKind::Group => "displayName",
        }
    }

    pub fn core_schema(self) -> &'static str {
        match self {
            ResourceKind::User => USER_SCHEMA,
            ResourceKind::Group => GROUP_SCHEMA,
        }
    }

    pub fn core_attrs(self) -> &'static [Attr] {
        match self {
            ResourceKind::User => USER_ATTRS,
            ResourceKind::Group => GROUP_ATTRS,
        }
    }
}

/// An extension schema of a resource type: the enterprise User extension, or one an operator
/// declared (see [`super::declared`]).
#[derive(Debug)]
pub struct Extension {
    pub urn: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attrs: &'static [Attr],
}

pub static ENTERPRISE: Extension = Extension {
    urn: ENTERPRISE_SCHEMA,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attrs: ENTERPRISE_ATTRS,
};

/// The schemas an organization's resources follow: the core schemas and the extensions of each
/// resource type (the enterprise extension, then those declared for every organization, then
/// those declared for this one).
#[derive(Debug, Default, Clone)]
pub struct Schemas {
    user: Vec<&'static Extension>,
    group: Vec<&'static Extension>,
}

impl Schemas {
    /// The core schemas and the enterprise User extension: what every organization has.
    pub fn standard() -> &'static Schemas {
        static STANDARD: std::sync::LazyLock<Schemas> = std::sync::LazyLock::new(|| Schemas {
            user: vec![&ENTERPRISE],
            group: Vec::new(),
        });
        &STANDARD
    }

    /// These schemas with `ext` added to `kind`'s extensions (an extension already there by
    /// the same URN is replaced).
    pub fn with(&self, kind: ResourceKind, ext: &'static Extension) -> Schemas {
        let mut out = self.clone();
        let list = match kind {
            ResourceKind::User => &mut out.user,
            ResourceKind::Group => &mut out.group,
        };
        match list
            .iter_mut()
            .find(|e| e.urn.eq_ignore_ascii_case(ext.urn))
        {
            Some(slot) => *slot = ext,
            None => list.push(ext),
        }
        out
    }

    /// Extension schemas of a resource type, in the order they were added.
    pub fn extensions(&self, kind: ResourceKind) -> &[&'static Extension] {
        match kind {
            ResourceKind::User => &self.user,
            ResourceKind::Group => &self.group,
        }
    }
}

/// Where a top-level attribute lives: the core object or an extension object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Core,
    Extension(&'static str),
}

/// Resolves a (possibly URN-qualified) attribute name, case-insensitively.
pub fn resolve(
    schemas: &Schemas,
    kind: ResourceKind,
    urn: Option<&str>,
    name: &str,
) -> Option<(Container, &'static Attr)> {
    let find = |attrs: &'static [Attr]| attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name));
    let exts = schemas.extensions(kind);
    match urn {
        None => find(COMMON)
            .or_else(|| find(kind.core_attrs()))
            .map(|a| (Container::Core, a))
            .or_else(|| {
                exts.iter()
                    .find_map(|e| find(e.attrs).map(|a| (Container::Extension(e.urn), a)))
            }),
        Some(u) if u.eq_ignore_ascii_case(kind.core_schema()) => find(COMMON)
            .or_else(|| find(kind.core_attrs()))
            .map(|a| (Container::Core, a)),
        Some(u) => exts
            .iter()
            .find(|e| e.urn.eq_ignore_ascii_case(u))
            .and_then(|e| find(e.attrs).map(|a| (Container::Extension(e.urn), a))),
    }
}

/// The extension URN matching `urn` case-insensitively.
pub fn extension_urn(schemas: &Schemas, kind: ResourceKind, urn: &str) -> Option<&'static str> {
    schemas
        .extensions(kind)
        .iter()
        .find(|e| e.urn.eq_ignore_ascii_case(urn))
        .map(|e| e.urn)
}

/// Finds a sub-attribute definition case-insensitively.
pub fn sub_attr(parent: &'static Attr, name: &str) -> Option<&'static Attr> {
    parent
        .sub
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
}

/// Splits `urn:...:User:attr.sub` into (`urn:...:User`, `attr.sub`); None when no URN prefix.
pub fn split_urn(path: &str) -> (Option<&str>, &str) {
    if !path.to_ascii_lowercase().starts_with("urn:") {
        return (None, path);
    }
    // The attribute is after the last ':' (attribute names never contain ':').
    match path.rfind(':') {
        Some(i) => (Some(&path[..i]), &path[i + 1..]),
        None => (None, path),
    }
}

fn type_name(t: Type) -> &'static str {
    match t {
        Type::String => "string",
        Type::Boolean => "boolean",
        Type::DateTime => "dateTime",
        Type::Reference => "reference",
        Type::Binary => "binary",
        Type::Complex => "complex",
        Type::Integer => "integer",
        Type::Decimal => "decimal",
    }
}

fn attr_json(a: &Attr) -> Value {
    let mut v = json!({
        "name": a.name,
        "type": type_name(a.ty),
        "multiValued": a.multi,
        "description": if a.description.is_empty() { a.name } else { a.description },
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": match a.mutability {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::WriteOnly => "writeOnly",
            Mutability::Immutable => "immutable",
        },
        "returned": match a.returned {
            Returned::Always => "always",
            Returned::Default => "default",
            Returned::Never => "never",
            Returned::Request => "request",
        },
        "uniqueness": if a.unique { "server" } else { "none" },
    });
    if a.ty == Type::Reference {
        v["referenceTypes"] = match a.name {
            "$ref" => json!(["User", "Group"]),
            _ => json!(["external"]),
        };
    }
    if !a.canonical.is_empty() {
        v["canonicalValues"] = json!(a.canonical);
    }
    if !a.sub.is_empty() {
        v["subAttributes"] = Value::Array(a.sub.iter().map(attr_json).collect());
    }
    v
}

/// The `/Schemas` representation of an extension (RFC 7643 §7), without `meta`.
pub fn extension_document(e: &Extension) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": e.urn,
        "name": e.name,
        "description": e.description,
        "attributes": e.attrs.iter().map(attr_json).collect::<Vec<_>>(),
    })
}

/// The `/Schemas` representations (RFC 7643 §7), without `meta`: User, its extensions, Group,
/// its extensions.
pub fn schema_documents(schemas: &Schemas) -> Vec<Value> {
    let mut user: Vec<&Attr> = Vec::new();
    user.extend(USER_ATTRS.iter());
    user.push(&COMMON[1]);
    let user_attrs: Vec<Value> = user.iter().map(|a| attr_json(a)).collect();
    let mut group_attrs: Vec<Value> = GROUP_ATTRS.iter().map(attr_json).collect();
    group_attrs.push(attr_json(&COMMON[1]));
    let mut out = vec![json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "User Account",
        "attributes": user_attrs,
    })];
    out.extend(
        schemas
            .extensions(ResourceKind::User)
            .iter()
            .map(|e| extension_document(e)),
    );
    out.push(json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": GROUP_SCHEMA,
        "name": "Group",
        "description": "Group",
        "attributes": group_attrs,
    }));
    out.extend(
        schemas
            .extensions(ResourceKind::Group)
            .iter()
            .map(|e| extension_document(e)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names_case_insensitively_and_by_urn() {
        let std = Schemas::standard();
        let (c, a) = resolve(std, ResourceKind::User, None, "USERNAME").unwrap();
        assert_eq!((c, a.name), (Container::Core, "userName"));
        let (c, a) = resolve(
            std,
            ResourceKind::User,
            Some(ENTERPRISE_SCHEMA),
            "employeenumber",
        )
        .unwrap();
        assert_eq!(
            (c, a.name),
            (Container::Extension(ENTERPRISE_SCHEMA), "employeeNumber")
        );
        let (c, _) = resolve(std, ResourceKind::User, None, "department").unwrap();
        assert_eq!(c, Container::Extension(ENTERPRISE_SCHEMA));
        assert!(resolve(std, ResourceKind::Group, None, "userName").is_none());
        assert_eq!(
            split_urn("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"),
            (Some(ENTERPRISE_SCHEMA), "manager")
        );
        assert_eq!(split_urn("name.givenName"), (None, "name.givenName"));
    }

    #[test]
    fn schema_documents_cover_users_groups_and_enterprise() {
        let docs = schema_documents(Schemas::standard());
        let ids: Vec<&str> = docs.iter().map(|d| d["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [USER_SCHEMA, ENTERPRISE_SCHEMA, GROUP_SCHEMA]);
        let user_names: Vec<&str> = docs[0]["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        assert!(user_names.contains(&"userName") && user_names.contains(&"x509Certificates"));
    }
}
