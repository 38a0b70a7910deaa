//! Who answered a consent request or changed the policy: which face, with
//! which credential, and what the caller says about itself.
//!
//! Only the credential is proven. A browser session is ours to name (the
//! server made it); a control-token holder only *says* it is the CLI with
//! such a pid, and any process running as the user can read that token, an
//! agent with a shell included. So those answers are labelled as claimed,
//! and the faces show them apart: a prompt answered from the command line
//! may well have been answered by the agent itself.

use serde::{Deserialize, Serialize};

/// Longest process name kept (Linux's `comm` is at most 15 bytes).
const MAX_PROCESS_NAME: usize = 64;

/// The face that gave an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Face {
    /// The tray app's own dashboard window.
    Tray,
    /// The dashboard in a browser.
    Web,
    /// `coder-bridge` on the command line (or anything holding the control token that says so).
    Cli,
    /// A control-token holder that did not say what it is.
    Api,
    /// Code in the daemon's own process (embedders, tests).
    InProcess,
}

/// How the caller proved itself to the control API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Credential {
    /// The control token: readable by every process of the user.
    ControlToken,
    /// A dashboard session made from a one-time ticket.
    WebSession,
    /// No credential: a call inside the daemon's process.
    InProcess,
    /// No daemon was running: the policy file was written directly.
    File,
}

/// Who answered, as recorded and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnsweredBy {
    pub face: Face,
    pub credential: Credential,
    /// A short, non-secret id of the dashboard session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The process that answered, as it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Its parent process, as it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ppid: Option<u32>,
    /// The parent's name (`/proc/<ppid>/comm`), as it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// True when face and process come from the caller's own word.
    pub claimed: bool,
}

/// What a control-token caller says about itself (`"by"` in a request body).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaceClaim {
    pub face: Option<Face>,
    #[serde(default)]
    pub pid: Option<u32>,
    #[serde(default)]
    pub ppid: Option<u32>,
    #[serde(default)]
    pub parent: Option<String>,
}

impl FaceClaim {
    /// This process: its pid, its parent's pid and name (Linux; elsewhere the pids only).
    pub fn this_cli_process() -> Self {
        let ppid = parent_pid();
        Self {
            face: Some(Face::Cli),
            pid: Some(std::process::id()),
            ppid,
            parent: ppid.and_then(process_name),
        }
    }
}

impl AnsweredBy {
    /// Code in the daemon's process.
    pub fn in_process() -> Self {
        Self {
            face: Face::InProcess,
            credential: Credential::InProcess,
            session: None,
            pid: None,
            ppid: None,
            parent: None,
            claimed: false,
        }
    }

    /// A dashboard session (the server knows which; nothing is claimed).
    pub fn session(face: Face, session: impl Into<String>) -> Self {
        Self {
            face,
            credential: Credential::WebSession,
            session: Some(session.into()),
            ..Self::in_process()
        }
    }

    /// A control-token holder, with what it says about itself. Only the CLI
    /// or an unnamed caller can be claimed: the tray and web faces are
    /// sessions the server names itself.
    pub fn control_token(claim: Option<FaceClaim>) -> Self {
        let claim = claim.unwrap_or_default();
        let face = match claim.face {
            Some(Face::Cli) => Face::Cli,
            _ => Face::Api,
        };
        Self {
            face,
            credential: Credential::ControlToken,
            session: None,
            pid: claim.pid,
            ppid: claim.ppid,
            parent: claim.parent.as_deref().map(clean_name),
            claimed: true,
        }
    }

    /// The CLI writing the policy file itself (no daemon running).
    pub fn file_writer(claim: FaceClaim) -> Self {
        Self {
            credential: Credential::File,
            ..Self::control_token(Some(claim))
        }
    }

    /// True for answers any process of the user (an agent with a shell
    /// included) could have given: the faces show these apart.
    pub fn agent_reachable(&self) -> bool {
        matches!(self.credential, Credential::ControlToken | Credential::File)
    }

    /// "the dashboard (session 1a2b3c4d)", "the command line: pid 4242
    /// (claimed), parent 4200 bash".
    pub fn describe(&self) -> String {
        match self.face {
            Face::Tray => format!("the tray window (session {})", self.session_id()),
            Face::Web => format!("the dashboard (session {})", self.session_id()),
            Face::InProcess => "Coder Bridge itself".to_owned(),
            Face::Cli | Face::Api => {
                let who = if self.face == Face::Cli {
                    "the command line"
                } else {
                    "a holder of the control token"
                };
                let mut out = who.to_owned();
                if let Some(pid) = self.pid {
                    out.push_str(&format!(" by pid {pid}"));
                }
                match (self.ppid, self.parent.as_deref()) {
                    (Some(ppid), Some(name)) => out.push_str(&format!(" ({name}, pid {ppid})")),
                    (Some(ppid), None) => out.push_str(&format!(" (parent pid {ppid})")),
                    (None, Some(name)) => out.push_str(&format!(" ({name})")),
                    (None, None) => {}
                }
                out.push_str(", as it claims");
                out
            }
        }
    }

    fn session_id(&self) -> &str {
        self.session.as_deref().unwrap_or("?")
    }
}

/// A process name fit to show: printable, bounded.
fn clean_name(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(MAX_PROCESS_NAME)
        .collect()
}

#[cfg(unix)]
fn parent_pid() -> Option<u32> {
    Some(std::os::unix::process::parent_id())
}

#[cfg(not(unix))]
fn parent_pid() -> Option<u32> {
    None
}

/// `/proc/<pid>/comm` on Linux; `None` elsewhere or when it is gone.
fn process_name(pid: u32) -> Option<String> {
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let name = clean_name(&name);
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_control_token_caller_is_labelled_as_claimed() {
        let by = AnsweredBy::control_token(Some(FaceClaim {
            face: Some(Face::Tray),
            pid: Some(4242),
            ppid: Some(4200),
            parent: Some("bash\n".into()),
        }));
        assert_eq!(
            by.face,
            Face::Api,
            "a token holder cannot claim to be the tray"
        );
        assert!(by.claimed && by.agent_reachable());
        assert_eq!(by.parent.as_deref(), Some("bash"));
        let cli = AnsweredBy::control_token(Some(FaceClaim::this_cli_process()));
        assert_eq!(cli.face, Face::Cli);
        assert_eq!(cli.pid, Some(std::process::id()));
        assert!(
            cli.describe().starts_with("the command line by pid "),
            "{}",
            cli.describe()
        );
        assert!(cli.describe().ends_with(", as it claims"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_parent_process_is_named_from_proc() {
        let claim = FaceClaim::this_cli_process();
        let parent = claim.parent.expect("a parent with a comm");
        assert!(!parent.is_empty() && parent.len() <= 15, "{parent:?}");
    }

    #[test]
    fn sessions_are_not_claims() {
        let by = AnsweredBy::session(Face::Web, "1a2b3c4d");
        assert!(!by.claimed && !by.agent_reachable());
        assert_eq!(by.describe(), "the dashboard (session 1a2b3c4d)");
        let json = serde_json::to_value(&by).unwrap();
        assert_eq!(json["face"], "web");
        assert_eq!(json["credential"], "web_session");
        assert!(json.get("pid").is_none());
    }
}
