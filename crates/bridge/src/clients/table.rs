//! The table of agents: one row per agent with the file format it reads, the
//! key its servers live under, the entry shape it understands and how to tell
//! it is installed. Where each row's file lives is in [`super::locate`].

use std::path::PathBuf;

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

    pub(crate) fn appdata_or_default(&self) -> PathBuf {
        self.appdata
            .clone()
            .unwrap_or_else(|| self.home.join("AppData").join("Roaming"))
    }
}

/// How an agent wants our server described. Every HTTP shape sends the
/// agent's client token as `Authorization: Bearer …`; agents that cannot send
/// headers get the stdio shim instead.
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
    /// `{"url": …, "headers": {…}}` (Zed, LM Studio, Kiro).
    Url,
    /// `{"httpUrl": …, "headers": {…}}`: Gemini CLI and its fork Qwen Code,
    /// where a plain `url` would mean the older SSE transport.
    HttpUrl,
    /// `{"type": "remote", "url": …, "headers": {…}, "enabled": true}` (opencode).
    Remote,
    /// `{"type": "http", "url": …, "headers": {…}, "tools": ["*"]}`: Copilot
    /// CLI exposes only the tools an entry lists.
    CopilotHttp,
    /// `url` and `http_headers` in a TOML table (Codex; it ignores `headers`).
    CodexHttp,
    /// A Goose extension: `type: streamable_http`, `uri`, `headers`, `enabled`.
    GooseHttp,
    /// An item of Continue's `mcpServers` list: `name`, `type:
    /// streamable-http`, `url`, headers under `requestOptions`.
    ContinueHttp,
    /// `{"type": "streamableHttp", "url": …, "headers": {…}, "disabled": false}`
    /// (Cline; without the type a URL means SSE).
    ClineHttp,
    /// `{"type": "streamable-http", "url": …, "headers": {…}}` (Roo Code).
    RooHttp,
}

impl EntryShape {
    /// Whether the entry carries the agent's client token in a header.
    pub fn uses_token(self) -> bool {
        !matches!(self, Self::Stdio)
    }
}

/// The syntax of an agent's config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// JSON with comments and trailing commas (what the agents accept).
    Json,
    /// TOML; our entry is the table `[<servers_key>.<name>]`.
    Toml,
    /// YAML; our entry is `<servers_key>.<name>` in a mapping.
    Yaml,
    /// YAML where `<servers_key>` is a list of entries told apart by their
    /// `name` key (Continue).
    YamlList,
}

impl Format {
    /// The file extension golden files and messages use.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Toml => "toml",
            Self::Yaml | Self::YamlList => "yaml",
        }
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
    pub format: Format,
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
        format: Format::Json,
        shape: EntryShape::Stdio,
        binaries: &[],
    },
    Agent {
        id: "cursor",
        display_name: "Cursor",
        servers_key: "mcpServers",
        format: Format::Json,
        shape: EntryShape::TypedHttp,
        binaries: &["cursor"],
    },
    Agent {
        id: "vscode",
        display_name: "VS Code",
        servers_key: "servers",
        format: Format::Json,
        shape: EntryShape::TypedHttp,
        binaries: &["code"],
    },
    Agent {
        id: "windsurf",
        display_name: "Windsurf",
        servers_key: "mcpServers",
        format: Format::Json,
        shape: EntryShape::ServerUrl,
        binaries: &["windsurf"],
    },
    Agent {
        id: "claude-code",
        display_name: "Claude Code",
        servers_key: "mcpServers",
        format: Format::Json,
        shape: EntryShape::TypedHttp,
        binaries: &["claude"],
    },
    Agent {
        id: "zed",
        display_name: "Zed",
        servers_key: "context_servers",
        format: Format::Json,
        shape: EntryShape::Url,
        binaries: &["zed", "zeditor"],
    },
    Agent {
        id: "gemini-cli",
        display_name: "Gemini CLI",
        servers_key: "mcpServers",
        format: Format::Json,
        shape: EntryShape::HttpUrl,
        binaries: &["gemini"],
    },
    Agent {
        id: "qwen-code",
        display_name: "Qwen Code",
        servers_key: "mcpServers",
        format: Format::Json,
        shape: EntryShape::HttpUrl,
        binaries: &["qwen"],
    },
    Agent {
        id: "codex",
        display_name: "OpenAI Codex CLI",
        servers_key: "mcp_servers",
        format: Format::Toml,
        shape: EntryShape::CodexHttp,
        binaries: &["codex"],
    },
    Agent {
        id: "opencode",
        display_name: "opencode",
        servers_key: "mcp",
        format: Format::Json,
        shape: EntryShape::Remote,
        binaries: &["opencode"],
    },
    Agent {
        id: "copilot-cli",
        display_name: "GitHub Copilot CLI",
        servers_key: "mcpServers",
        format: Format::Json,
        shape: EntryShape::CopilotHttp,
        binaries: &["copilot"],
    },
    Agent {
        id: "continue",
        display_name: "Continue",
        servers_key: "mcpServers",
        format: Format::YamlList,
        shape: EntryShape::ContinueHttp,
        binaries: &["cn"],
    },
    Agent {
        id: "goose",
        display_name: "Goose",
        servers_key: "extensions",
        format: Format::Yaml,
        shape: EntryShape::GooseHttp,
        binaries: &["goose"],
    },
    Agent {
        id: "cline",
        display_name: "Cline",
        servers_key: "mcpServers",
        format: Format::Json,
        shape: EntryShape::ClineHttp,
        binaries: &[],
    },
    Agent {
        id: "roo-code",
        display_name: "Roo Code",
        servers_key: "mcpServers",
        format: Format::Json,
        shape: EntryShape::RooHttp,
        binaries: &[],
    },
    Agent {
        id: "lm-studio",
        display_name: "LM Studio",
        servers_key: "mcpServers",
        format: Format::Json,
        shape: EntryShape::Url,
        binaries: &["lms"],
    },
    Agent {
        id: "kiro",
        display_name: "Kiro",
        servers_key: "mcpServers",
        format: Format::Json,
        shape: EntryShape::Url,
        binaries: &["kiro"],
    },
];
