//! Where each agent's config file lives per OS and how to tell the agent is
//! installed. Paths are functions of ([`Os`], [`Dirs`]) so all three
//! operating systems are tested on any of them; only the VS Code extension
//! agents also look at which editor of the family has the extension.

use std::path::{Path, PathBuf};

use super::table::{Agent, Dirs, Os};

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
        ("gemini-cli", _) => home.join(".gemini").join("settings.json"),
        ("qwen-code", _) => home.join(".qwen").join("settings.json"),
        ("codex", _) => home.join(".codex").join("config.toml"),
        // opencode follows XDG on every OS (`~/.config` where it is unset).
        ("opencode", Os::Linux) => dirs.xdg_config.join("opencode").join("opencode.json"),
        ("opencode", _) => home.join(".config").join("opencode").join("opencode.json"),
        ("copilot-cli", _) => home.join(".copilot").join("mcp-config.json"),
        ("continue", _) => home.join(".continue").join("config.yaml"),
        ("goose", Os::Windows) => dirs
            .appdata_or_default()
            .join("Block")
            .join("goose")
            .join("config")
            .join("config.yaml"),
        ("goose", Os::MacOs) => home.join(".config").join("goose").join("config.yaml"),
        ("goose", Os::Linux) => dirs.xdg_config.join("goose").join("config.yaml"),
        ("cline" | "roo-code", _) => extension_settings(agent, os, dirs),
        ("lm-studio", _) => home.join(".lmstudio").join("mcp.json"),
        ("kiro", _) => home.join(".kiro").join("settings").join("mcp.json"),
        // Zed reads ~/.config/zed on macOS as well (it does not use
        // Application Support), %APPDATA%\Zed on Windows.
        ("zed", Os::Windows) => dirs.appdata_or_default().join("Zed").join("settings.json"),
        ("zed", Os::MacOs) => home.join(".config").join("zed").join("settings.json"),
        ("zed", Os::Linux) => dirs.xdg_config.join("zed").join("settings.json"),
        // Cursor, and any row added without a special case: ~/.<id>/mcp.json.
        (id, _) => home.join(format!(".{id}")).join("mcp.json"),
    }
}

/// Editors that run VS Code extensions, by the folder name of their user
/// data; an extension's global storage hangs off `<folder>/User`.
const VSCODE_FAMILY: &[&str] = &["Code", "Code - Insiders", "VSCodium", "Cursor", "Windsurf"];

/// The VS Code extension an agent lives in, and its settings file.
fn extension(agent: &Agent) -> Option<(&'static str, &'static str)> {
    match agent.id {
        "cline" => Some(("saoudrizwan.claude-dev", "cline_mcp_settings.json")),
        "roo-code" => Some(("rooveterinaryinc.roo-cline", "mcp_settings.json")),
        _ => None,
    }
}

fn vscode_user_dir(editor: &str, os: Os, dirs: &Dirs) -> PathBuf {
    let base = match os {
        Os::MacOs => dirs.home.join("Library").join("Application Support"),
        Os::Windows => dirs.appdata_or_default(),
        Os::Linux => dirs.xdg_config.clone(),
    };
    base.join(editor).join("User")
}

/// The extension's storage folder in each editor of the VS Code family.
fn extension_dirs(agent: &Agent, os: Os, dirs: &Dirs) -> Vec<PathBuf> {
    let Some((id, _)) = extension(agent) else {
        return Vec::new();
    };
    VSCODE_FAMILY
        .iter()
        .map(|editor| {
            vscode_user_dir(editor, os, dirs)
                .join("globalStorage")
                .join(id)
        })
        .collect()
}

/// An extension agent's settings file: in the first editor of the family
/// where the extension has stored anything, else in VS Code's (the
/// extension creates the same file there on first run).
fn extension_settings(agent: &Agent, os: Os, dirs: &Dirs) -> PathBuf {
    let file = extension(agent).map_or("mcp_settings.json", |(_, file)| file);
    let candidates = extension_dirs(agent, os, dirs);
    let dir = candidates
        .iter()
        .find(|d| d.is_dir())
        .or(candidates.first())
        .cloned()
        .unwrap_or_default();
    dir.join("settings").join(file)
}

/// Folders or files whose existence means the agent has been run here.
pub fn install_markers(agent: &Agent, os: Os, dirs: &Dirs) -> Vec<PathBuf> {
    match agent.id {
        "cline" | "roo-code" => extension_dirs(agent, os, dirs),
        "kiro" => vec![dirs.home.join(".kiro")],
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
    use crate::clients::table::AGENTS;

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
                "zed",
                "gemini-cli",
                "qwen-code",
                "codex",
                "opencode",
                "copilot-cli",
                "continue",
                "goose",
                "cline",
                "roo-code",
                "lm-studio",
                "kiro",
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

    #[test]
    fn new_agents_paths() {
        let h = "/home/ana maría";
        assert_eq!(
            path("gemini-cli", Os::Linux),
            format!("{h}/.gemini/settings.json")
        );
        assert_eq!(
            path("qwen-code", Os::Windows),
            format!("{h}/.qwen/settings.json")
        );
        assert_eq!(path("codex", Os::MacOs), format!("{h}/.codex/config.toml"));
        assert_eq!(
            path("opencode", Os::Linux),
            format!("{h}/.config/opencode/opencode.json")
        );
        assert_eq!(
            path("opencode", Os::Windows),
            format!("{h}/.config/opencode/opencode.json")
        );
        assert_eq!(
            path("copilot-cli", Os::Linux),
            format!("{h}/.copilot/mcp-config.json")
        );
        assert_eq!(
            path("continue", Os::MacOs),
            format!("{h}/.continue/config.yaml")
        );
        assert_eq!(
            path("goose", Os::MacOs),
            format!("{h}/.config/goose/config.yaml")
        );
        assert_eq!(
            path("goose", Os::Windows),
            "/c/Users/ana/AppData/Roaming/Block/goose/config/config.yaml"
        );
        assert_eq!(
            path("lm-studio", Os::Linux),
            format!("{h}/.lmstudio/mcp.json")
        );
        assert_eq!(
            path("kiro", Os::Linux),
            format!("{h}/.kiro/settings/mcp.json")
        );
        assert_eq!(
            path("cline", Os::Linux),
            format!(
                "{h}/.config/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json"
            )
        );
        assert_eq!(
            path("roo-code", Os::MacOs),
            format!(
                "{h}/Library/Application Support/Code/User/globalStorage/rooveterinaryinc.roo-cline/settings/mcp_settings.json"
            )
        );
    }

    #[test]
    fn extension_agents_follow_the_editor_that_has_them() {
        let root = tempfile::tempdir().expect("tempdir");
        let d = Dirs {
            home: root.path().to_path_buf(),
            xdg_config: root.path().join(".config"),
            appdata: None,
        };
        let cline = AGENTS.iter().find(|a| a.id == "cline").expect("row");
        let in_cursor = root
            .path()
            .join(".config/Cursor/User/globalStorage/saoudrizwan.claude-dev");
        std::fs::create_dir_all(&in_cursor).expect("mkdir");
        assert_eq!(
            config_path(cline, Os::Linux, &d),
            in_cursor.join("settings").join("cline_mcp_settings.json")
        );
        assert!(install_markers(cline, Os::Linux, &d).contains(&in_cursor));
    }
}
