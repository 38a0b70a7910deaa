//! The stdio shim's arguments, specified once: `coder-bridge stdio` and the
//! small `coder-bridge-stdio` program parse them here, `coder-bridge stdio`
//! hands them on to the small program with [`ShimArgs::to_args`], and the
//! agents' config entries are written with them.

use std::ffi::OsString;
use std::path::PathBuf;

use super::ShimOptions;

/// The agent a shim speaks for when none is named (Claude Desktop, the
/// agent that only speaks stdio).
pub const DEFAULT_AGENT: &str = "claude-desktop";

const AGENT: &str = "--agent";
const PORT: &str = "--port";
const NO_START: &str = "--no-start";
const BRIDGE: &str = "--bridge";
const HELP: &str = "--help";

/// `coder-bridge stdio`'s arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimArgs {
    /// Which configured agent the shim speaks for (its client token is used).
    pub agent: String,
    /// The daemon's port; `None`: the running daemon's, else the configured one.
    pub port: Option<u16>,
    /// Fail instead of starting the daemon when it is not running.
    pub no_start: bool,
    /// The `coder-bridge` to run as `serve` when no daemon answers; `None`:
    /// the caller's default (itself, or the one installed beside it).
    pub bridge: Option<PathBuf>,
}

impl Default for ShimArgs {
    fn default() -> Self {
        Self {
            agent: DEFAULT_AGENT.to_owned(),
            port: None,
            no_start: false,
            bridge: None,
        }
    }
}

/// What [`ShimArgs::parse`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Run(ShimArgs),
    /// `--help`: print [`USAGE`].
    Help,
}

/// What `--help` and a usage error print.
pub const USAGE: &str = "\
usage: coder-bridge stdio [--agent <name>] [--port <port>] [--no-start]

The stdio shim an agent launches: relays MCP between stdin/stdout and the
Coder Bridge daemon, starting the daemon when none answers.

  --agent <name>   the configured agent this shim speaks for (its client token
                   is used); default: claude-desktop
  --port <port>    the daemon's port; default: the running daemon's, else
                   `coder-bridge config get port`, CODER_BRIDGE_PORT or 7331
  --no-start       fail instead of starting the daemon when it is not running
  --bridge <path>  the coder-bridge program to run as `serve` (default: the
                   one running, or installed beside coder-bridge-stdio)";

impl ShimArgs {
    /// The shim for `agent`, with everything else at its default.
    pub fn for_agent(agent: impl Into<String>) -> Self {
        Self {
            agent: agent.into(),
            ..Self::default()
        }
    }

    /// Reads the arguments after `stdio` (or after the small program's name).
    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, String> {
        let mut parsed = Self::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
            match arg.to_str() {
                Some(AGENT) => {
                    parsed.agent = value(AGENT)?
                        .into_string()
                        .map_err(|_| format!("{AGENT} must be text"))?;
                }
                Some(PORT) => {
                    let port = value(PORT)?;
                    parsed.port =
                        Some(port.to_str().and_then(|p| p.parse().ok()).ok_or_else(|| {
                            format!("{PORT} {}: not a port", port.to_string_lossy())
                        })?);
                }
                Some(NO_START) => parsed.no_start = true,
                Some(BRIDGE) => parsed.bridge = Some(PathBuf::from(value(BRIDGE)?)),
                Some(HELP | "-h") => return Ok(Parsed::Help),
                _ => return Err(format!("unexpected argument {}", arg.to_string_lossy())),
            }
        }
        Ok(Parsed::Run(parsed))
    }

    /// The arguments that [`ShimArgs::parse`] reads back as `self`.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![AGENT.into(), self.agent.clone().into()];
        if let Some(port) = self.port {
            args.extend([PORT.into(), port.to_string().into()]);
        }
        if self.no_start {
            args.push(NO_START.into());
        }
        if let Some(bridge) = &self.bridge {
            args.extend([BRIDGE.into(), bridge.clone().into_os_string()]);
        }
        args
    }

    /// What the shim runs with; `default_bridge` is used when no
    /// `--bridge` was given.
    pub fn into_options(self, default_bridge: impl FnOnce() -> PathBuf) -> ShimOptions {
        ShimOptions {
            agent: self.agent,
            port: self.port,
            no_start: self.no_start,
            bridge_exe: self.bridge.unwrap_or_else(default_bridge),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_every_flag_and_writes_them_back() {
        let parsed = ShimArgs::parse(args(&[
            "--agent",
            "cursor",
            "--bridge",
            "/x/coder-bridge",
            "--port",
            "4000",
            "--no-start",
        ]))
        .unwrap();
        let expected = ShimArgs {
            agent: "cursor".into(),
            port: Some(4000),
            no_start: true,
            bridge: Some("/x/coder-bridge".into()),
        };
        assert_eq!(parsed, Parsed::Run(expected.clone()));
        assert_eq!(
            ShimArgs::parse(expected.to_args()).unwrap(),
            Parsed::Run(expected),
            "to_args is read back as the same arguments"
        );
        let default = ShimArgs::default();
        assert_eq!(
            ShimArgs::parse(args(&[])).unwrap(),
            Parsed::Run(default.clone())
        );
        assert_eq!(
            ShimArgs::parse(default.to_args()).unwrap(),
            Parsed::Run(default)
        );
        assert_eq!(ShimArgs::parse(args(&["--help"])).unwrap(), Parsed::Help);
    }

    #[test]
    fn bad_arguments_are_refused_with_the_reason() {
        assert!(
            ShimArgs::parse(args(&["--port", "x"]))
                .unwrap_err()
                .contains("not a port")
        );
        assert!(
            ShimArgs::parse(args(&["--agent"]))
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(
            ShimArgs::parse(args(&["serve"]))
                .unwrap_err()
                .contains("unexpected")
        );
    }
}
