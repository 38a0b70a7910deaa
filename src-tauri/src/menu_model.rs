//! What the tray shows, as plain data: [`tray_menu_model`] turns the core's
//! state into the icon and the menu's items, and [`crate::tray`] renders that
//! into Tauri. Keeping the decision pure means every state's menu is checked
//! by unit tests without a display.

use bridge::relay::RelayStatus;

/// The relay's state as the status reports it (`relay.state`), with the
/// error's text where there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayState {
    Connected,
    Connecting,
    SignedOut,
    Error(String),
}

impl RelayState {
    /// From the status view's `relay.state` / `relay.error`.
    pub fn from_view(state: &RelayStatus, error: Option<&str>) -> Self {
        match state {
            RelayStatus::Connected => Self::Connected,
            RelayStatus::Connecting => Self::Connecting,
            RelayStatus::SignedOut => Self::SignedOut,
            RelayStatus::Error => {
                Self::Error(error.unwrap_or("the relay reported an error").to_owned())
            }
        }
    }
}

/// One agent the core knows how to configure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentItem {
    /// The core's name (`claude-desktop`, `cursor`, ...).
    pub name: String,
    pub display_name: String,
    /// The agent looks installed here; installed agents are listed first.
    pub installed: bool,
    pub configured: bool,
}

/// Everything the tray needs to know, gathered from the core's handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreState {
    /// The core could not start (port taken, unreadable config): nothing else
    /// below is meaningful.
    pub start_error: Option<String>,
    pub signed_in: bool,
    pub username: Option<String>,
    pub deployment: Option<String>,
    pub relay: RelayState,
    /// The stored session ended and could not be renewed.
    pub session_expired: bool,
    pub pending_consent: usize,
    pub agents: Vec<AgentItem>,
    /// Whether the app is registered to start at login (`None`: unknown,
    /// the autostart backend failed).
    pub autostart: Option<bool>,
    /// "Pause relay" is on: the core refuses every tool call until resumed.
    pub paused: bool,
}

impl CoreState {
    /// Before the first status arrives, or when the core failed to start.
    pub fn starting() -> Self {
        Self {
            start_error: None,
            signed_in: false,
            username: None,
            deployment: None,
            relay: RelayState::Connecting,
            session_expired: false,
            pending_consent: 0,
            agents: Vec::new(),
            autostart: None,
            paused: false,
        }
    }
}

/// The four tray icons (drawn by `scripts/gen-icons.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IconState {
    SignedOut,
    Connected,
    WaitingForConsent,
    Error,
}

/// What choosing an item asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    SignIn,
    SignOut,
    OpenDashboard,
    /// Configure the agent when unconfigured, remove our entry when configured.
    ToggleAgent {
        name: String,
        configured: bool,
    },
    ToggleAutostart {
        enabled: bool,
    },
    /// Flip the relay's pause switch; `paused` is the state the user saw.
    PauseRelay {
        paused: bool,
    },
    Quit,
}

/// One row of the menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A line of text that does nothing (the status line).
    Label {
        id: String,
        text: String,
    },
    Action {
        id: String,
        label: String,
        enabled: bool,
        /// `Some` renders a check item.
        checked: Option<bool>,
        action: Action,
    },
    Submenu {
        id: String,
        label: String,
        enabled: bool,
        items: Vec<Item>,
    },
    Separator,
}

impl Item {
    #[cfg(test)]
    pub fn id(&self) -> Option<&str> {
        match self {
            Self::Label { id, .. } | Self::Action { id, .. } | Self::Submenu { id, .. } => Some(id),
            Self::Separator => None,
        }
    }
}

/// The tray: icon, tooltip and menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuModel {
    pub icon: IconState,
    pub tooltip: String,
    pub items: Vec<Item>,
}

impl MenuModel {
    /// The action behind a clicked id, searching submenus too.
    pub fn action_for(&self, id: &str) -> Option<&Action> {
        fn find<'a>(items: &'a [Item], id: &str) -> Option<&'a Action> {
            items.iter().find_map(|item| match item {
                Item::Action {
                    id: item_id,
                    action,
                    ..
                } if item_id == id => Some(action),
                Item::Submenu { items, .. } => find(items, id),
                _ => None,
            })
        }
        find(&self.items, id)
    }
}

/// Ids of the fixed items (agent items are `agent:<name>`).
pub mod ids {
    pub const STATUS: &str = "status";
    pub const SIGN_IN: &str = "sign-in";
    pub const SIGN_OUT: &str = "sign-out";
    pub const OPEN_DASHBOARD: &str = "open-dashboard";
    pub const AGENTS: &str = "agents";
    pub const PAUSE: &str = "pause-relay";
    pub const AUTOSTART: &str = "autostart";
    pub const QUIT: &str = "quit";
    pub const AGENT_PREFIX: &str = "agent:";
}

/// Which icon the state calls for. A waiting consent request comes first:
/// an agent is blocked on the user right now.
pub fn icon_state(state: &CoreState) -> IconState {
    if state.start_error.is_some() {
        IconState::Error
    } else if state.pending_consent > 0 {
        IconState::WaitingForConsent
    } else if state.session_expired || matches!(state.relay, RelayState::Error(_)) {
        IconState::Error
    } else if state.signed_in {
        IconState::Connected
    } else {
        IconState::SignedOut
    }
}

fn status_line(state: &CoreState) -> String {
    if let Some(error) = &state.start_error {
        return format!("Not running: {error}");
    }
    if state.session_expired && !state.signed_in {
        return "Session expired — sign in again".to_owned();
    }
    if !state.signed_in {
        return "Signed out".to_owned();
    }
    let who = match (&state.username, &state.deployment) {
        (Some(user), Some(deployment)) => format!("{user} @ {}", host_of(deployment)),
        (None, Some(deployment)) => host_of(deployment),
        (Some(user), None) => user.clone(),
        (None, None) => "Signed in".to_owned(),
    };
    let mut line = match &state.relay {
        RelayState::Connected => who,
        RelayState::Connecting => format!("{who} (connecting…)"),
        RelayState::SignedOut => format!("{who} (not connected)"),
        RelayState::Error(error) => format!("{who} — {error}"),
    };
    if state.paused {
        line.push_str(" · paused");
    }
    if state.pending_consent > 0 {
        let n = state.pending_consent;
        line.push_str(&format!(
            " · {n} call{} waiting for you",
            if n == 1 { "" } else { "s" }
        ));
    }
    line
}

/// `https://coder.example.com/` → `coder.example.com` (the status line is short).
fn host_of(deployment: &str) -> String {
    match url::Url::parse(deployment) {
        Ok(url) => match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            _ => deployment.to_owned(),
        },
        Err(_) => deployment.to_owned(),
    }
}

/// The tray for a given core state.
pub fn tray_menu_model(state: &CoreState) -> MenuModel {
    let running = state.start_error.is_none();
    let status = status_line(state);
    let mut items = vec![
        Item::Label {
            id: ids::STATUS.to_owned(),
            text: status.clone(),
        },
        Item::Separator,
    ];
    items.push(if state.signed_in {
        action(ids::SIGN_OUT, "Sign out", running, None, Action::SignOut)
    } else {
        action(ids::SIGN_IN, "Sign in…", running, None, Action::SignIn)
    });
    let dashboard_label = if state.pending_consent > 0 {
        format!("Open dashboard ({} waiting)", state.pending_consent)
    } else {
        "Open dashboard".to_owned()
    };
    items.push(action(
        ids::OPEN_DASHBOARD,
        &dashboard_label,
        running,
        None,
        Action::OpenDashboard,
    ));
    // Installed agents first (the ones a user is likely to pick), each group
    // in the core's order.
    let mut listed: Vec<&AgentItem> = state.agents.iter().collect();
    listed.sort_by_key(|agent| !agent.installed);
    let agents: Vec<Item> = listed
        .into_iter()
        .map(|agent| {
            action(
                &format!("{}{}", ids::AGENT_PREFIX, agent.name),
                &agent.display_name,
                running,
                Some(agent.configured),
                Action::ToggleAgent {
                    name: agent.name.clone(),
                    configured: agent.configured,
                },
            )
        })
        .collect();
    items.push(Item::Submenu {
        id: ids::AGENTS.to_owned(),
        label: "Configure agents".to_owned(),
        enabled: running && !agents.is_empty(),
        items: agents,
    });
    items.push(Item::Separator);
    // A check item: checked while paused, so the same click resumes.
    items.push(action(
        ids::PAUSE,
        "Pause relay",
        running,
        Some(state.paused),
        Action::PauseRelay {
            paused: state.paused,
        },
    ));
    items.push(action(
        ids::AUTOSTART,
        "Start at login",
        state.autostart.is_some(),
        Some(state.autostart.unwrap_or(false)),
        Action::ToggleAutostart {
            enabled: state.autostart.unwrap_or(false),
        },
    ));
    items.push(Item::Separator);
    items.push(action(
        ids::QUIT,
        "Quit Coder Bridge",
        true,
        None,
        Action::Quit,
    ));
    MenuModel {
        icon: icon_state(state),
        tooltip: format!("Coder Bridge — {status}"),
        items,
    }
}

fn action(id: &str, label: &str, enabled: bool, checked: Option<bool>, action: Action) -> Item {
    Item::Action {
        id: id.to_owned(),
        label: label.to_owned(),
        enabled,
        checked,
        action,
    }
}

#[cfg(test)]
#[path = "menu_model_tests.rs"]
mod tests;
