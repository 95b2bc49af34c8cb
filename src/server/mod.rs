//! The SCIM HTTP server.

use crate::cli::Failure;
use crate::config::Config;

/// `scimdesk serve`.
pub async fn run_cli(_config: Config) -> Result<(), Failure> {
    Err(Failure::refused("the SCIM server is not built yet"))
}
