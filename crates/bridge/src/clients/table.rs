//! The table of agents: one row per agent with its config file per OS, the
//! key its servers live under, the entry shape it understands and how to tell
//! it is installed. Paths are pure functions of ([`Os`], [`Dirs`]) so all three
//! operating systems are tested on any of them.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// The operating systems whose config layouts we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    MacOs,
    Windows,
    Linux,
}

impl Os {
    /// The OS this binary was built for. Other Unixes use the Linux layout,
    /// which is what the agents themselves do there.
    pub fn current() -> Self {
        if cfg!(target_os = "macos") {
            Self::MacOs
        } else if cfg!(windows) {
            Self::Windows
        } else {
            Self::Linux
        }
    }
}

/// The user folders agent config paths hang off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    /// The home directory.
    pub home: PathBuf,
    /// `$XDG_CONFIG_HOME`, else `~/.config` (Linux; Zed uses it on macOS too).
    pub xdg_config: PathBuf,
    /// `%APPDATA%` (the roaming profile folder), Windows only.
    pub appdata: Option<PathBuf>,
}

impl Dirs {
    /// The folders of the current user, from the environment.
    pub fn detect() -> Self {
        let home = crate::paths::home_dir();
        // `dirs::config_dir` honours XDG_CONFIG_HOME on Linux only; on macOS it
        // is Application Support, which is not what Zed reads.
        let xdg_config = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| home.join(".config"));
        let appdata = if cfg!(windows) {
            dirs::config_dir()
        } else {
            None
        };
        Self {
            home,
            xdg_config,
            appdata,
        }
    }

    fn appdata_or_default(&self) -> PathBuf {
        self.appdata
            .clone()
            .unwrap_or_else(|| self.home.join("AppData").join("Roaming"))
    }
}

/// How an agent wants our server described.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryShape {
    /// `{"command": "<abs path>", "args": ["stdio", "--agent", "<id>"]}`: the
    /// agent launches the shim (Claude Desktop ignores or chokes on URLs).
    Stdio,
    /// `{"type": "http", "url": …, "headers": {…}}`.
    TypedHttp,
    /// `{"serverUrl": …, "headers": {…}}` (Windsurf).
    ServerUrl,
    /// `{"url": …, "headers": {…}}` (Zed).
    Url,
}

impl EntryShape {
    /// Whether the entry carries the agent's client token in a header.
    pub fn uses_token(self) -> bool {
        !matches!(self, Self::Stdio)
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Agent {
    /// The name used on the command line (a contract: never rename).
    pub id: &'static str,
    pub display_name: &'static str,
    /// The object in the config file our entry lives in.
    pub servers_key: &'static str,
    pub shape: EntryShape,
    /// Executables whose presence on `PATH` means the agent is installed.
    pub binaries: &'static [&'static str],
}

/// Our entry's name in every agent's server map.
pub const ENTRY_NAME: &str = "coder";

pub const AGENTS: &[Agent] = &[
    Agent {
        id: "claude-desktop",
        display_name: "Claude Desktop",
        servers_key: "mcpServers",
        shape: EntryShape::Stdio,
        binaries: &[],
    },
    Agent {
        id: "cursor",
        display_name: "Cursor",
        servers_key: "mcpServers",
        shape: EntryShape::TypedHttp,
        binaries: &["cursor"],
    },
    Agent {
        id: "vscode",
        display_name: "VS Code",
        servers_key: "servers",
        shape: EntryShape::TypedHttp,
        binaries: &["code"],
    },
    Agent {
        id: "windsurf",
        display_name: "Windsurf",
        servers_key: "mcpServers",
        shape: EntryShape::ServerUrl,
        binaries: &["windsurf"],
    },
    Agent {
        id: "claude-code",
        display_name: "Claude Code",
        servers_key: "mcpServers",
        shape: EntryShape::TypedHttp,
        binaries: &["claude"],
    },
    Agent {
        id: "zed",
        display_name: "Zed",
        servers_key: "context_servers",
        shape: EntryShape::Url,
        binaries: &["zed", "zeditor"],
    },
];

/// The user-level config file `agent` reads on `os`.
pub fn config_path(agent: &Agent, os: Os, dirs: &Dirs) -> PathBuf {
    let home = &dirs.home;
    let app_support = || home.join("Library").join("Application Support");
    match (agent.id, os) {
        ("claude-desktop", Os::MacOs) => app_support()
            .join("Claude")
            .join("claude_desktop_config.json"),
        ("claude-desktop", Os::Windows) => dirs
            .appdata_or_default()
            .join("Claude")
            .join("claude_desktop_config.json"),
        ("claude-desktop", Os::Linux) => dirs
            .xdg_config
            .join("Claude")
            .join("claude_desktop_config.json"),
        ("vscode", Os::MacOs) => app_support().join("Code").join("User").join("mcp.json"),
        ("vscode", Os::Windows) => dirs
            .appdata_or_default()
            .join("Code")
            .join("User")
            .join("mcp.json"),
        ("vscode", Os::Linux) => dirs.xdg_config.join("Code").join("User").join("mcp.json"),
        ("windsurf", _) => home
            .join(".codeium")
            .join("windsurf")
            .join("mcp_config.json"),
        ("claude-code", _) => home.join(".claude.json"),
        // Zed reads ~/.config/zed on macOS as well (it does not use
        // Application Support), %APPDATA%\Zed on Windows.
        ("zed", Os::Windows) => dirs.appdata_or_default().join("Zed").join("settings.json"),
        ("zed", Os::MacOs) => home.join(".config").join("zed").join("settings.json"),
        ("zed", Os::Linux) => dirs.xdg_config.join("zed").join("settings.json"),
        // Cursor, and any row added without a special case: ~/.<id>/mcp.json.
        (id, _) => home.join(format!(".{id}")).join("mcp.json"),
    }
}

/// Folders or files whose existence means the agent has been run here.
pub fn install_markers(agent: &Agent, os: Os, dirs: &Dirs) -> Vec<PathBuf> {
    match agent.id {
        // Its config file sits in the home folder itself, which always
        // exists; its own folder and file are the tell.
        "claude-code" => vec![dirs.home.join(".claude"), dirs.home.join(".claude.json")],
        "vscode" => {
            // `Code/User` is created on first run; `~/.vscode` holds extensions.
            let user = config_path(agent, os, dirs);
            let mut markers: Vec<PathBuf> =
                user.parent().map(Path::to_path_buf).into_iter().collect();
            markers.push(dirs.home.join(".vscode"));
            markers
        }
        _ => config_path(agent, os, dirs)
            .parent()
            .map(Path::to_path_buf)
            .into_iter()
            .collect(),
    }
}

/// Whether `name` is an executable file in one of the `PATH` folders.
pub fn on_path(name: &str, path_var: Option<&std::ffi::OsStr>) -> bool {
    let Some(path_var) = path_var else {
        return false;
    };
    let candidates: &[&str] = if cfg!(windows) {
        &["", ".exe", ".cmd", ".bat"]
    } else {
        &[""]
    };
    std::env::split_paths(path_var).any(|dir| {
        candidates
            .iter()
            .any(|ext| is_executable(&dir.join(format!("{name}{ext}"))))
    })
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs() -> Dirs {
        Dirs {
            home: PathBuf::from("/home/ana maría"),
            xdg_config: PathBuf::from("/home/ana maría/.config"),
            appdata: Some(PathBuf::from("/c/Users/ana/AppData/Roaming")),
        }
    }

    fn path(id: &str, os: Os) -> String {
        let agent = AGENTS.iter().find(|a| a.id == id).expect("known agent");
        config_path(agent, os, &dirs())
            .to_string_lossy()
            .replace('\\', "/")
    }

    #[test]
    fn agent_names_are_the_cli_contract() {
        let ids: Vec<_> = AGENTS.iter().map(|a| a.id).collect();
        assert_eq!(
            ids,
            [
                "claude-desktop",
                "cursor",
                "vscode",
                "windsurf",
                "claude-code",
                "zed"
            ]
        );
    }

    #[test]
    fn macos_paths() {
        let lib = "/home/ana maría/Library/Application Support";
        assert_eq!(
            path("claude-desktop", Os::MacOs),
            format!("{lib}/Claude/claude_desktop_config.json")
        );
        assert_eq!(
            path("cursor", Os::MacOs),
            "/home/ana maría/.cursor/mcp.json"
        );
        assert_eq!(
            path("vscode", Os::MacOs),
            format!("{lib}/Code/User/mcp.json")
        );
        assert_eq!(
            path("windsurf", Os::MacOs),
            "/home/ana maría/.codeium/windsurf/mcp_config.json"
        );
        assert_eq!(
            path("claude-code", Os::MacOs),
            "/home/ana maría/.claude.json"
        );
        assert_eq!(
            path("zed", Os::MacOs),
            "/home/ana maría/.config/zed/settings.json"
        );
    }

    #[test]
    fn windows_paths() {
        let roaming = "/c/Users/ana/AppData/Roaming";
        assert_eq!(
            path("claude-desktop", Os::Windows),
            format!("{roaming}/Claude/claude_desktop_config.json")
        );
        assert_eq!(
            path("cursor", Os::Windows),
            "/home/ana maría/.cursor/mcp.json"
        );
        assert_eq!(
            path("vscode", Os::Windows),
            format!("{roaming}/Code/User/mcp.json")
        );
        assert_eq!(
            path("windsurf", Os::Windows),
            "/home/ana maría/.codeium/windsurf/mcp_config.json"
        );
        assert_eq!(
            path("claude-code", Os::Windows),
            "/home/ana maría/.claude.json"
        );
        assert_eq!(
            path("zed", Os::Windows),
            format!("{roaming}/Zed/settings.json")
        );
    }

    #[test]
    fn windows_without_appdata_falls_back_to_the_profile() {
        let mut d = dirs();
        d.appdata = None;
        let agent = &AGENTS[0];
        let p = config_path(agent, Os::Windows, &d);
        assert!(
            p.starts_with("/home/ana maría/AppData/Roaming/Claude"),
            "{p:?}"
        );
    }

    #[test]
    fn linux_paths_follow_xdg_config_home() {
        let mut d = dirs();
        d.xdg_config = PathBuf::from("/xdg/cfg");
        let p = |id: &str| {
            let agent = AGENTS.iter().find(|a| a.id == id).expect("known agent");
            config_path(agent, Os::Linux, &d)
        };
        assert_eq!(
            p("claude-desktop"),
            Path::new("/xdg/cfg/Claude/claude_desktop_config.json")
        );
        assert_eq!(p("cursor"), Path::new("/home/ana maría/.cursor/mcp.json"));
        assert_eq!(p("vscode"), Path::new("/xdg/cfg/Code/User/mcp.json"));
        assert_eq!(
            p("windsurf"),
            Path::new("/home/ana maría/.codeium/windsurf/mcp_config.json")
        );
        assert_eq!(p("claude-code"), Path::new("/home/ana maría/.claude.json"));
        assert_eq!(p("zed"), Path::new("/xdg/cfg/zed/settings.json"));
    }

    #[test]
    fn markers_point_at_agent_folders() {
        let claude_code = AGENTS.iter().find(|a| a.id == "claude-code").expect("row");
        let markers = install_markers(claude_code, Os::Linux, &dirs());
        assert!(
            !markers.contains(&dirs().home),
            "the home folder always exists"
        );
        let cursor = AGENTS.iter().find(|a| a.id == "cursor").expect("row");
        assert_eq!(
            install_markers(cursor, Os::Linux, &dirs()),
            vec![PathBuf::from("/home/ana maría/.cursor")]
        );
    }

    #[cfg(unix)]
    #[test]
    fn on_path_finds_only_executables() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let exe = dir.path().join("zed");
        std::fs::write(&exe, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::write(dir.path().join("code"), "not executable").expect("write");
        let var = std::env::join_paths([dir.path()]).expect("join");
        assert!(on_path("zed", Some(&var)));
        assert!(!on_path("code", Some(&var)));
        assert!(!on_path("cursor", Some(&var)));
        assert!(!on_path("zed", None));
    }
}
