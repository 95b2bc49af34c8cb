//! What the directory refuses, in domain words. The server turns these into HTTP statuses and
//! SCIM bodies, the command line into exit codes; nothing here knows either.

use crate::scim::error::ScimError;
use crate::store;

/// Why a bearer token was refused. The client always sees the same answer; operators see this.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AuthFailure {
    Missing,
    Malformed,
    UnknownKey,
    Revoked(String),
    OtherOrganization(String),
    UnknownOrganization,
}

impl std::fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthFailure::Missing => f.write_str("no bearer token"),
            AuthFailure::Malformed => f.write_str("malformed Authorization header"),
            AuthFailure::UnknownKey => f.write_str("unknown key"),
            AuthFailure::Revoked(id) => write!(f, "revoked key {id}"),
            AuthFailure::OtherOrganization(id) => write!(f, "key {id} of another organization"),
            AuthFailure::UnknownOrganization => f.write_str("unknown organization"),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The thing named does not exist (an organization, a user, a key...).
    #[error("{0}")]
    NotFound(String),
    /// Another resource of the organization holds this unique value.
    #[error("{attribute} {value:?} is already taken in this organization")]
    Conflict {
        attribute: &'static str,
        value: String,
    },
    /// An operator asked for something that exists already (an organization id, a domain).
    #[error("{0}")]
    AlreadyExists(String),
    /// An operator asked for something the state does not allow (revoking a revoked key).
    #[error("{0}")]
    Refused(String),
    /// If-Match named another version.
    #[error("the resource has changed: its version no longer matches If-Match")]
    PreconditionFailed,
    /// A write would give a user an address outside the organization's SCIM domains.
    #[error("{address} is outside the organization's SCIM domains")]
    DomainNotAllowed { address: String },
    /// The organization has SCIM turned off.
    #[error("SCIM is disabled for this organization")]
    ScimDisabled,
    /// The bearer token does not open this organization.
    #[error("authentication failed: {0}")]
    Unauthorized(AuthFailure),
    /// The input breaks the protocol or a rule, with its SCIM type.
    #[error("{0}")]
    Invalid(#[from] ScimError),
    /// The store failed; the cause is logged where it is met.
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl Error {
    /// An operator's input that breaks a rule (an organization id, a domain, a name).
    pub fn invalid(detail: impl Into<String>) -> Error {
        Error::Invalid(ScimError::invalid_value(detail))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
