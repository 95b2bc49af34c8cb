//! `backup FILE` (from the running server, or the store when none runs) and `restore FILE
//! --data-dir DIR`.

use std::io::IsTerminal;
use std::path::Path;

use serde_json::json;

use super::Failure;
use super::output::print_json;
use crate::config::Config;
use crate::control::Control;
use crate::directory::Directory;

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1048576.0)
}

pub async fn backup(ops: &dyn Control, file: &Path, json: bool) -> Result<(), Failure> {
    let out = crate::store::create_backup_file(file)
        .map_err(|e| Failure::refused(format!("cannot create the backup file: {e}")))?;
    let tty = std::io::stderr().is_terminal();
    let progress = Box::new(move |bytes: u64| {
        if tty {
            eprint!("\rbackup: {}   ", mib(bytes));
        }
    });
    let result = ops.backup(Box::new(out), progress).await;
    if tty {
        eprintln!();
    }
    let checked = result.map_err(Failure::from).and_then(|_| {
        crate::store::verify_backup(file).map_err(|e| Failure::refused(e.to_string()))
    });
    let stats = match checked {
        Ok(s) => s,
        Err(f) => {
            let _ = std::fs::remove_file(file);
            return Err(Failure::refused(format!("backup failed: {}", f.message)));
        }
    };
    if json {
        print_json(&json!({
            "file": file.display().to_string(),
            "bytes": stats.bytes,
            "entries": stats.entries,
            "changes_during_backup": stats.changes,
            "files": stats.files,
        }));
    } else {
        println!(
            "wrote {} ({}, {} entries{}; checked)",
            file.display(),
            mib(std::fs::metadata(file).map(|m| m.len()).unwrap_or(0)),
            stats.entries,
            if stats.changes > 0 {
                format!(", and {} changes made while it was written", stats.changes)
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

pub async fn restore(config: &Config, file: &Path, dir: &Path, json: bool) -> Result<(), Failure> {
    let stats = crate::store::restore(file, dir)
        .map_err(|e| Failure::refused(format!("restore failed: {e}")))?;
    // The restored store, opened as the server would, checked.
    let mut restored = config.clone();
    restored.store.data_dir = dir.to_path_buf();
    let report = Directory::open(restored)?.check()?;
    if json {
        print_json(&json!({
            "data_dir": dir.display().to_string(),
            "entries": stats.entries + stats.changes,
            "check": report,
        }));
    } else {
        println!(
            "restored {} into {}: {} organizations, {} users, {} groups, {} events, {} webhook endpoints",
            file.display(),
            dir.display(),
            report.organizations,
            report.users,
            report.groups,
            report.events,
            report.webhooks
        );
        if report.problems.is_empty() {
            println!(
                "the restored store is consistent; point [store] data_dir at {} to use it",
                dir.display()
            );
        }
        for p in &report.problems {
            println!("problem: {p}");
        }
    }
    if report.problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::refused(format!(
            "the restored store has {} problems",
            report.problems.len()
        )))
    }
}
