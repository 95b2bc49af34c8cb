//! The SCIM 2.0 protocol, pure (no I/O): schemas, filters, PATCH, list parameters, resource
//! normalisation and errors. Storage and HTTP live elsewhere.

pub mod declared;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod list;
pub mod patch;
pub mod projection;
pub mod resource;
pub mod schema;
