//! `export ORG`: an organization's users and groups as JSON lines.

use std::io::Write;

use super::Failure;
use super::args::ExportKind;
use crate::control::Control;
use crate::scim::schema::ResourceKind;

/// Resources read per call (a group page also carries every member id of its groups).
const PAGE: usize = 500;

pub async fn export(ops: &dyn Control, org: &str, only: Option<ExportKind>) -> Result<(), Failure> {
    let kinds: &[ResourceKind] = match only {
        None => &ResourceKind::ALL,
        Some(ExportKind::Users) => &[ResourceKind::User],
        Some(ExportKind::Groups) => &[ResourceKind::Group],
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for &kind in kinds {
        let mut after: Option<String> = None;
        loop {
            let page = ops.export_page(org, kind, after.as_deref(), PAGE).await?;
            for r in &page {
                let line = serde_json::to_string(r).unwrap_or_default();
                if writeln!(out, "{line}").is_err() {
                    // The reader went away (`| head`): nothing more to say.
                    return Ok(());
                }
            }
            if page.len() < PAGE {
                break;
            }
            after = page
                .last()
                .and_then(|r| r["id"].as_str())
                .map(str::to_string);
        }
    }
    let _ = out.flush();
    Ok(())
}
