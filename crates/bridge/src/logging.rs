//! How every face logs: which levels by default, and whether in colour.
//!
//! A command is quiet unless asked: warnings and errors only. A daemon
//! (`serve`, `demo`, the tray app) logs its own work at info, because its
//! log is how one sees what it did. Dependencies log at warn either way: at
//! info rmcp prints a `Debug` dump of the peer's protocol structs for every
//! session, which buries the lines that matter. `-v` raises our crates'
//! level (`-v` info, `-vv` debug, `-vvv` trace); [`crate::env::LOG`], when
//! set, replaces all of it with a `tracing` filter (`rmcp=debug`, ...).

use tracing_subscriber::EnvFilter;

/// The crates (tracing targets) that are ours: the library, the binaries,
/// the tray app and the simulator the demo runs in-process.
pub const OUR_TARGETS: &[&str] = &[
    "bridge",
    "coder_bridge",
    "coder_bridge_stdio",
    "coder_bridge_tray",
    "coder_sim",
];

/// What a process is, for its default log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A command that does its job and exits: warnings only.
    Command,
    /// A long-running process (`serve`, `demo`, the tray): our info lines too.
    Daemon,
}

/// The filter directives for `role` at `verbosity` (the count of `-v`).
pub fn default_directives(role: Role, verbosity: u8) -> String {
    const LEVELS: [&str; 4] = ["warn", "info", "debug", "trace"];
    let floor = match role {
        Role::Command => 0,
        Role::Daemon => 1,
    };
    let ours = LEVELS[usize::from(verbosity).clamp(floor, LEVELS.len() - 1)];
    let mut directives = String::from("warn");
    for target in OUR_TARGETS {
        directives.push_str(&format!(",{target}={ours}"));
    }
    directives
}

/// [`crate::env::LOG`] when it is set to a valid filter, else the defaults.
pub fn filter(role: Role, verbosity: u8) -> EnvFilter {
    match std::env::var(crate::env::LOG) {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
            .unwrap_or_else(|_| EnvFilter::new(default_directives(role, verbosity))),
        _ => EnvFilter::new(default_directives(role, verbosity)),
    }
}

/// Colour codes only for a person at a terminal (`stream_is_terminal`: the
/// log's stream is one), and never when [`crate::env::NO_COLOR`] is set
/// (<https://no-color.org>): log files, pipes and CI logs get plain text.
pub fn ansi(stream_is_terminal: bool) -> bool {
    let no_color = std::env::var_os(crate::env::NO_COLOR).is_some_and(|v| !v.is_empty());
    stream_is_terminal && !no_color
}

/// Logs to stderr for `role` at `verbosity`: stdout belongs to command
/// output (and, for the stdio shim, to the protocol). A second
/// initialisation (only tests do that) is ignored.
pub fn init_stderr(role: Role, verbosity: u8) {
    use std::io::IsTerminal as _;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(role, verbosity))
        .with_writer(std::io::stderr)
        .with_ansi(ansi(std::io::stderr().is_terminal()))
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level_of(directives: &str, target: &str) -> String {
        directives
            .split(',')
            .find_map(|d| d.strip_prefix(&format!("{target}=")))
            .unwrap_or_else(|| directives.split(',').next().unwrap_or_default())
            .to_owned()
    }

    #[test]
    fn commands_warn_and_daemons_inform_about_our_work_only() {
        let command = default_directives(Role::Command, 0);
        assert_eq!(level_of(&command, "bridge"), "warn");
        assert_eq!(level_of(&command, "rmcp"), "warn");
        let daemon = default_directives(Role::Daemon, 0);
        assert_eq!(level_of(&daemon, "coder_bridge"), "info");
        assert_eq!(level_of(&daemon, "coder_sim"), "info");
        assert_eq!(level_of(&daemon, "rmcp"), "warn");
        EnvFilter::try_new(&daemon).expect("the defaults parse");
    }

    #[test]
    fn each_v_raises_our_level_and_not_the_dependencies() {
        let at = |role, v| level_of(&default_directives(role, v), "bridge");
        assert_eq!(at(Role::Command, 1), "info");
        assert_eq!(at(Role::Command, 2), "debug");
        assert_eq!(at(Role::Command, 3), "trace");
        assert_eq!(at(Role::Command, 9), "trace");
        assert_eq!(at(Role::Daemon, 1), "info");
        assert_eq!(at(Role::Daemon, 2), "debug");
        assert_eq!(
            level_of(&default_directives(Role::Command, 3), "hyper"),
            "warn"
        );
    }
}
