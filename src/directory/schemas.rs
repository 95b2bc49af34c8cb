//! Extension schemas operators declare, and the schemas each organization's resources follow:
//! the standard ones, those declared for every organization, then those declared for it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::{Directory, Error, Result};
use crate::scim::declared;
use crate::scim::schema::{ResourceKind, Schemas};
use crate::store::{self, DeclaredSchema, WriteRefused};

/// The declared schemas, and each organization's effective [`Schemas`] built from them on first
/// use (rebuilt after any change).
#[derive(Default)]
pub(super) struct SchemaCache {
    declared: RwLock<Arc<Vec<DeclaredSchema>>>,
    built: RwLock<HashMap<String, Arc<Schemas>>>,
}

fn standard() -> Arc<Schemas> {
    static STANDARD: std::sync::LazyLock<Arc<Schemas>> =
        std::sync::LazyLock::new(|| Arc::new(Schemas::standard().clone()));
    STANDARD.clone()
}

impl SchemaCache {
    pub(super) fn load(store: &store::Store) -> Result<SchemaCache> {
        let cache = SchemaCache::default();
        cache.set(store.list_schemas()?);
        Ok(cache)
    }

    fn set(&self, list: Vec<DeclaredSchema>) {
        *self.declared.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(list);
        self.built
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    fn declared(&self) -> Arc<Vec<DeclaredSchema>> {
        self.declared
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn for_org(&self, org: &str) -> Arc<Schemas> {
        let declared = self.declared();
        if declared.is_empty() {
            return standard();
        }
        if let Some(s) = self
            .built
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(org)
        {
            return s.clone();
        }
        let mut schemas = Schemas::standard().clone();
        // Every organization's first, then this one's (which replace a global one of the same
        // URN).
        for scope in [None, Some(org)] {
            for d in declared.iter().filter(|d| d.org.as_deref() == scope) {
                match declared::parse(&d.document.to_string(), Some(d.kind)) {
                    Ok(parsed) => schemas = schemas.with(d.kind, parsed.extension()),
                    Err(e) => tracing::warn!(urn = %d.urn, "a stored schema no longer parses: {e}"),
                }
            }
        }
        let schemas = Arc::new(schemas);
        self.built
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(org.to_string(), schemas.clone());
        schemas
    }
}

/// What `schema add` did.
#[derive(Debug, Clone)]
pub struct SchemaDeclared {
    pub schema: DeclaredSchema,
    /// A declaration of the same URN and scope was replaced.
    pub replaced: bool,
}

impl Directory {
    /// Rereads the declared schemas after a change that removed some (an organization deleted).
    pub(super) fn schemas_changed(&self) -> Result<()> {
        self.schemas.set(self.store.list_schemas()?);
        Ok(())
    }

    /// The schemas `org`'s resources follow.
    pub fn schemas(&self, org: &str) -> Arc<Schemas> {
        self.schemas.for_org(org)
    }

    /// Every declared schema.
    pub fn list_schemas(&self) -> Result<Vec<DeclaredSchema>> {
        Ok(self.store.list_schemas()?)
    }

    /// Declares an extension schema from its RFC 7643 §7 document, for one organization or every
    /// one; `kind` None: the URN says (`…:Group` extends groups, anything else users).
    pub async fn declare_schema(
        &self,
        document: &str,
        org: Option<&str>,
        kind: Option<ResourceKind>,
    ) -> Result<SchemaDeclared> {
        let parsed = declared::parse(document, kind).map_err(|e| Error::invalid(e.0))?;
        if let Some(org) = org {
            self.get_org(org)?;
        }
        // Unique attributes are indexed as resources are written: values stored before the
        // declaration would be neither indexed nor checked.
        let ext = parsed.extension();
        let already_unique: Vec<String> = self
            .store
            .list_schemas()?
            .iter()
            .filter(|d| d.org.as_deref() == org && d.urn.eq_ignore_ascii_case(ext.urn))
            .filter_map(|d| declared::parse(&d.document.to_string(), Some(d.kind)).ok())
            .flat_map(|d| {
                d.extension()
                    .attrs
                    .iter()
                    .filter(|a| a.unique)
                    .map(|a| a.name.to_ascii_lowercase())
                    .collect::<Vec<_>>()
            })
            .collect();
        let newly_unique = ext
            .attrs
            .iter()
            .any(|a| a.unique && !already_unique.contains(&a.name.to_ascii_lowercase()));
        if newly_unique {
            let carrying = self.count_carrying(ext.urn, org)?;
            if carrying > 0 {
                return Err(Error::Refused(format!(
                    "{carrying} stored users or groups already carry {} values; a schema with uniqueness \"server\" can only be declared before any are stored",
                    ext.urn
                )));
            }
        }
        let schema = DeclaredSchema {
            org: org.map(str::to_string),
            kind: parsed.kind,
            urn: parsed.urn().to_string(),
            document: parsed.document.clone(),
            declared: store::now(),
        };
        let replaced = match self.store.put_schema(&schema).await? {
            Ok(r) => r,
            Err(WriteRefused::OrgMissing) => {
                return Err(Error::NotFound(format!(
                    "no organization with id {:?}",
                    org.unwrap_or_default()
                )));
            }
            Err(_) => return Err(Error::Refused("the schema could not be stored".into())),
        };
        self.schemas.set(self.store.list_schemas()?);
        Ok(SchemaDeclared { schema, replaced })
    }

    /// How many stored users or groups carry values of the extension `urn`, in `org` or (None)
    /// in any organization.
    pub fn count_carrying(&self, urn: &str, org: Option<&str>) -> Result<usize> {
        let orgs: Vec<String> = match org {
            Some(o) => vec![o.to_string()],
            None => self.list_orgs()?.into_iter().map(|o| o.id).collect(),
        };
        let mut n = 0;
        for o in orgs {
            for kind in ResourceKind::ALL {
                let mut after: Option<String> = None;
                loop {
                    let page = self
                        .store
                        .resources_after(&o, kind, after.as_deref(), 1000)?;
                    n += page.iter().filter(|r| r.attrs.contains_key(urn)).count();
                    match page.last() {
                        Some(last) if page.len() == 1000 => after = Some(last.id.clone()),
                        _ => break,
                    }
                }
            }
        }
        Ok(n)
    }

    /// Removes a declared schema. Refused while stored resources carry its values, unless
    /// `force`: then the values stay stored but are no longer shown, filtered or sent (declaring
    /// the schema again brings them back).
    pub async fn remove_schema(
        &self,
        urn: &str,
        org: Option<&str>,
        force: bool,
    ) -> Result<DeclaredSchema> {
        let existing = self
            .store
            .list_schemas()?
            .into_iter()
            .find(|d| d.org.as_deref() == org && d.urn.eq_ignore_ascii_case(urn))
            .ok_or_else(|| {
                Error::NotFound(match org {
                    Some(o) => format!("no schema {urn} is declared for organization {o}"),
                    None => format!("no schema {urn} is declared for every organization"),
                })
            })?;
        if !force {
            let carrying = self.count_carrying(&existing.urn, org)?;
            if carrying > 0 {
                return Err(Error::Refused(format!(
                    "{carrying} stored users or groups carry {} values; remove them first or use --force (the values stay stored, unseen)",
                    existing.urn
                )));
            }
        }
        self.store.remove_schema(org, &existing.urn).await?;
        self.schemas.set(self.store.list_schemas()?);
        Ok(existing)
    }
}
