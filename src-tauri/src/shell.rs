//! The link between the core and the tray: gathers [`CoreState`] from the
//! bridge handle whenever the core pushes an event, re-renders the tray,
//! raises notifications, and turns menu actions into core commands.

use std::sync::Mutex;

use bridge::supervisor::{BridgeEvent, BridgeHandle, StatusView};
use tauri::{AppHandle, Manager};
use tauri_plugin_autostart::ManagerExt as _;
use tauri_plugin_notification::NotificationExt as _;
use tokio::sync::broadcast;

use crate::menu_model::{Action, AgentItem, CoreState, MenuModel, RelayState, tray_menu_model};
use crate::notices::{self, Notice};

/// Managed Tauri state: the running core (if it started) and what the tray
/// shows now.
#[derive(Debug)]
pub struct Shell {
    pub bridge: Option<BridgeHandle>,
    state: Mutex<CoreState>,
    model: Mutex<MenuModel>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shell {
    pub fn new(bridge: Option<BridgeHandle>, state: CoreState) -> Self {
        let model = tray_menu_model(&state);
        Self {
            bridge,
            state: Mutex::new(state),
            model: Mutex::new(model),
        }
    }

    pub fn model(&self) -> MenuModel {
        lock(&self.model).clone()
    }

    pub fn state(&self) -> CoreState {
        lock(&self.state).clone()
    }

    /// The action behind a clicked menu id in the menu the user saw.
    pub fn action_for(&self, id: &str) -> Option<Action> {
        lock(&self.model).action_for(id).cloned()
    }

    /// Stores a new state; returns the model when it differs from the shown one.
    fn update(&self, state: CoreState) -> Option<MenuModel> {
        let model = tray_menu_model(&state);
        *lock(&self.state) = state;
        let mut shown = lock(&self.model);
        if *shown == model {
            return None;
        }
        *shown = model.clone();
        Some(model)
    }
}

/// Reads everything the tray shows from the core. Agent listing failures
/// leave the submenu empty rather than hiding the rest.
pub async fn gather(app: &AppHandle, bridge: &BridgeHandle) -> CoreState {
    let status = bridge.status().await;
    let agents = match bridge.agents().await {
        Ok(agents) => agents
            .into_iter()
            .map(|a| AgentItem {
                name: a.name,
                display_name: a.display_name,
                installed: a.installed,
                configured: a.configured,
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the agents for the tray menu");
            Vec::new()
        }
    };
    state_from(
        &status,
        agents,
        bridge.consent_pending().len(),
        autostart(app),
    )
}

fn state_from(
    status: &StatusView,
    agents: Vec<AgentItem>,
    pending_consent: usize,
    autostart: Option<bool>,
) -> CoreState {
    CoreState {
        start_error: None,
        signed_in: status.signed_in,
        username: status.user.as_ref().map(|u| u.username.clone()),
        deployment: status.deployment.clone(),
        relay: RelayState::from_view(&status.relay.state, status.relay.error.as_deref()),
        session_expired: status.session_expired,
        pending_consent,
        agents,
        autostart,
        paused: status.paused,
    }
}

fn autostart(app: &AppHandle) -> Option<bool> {
    match app.autolaunch().is_enabled() {
        Ok(enabled) => Some(enabled),
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the autostart setting");
            None
        }
    }
}

/// Re-reads the core and re-renders the tray when anything changed.
pub async fn refresh(app: &AppHandle) {
    let shell = app.state::<Shell>();
    let Some(bridge) = shell.bridge.clone() else {
        return;
    };
    let state = gather(app, &bridge).await;
    if let Some(model) = shell.update(state) {
        crate::tray::render(app, &model);
    }
}

/// Follows the core's broadcast until it closes: every event re-renders the
/// tray (no polling), consent requests and an expired session notify.
pub async fn follow(
    app: AppHandle,
    bridge: BridgeHandle,
    mut rx: broadcast::Receiver<BridgeEvent>,
) {
    refresh(&app).await;
    loop {
        let event = tokio::select! {
            () = bridge.cancelled() => return,
            event = rx.recv() => event,
        };
        match event {
            Ok(BridgeEvent::Consent(view)) => {
                if view.kind == "added"
                    && let Some(request) = &view.request
                {
                    notify(&app, notices::consent_waiting(request));
                }
                if let (Some(by), Some(request)) = (&view.by, &view.request)
                    && let Some(notice) = notices::answered_from_outside(by, &request.tool)
                {
                    notify(&app, notice);
                }
            }
            Ok(BridgeEvent::Status(status)) => {
                let was_expired = app.state::<Shell>().state().session_expired;
                if let Some(notice) = notices::session_expired(was_expired, status.session_expired)
                {
                    notify(&app, notice);
                }
            }
            // Finished calls change nothing the tray shows.
            Ok(BridgeEvent::Call(_)) => continue,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::debug!(
                    missed = n,
                    "the tray fell behind the core's events; re-reading"
                );
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
        refresh(&app).await;
    }
}

fn notify(app: &AppHandle, notice: Notice) {
    // No notification daemon (CI, minimal desktops) is not an error worth
    // more than a log line: the tray icon and the window show the same.
    tracing::debug!(title = %notice.title, "notification");
    let shown = app
        .notification()
        .builder()
        .title(notice.title)
        .body(notice.body)
        .show();
    if let Err(e) = shown {
        tracing::warn!(error = %e, "cannot show a notification");
    }
}

/// Carries out a menu action. Core commands run on the async runtime so the
/// menu's event handler returns at once.
pub fn perform(app: &AppHandle, action: Action) {
    match action {
        Action::OpenDashboard | Action::SignIn => crate::window::show_dashboard(app),
        Action::Quit => app.exit(0),
        Action::PauseRelay { paused } => with_bridge(app, move |bridge| async move {
            // The core emits a status event; the menu redraws from it.
            bridge.set_paused(!paused).await;
        }),
        Action::ToggleAutostart { enabled } => {
            let manager = app.autolaunch();
            let result = if enabled {
                manager.disable()
            } else {
                manager.enable()
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "cannot change the autostart setting");
            }
            let app = app.clone();
            tauri::async_runtime::spawn(async move { refresh(&app).await });
        }
        Action::SignOut => with_bridge(app, |bridge| async move {
            if let Err(e) = bridge.sign_out().await {
                tracing::warn!(error = %e, "sign-out failed");
            }
        }),
        Action::ToggleAgent { name, configured } => with_bridge(app, move |bridge| async move {
            let result = if configured {
                bridge.unconfigure(&name).await.map(|_| ())
            } else {
                bridge.configure(&name, false).await.map(|_| ())
            };
            if let Err(e) = result {
                tracing::warn!(agent = %name, error = %e, "cannot change the agent's configuration");
            }
        }),
    }
}

/// Runs a core command, then re-reads the core (the agent list has no event
/// of its own for every change, and an unchanged state renders nothing).
fn with_bridge<F, Fut>(app: &AppHandle, command: F)
where
    F: FnOnce(BridgeHandle) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let Some(bridge) = app.state::<Shell>().bridge.clone() else {
        return;
    };
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        command(bridge).await;
        refresh(&app).await;
    });
}
