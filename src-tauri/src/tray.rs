//! The tray icon and its menu.
//!
//! The menu is described as data ([`ENTRIES`]) and built from it, so what the
//! menu offers and what each entry does are checked in one place (and the
//! state-dependent menu of the real tray app can grow from the same shape).

use tauri::AppHandle;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;

/// What a menu entry does when chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    OpenDashboard,
    Quit,
}

/// One menu entry: its stable id (what Tauri hands back on a click), its label
/// and its action. A `None` action is a separator.
#[derive(Debug)]
pub struct Entry {
    pub id: &'static str,
    pub label: &'static str,
    pub action: Option<Action>,
}

/// The menu, top to bottom.
pub const ENTRIES: &[Entry] = &[
    Entry {
        id: "open-dashboard",
        label: "Open dashboard",
        action: Some(Action::OpenDashboard),
    },
    Entry {
        id: "separator-quit",
        label: "",
        action: None,
    },
    Entry {
        id: "quit",
        label: "Quit Coder Bridge",
        action: Some(Action::Quit),
    },
];

/// The action behind a clicked menu id, if the id is one of ours.
pub fn action_for(id: &str) -> Option<Action> {
    ENTRIES.iter().find(|entry| entry.id == id)?.action
}

/// Create the tray icon with its menu. Fails where the platform has no tray
/// at all; on Linux without a tray host the icon is created but not shown.
pub fn install(app: &AppHandle) -> tauri::Result<()> {
    let menu = Menu::new(app)?;
    for entry in ENTRIES {
        match entry.action {
            Some(_) => menu.append(&MenuItem::with_id(
                app,
                entry.id,
                entry.label,
                true,
                None::<&str>,
            )?)?,
            None => menu.append(&PredefinedMenuItem::separator(app)?)?,
        }
    }
    TrayIconBuilder::with_id("coder-bridge")
        .icon(tauri::include_image!("icons/tray.png"))
        .tooltip("Coder Bridge")
        .menu(&menu)
        .on_menu_event(|app, event| match action_for(event.id().as_ref()) {
            Some(Action::OpenDashboard) => crate::show_dashboard(app),
            Some(Action::Quit) => app.exit(0),
            None => tracing::debug!(id = ?event.id(), "menu event for an unknown entry"),
        })
        .build(app)?;
    tracing::info!("tray icon created");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_id_is_unique_and_maps_back_to_its_action() {
        for (i, entry) in ENTRIES.iter().enumerate() {
            assert!(
                ENTRIES[..i].iter().all(|other| other.id != entry.id),
                "duplicate menu id {}",
                entry.id
            );
            assert_eq!(action_for(entry.id), entry.action);
        }
    }

    #[test]
    fn menu_offers_the_dashboard_first_and_quit_last() {
        let actions: Vec<Action> = ENTRIES.iter().filter_map(|e| e.action).collect();
        assert_eq!(actions, [Action::OpenDashboard, Action::Quit]);
        assert_eq!(action_for("no-such-entry"), None);
    }
}
