//! `coder-bridge config get|set <key> [value]`: persistent settings, e.g.
//! `port`, which `serve`, `configure`, `agents`, `status` and the shim use
//! unless told otherwise.

use std::process::ExitCode;

use bridge::settings::{self, PortSource, Settings};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Print a setting (`port` prints the port in effect and where it comes from on stderr)
    Get {
        /// The setting: port
        key: String,
    },
    /// Change a setting
    Set {
        /// The setting: port
        key: String,
        value: String,
    },
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let path = settings::default_path();
    match args.action {
        Action::Get { key } => {
            let stored = Settings::load(&path)?.get(&key)?;
            if key == "port" {
                // The port in effect, which may come from the environment.
                let (port, source) = settings::port_with_source(None);
                println!("{port}");
                if source != PortSource::Settings {
                    eprintln!("({})", describe(source));
                }
            } else if let Some(value) = stored {
                println!("{value}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Set { key, value } => {
            let mut current = Settings::load(&path)?;
            let before = current.get(&key)?;
            current.set(&key, &value)?;
            current.save(&path)?;
            let after = current.get(&key)?.unwrap_or_default();
            println!("{key} = {after}");
            if key == "port" && before.as_deref() != Some(after.as_str()) {
                if std::env::var_os(bridge::env::PORT).is_some() {
                    eprintln!(
                        "note: {} is set in this environment and takes precedence",
                        bridge::env::PORT
                    );
                }
                println!(
                    "Restart the daemon, then run `coder-bridge configure --all` so agents follow (`coder-bridge agents` lists the stale ones)."
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn describe(source: PortSource) -> String {
    match source {
        PortSource::Env => format!("from {}", bridge::env::PORT),
        PortSource::Default => "the default; not set".to_owned(),
        PortSource::Flag | PortSource::Settings => "set".to_owned(),
    }
}
