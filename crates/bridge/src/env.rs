//! Every environment variable the program reads, in one place.
//!
//! The README's "Environment" table is generated from (and must match) this
//! list. Paths follow the platform conventions through [`crate::paths`]; the
//! XDG variables (`XDG_CONFIG_HOME`, `XDG_DATA_HOME`, `XDG_STATE_HOME`,
//! `XDG_RUNTIME_DIR`) and `HOME` are honoured there, not listed here.

/// Command used to open the sign-in page instead of the platform opener.
pub const BROWSER: &str = "BROWSER";
/// `tracing` filter for logs, e.g. `coder_bridge=debug,bridge=debug`.
pub const LOG: &str = "CODER_BRIDGE_LOG";
/// Set and not empty: no colour codes in logs, even on a terminal
/// (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";
/// `tracing` filter for the standalone `coder-sim` binary (default `info`).
/// That crate cannot depend on this one, so it spells the name itself.
pub const SIM_LOG: &str = "CODER_SIM_LOG";
/// Overrides the daemon's local port over the `port` setting (see
/// [`crate::settings::port`]; default [`crate::paths::DEFAULT_PORT`]).
pub const PORT: &str = "CODER_BRIDGE_PORT";
/// Secret of the OAuth2 app given with `coder-bridge login --client-id`, for
/// scripts: unlike `--client-secret S` it is not shown to other processes.
pub const CLIENT_SECRET: &str = "CODER_BRIDGE_CLIENT_SECRET";
/// `file` forces the 0600 file secret store; `keyring` forces the OS keychain.
pub const SECRET_STORE: &str = "CODER_BRIDGE_SECRET_STORE";
/// Seconds a call waits for the user's consent before it is denied (default 120).
pub const CONSENT_TIMEOUT: &str = "CODER_BRIDGE_CONSENT_TIMEOUT";
/// Searched for agents' executables (`cursor`, `code`, `claude`, `gemini`, `codex`, …)
/// to tell whether an agent is installed (`coder-bridge agents`, `configure --all`).
pub const PATH: &str = "PATH";
/// Caps the activity database at this many MiB (default: no cap beyond the
/// row and age limits). Past the cap writes fail as on a full disk: calls
/// still go through and rows are held for a retry until retention frees room.
pub const ACTIVITY_MAX_MB: &str = "CODER_BRIDGE_ACTIVITY_MAX_MB";
/// X11 display; with [`WAYLAND_DISPLAY`] it tells whether a browser can be
/// opened for an automatic sign-in on Linux (see `auth::browser_unavailable`).
pub const DISPLAY: &str = "DISPLAY";
/// Wayland display; see [`DISPLAY`].
pub const WAYLAND_DISPLAY: &str = "WAYLAND_DISPLAY";
/// The https URL of a client metadata document (SEP-991) to sign in with
/// as the OAuth2 client_id, where the authorization server accepts that;
/// `login --client-metadata-url` sets it for one sign-in.
pub const CLIENT_METADATA_URL: &str = "CODER_BRIDGE_CLIENT_METADATA_URL";
/// Proxy for plain-http requests to a deployment (only the lower-case name:
/// under CGI the upper-case one can come from a request header). Never used
/// for loopback addresses.
pub const HTTP_PROXY: &str = "http_proxy";
/// Proxy for https requests to a deployment (also `HTTPS_PROXY`).
pub const HTTPS_PROXY: &[&str] = &["https_proxy", "HTTPS_PROXY"];
/// Proxy for both, when the specific one is unset (also `ALL_PROXY`).
pub const ALL_PROXY: &[&str] = &["all_proxy", "ALL_PROXY"];
/// Hosts reached without a proxy, comma-separated (also `NO_PROXY`);
/// loopback addresses always are.
pub const NO_PROXY: &[&str] = &["no_proxy", "NO_PROXY"];
