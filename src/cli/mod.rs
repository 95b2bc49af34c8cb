//! The command line, the top layer: parses arguments, picks where the operations run, prints
//! results (text or `--json`) and turns every failure into one line on stderr and an exit
//! code: 0 success, 1 a refused operation, 2 a usage or configuration error. Nothing imports
//! this module.

mod activity;
mod app_keys;
mod args;
mod backup;
mod export;
mod keys;
mod orgs;
mod output;
mod schemas;
mod serve;
mod webhooks;

use std::process::ExitCode;

use clap::Parser;

pub use args::{Cli, Command, Global};

use crate::config::Config;
use crate::control::{self, Control, Local};
use crate::directory::Directory;

/// A failure with its exit code; printed as one line on stderr.
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
    pub fn refused(message: impl Into<String>) -> Failure {
        Failure {
            code: 1,
            message: message.into(),
        }
    }
}

impl From<control::Error> for Failure {
    fn from(e: control::Error) -> Failure {
        Failure::refused(e.message)
    }
}

impl From<crate::directory::Error> for Failure {
    fn from(e: crate::directory::Error) -> Failure {
        Failure::refused(e.to_string())
    }
}

impl From<crate::server::ServeError> for Failure {
    fn from(e: crate::server::ServeError) -> Failure {
        match e {
            crate::server::ServeError::Bind(m) | crate::server::ServeError::Webhooks(m) => {
                Failure::usage(m)
            }
            open => Failure::refused(open.to_string()),
        }
    }
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // Usage mistakes are one line, like every other error.
            let rendered = e.render().to_string();
            let mut lines = rendered.lines();
            let first = lines.next().unwrap_or("invalid arguments");
            let mut first = first.strip_prefix("error: ").unwrap_or(first).to_string();
            // "the following required arguments were not provided:" lists them below.
            if first.ends_with(':') {
                let listed: Vec<&str> = lines
                    .take_while(|l| l.starts_with("  "))
                    .map(str::trim)
                    .collect();
                first = format!("{} {}", first, listed.join(", "));
            }
            eprintln!("error: {first} (see --help)");
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message.replace('\n', " "));
            ExitCode::from(f.code)
        }
    }
}

pub fn load_config(global: &Global) -> Result<Config, Failure> {
    Config::load(&global.config).map_err(|e| Failure::usage(e.0))
}

/// The operations over the store named by the configuration: through the running server's
/// admin socket when one answers, else on the store opened here.
async fn operate(config: Config) -> Result<Box<dyn Control>, Failure> {
    if let Some(remote) = attach(&config).await? {
        return Ok(Box::new(remote));
    }
    let dir = Directory::open(config)?;
    Ok(Box::new(Local::new(dir, "store opened by this command")))
}

/// The running server of this configuration's store, if one answers on its admin socket.
async fn attach(config: &Config) -> Result<Option<crate::admin::Remote>, Failure> {
    crate::admin::connect(&crate::admin::socket_path(config))
        .await
        .map_err(Failure::refused)
}

fn run(cli: Cli) -> Result<(), Failure> {
    let config = load_config(&cli.global)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::refused(format!("cannot start the runtime: {e}")))?;
    let json = cli.global.json;
    runtime.block_on(async move {
        match cli.command {
            None => serve::dashboard(config).await,
            Some(Command::Serve { log_activity }) => serve::serve(config, log_activity, json).await,
            Some(Command::Activity(args)) => activity::run(config, args, json).await,
            Some(Command::Check) => activity::check(operate(config).await?.as_ref(), json).await,
            Some(Command::Org(cmd)) => orgs::org(operate(config).await?.as_ref(), cmd, json).await,
            Some(Command::Domain(cmd)) => {
                orgs::domain(operate(config).await?.as_ref(), cmd, json).await
            }
            Some(Command::Key(cmd)) => keys::key(operate(config).await?.as_ref(), cmd, json).await,
            Some(Command::AppKey(cmd)) => {
                app_keys::app_key(operate(config).await?.as_ref(), cmd, json).await
            }
            Some(Command::Events(args)) => {
                app_keys::events(operate(config).await?.as_ref(), args, json).await
            }
            Some(Command::Webhook(cmd)) => {
                webhooks::webhook(operate(config).await?.as_ref(), cmd, json).await
            }
            Some(Command::Backup { file }) => {
                backup::backup(operate(config).await?.as_ref(), &file, json).await
            }
            Some(Command::Schema(cmd)) => {
                schemas::schema(operate(config).await?.as_ref(), cmd, json).await
            }
            Some(Command::Export { org, only }) => {
                export::export(operate(config).await?.as_ref(), &org, only).await
            }
            Some(Command::Restore { file, data_dir }) => {
                backup::restore(&config, &file, &data_dir, json).await
            }
        }
    })
}
