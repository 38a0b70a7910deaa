//! Renders a [`MenuModel`] into the Tauri tray icon and menu, and routes
//! clicks back to [`crate::shell::perform`]. No decisions are made here: they
//! are in [`crate::menu_model`].

use tauri::image::Image;
use tauri::menu::{CheckMenuItem, IsMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Wry};

use crate::menu_model::{IconState, Item, MenuModel};

const TRAY_ID: &str = "coder-bridge";

fn icon(state: IconState) -> Image<'static> {
    match state {
        IconState::SignedOut => tauri::include_image!("icons/tray-signed-out.png"),
        IconState::Connected => tauri::include_image!("icons/tray-connected.png"),
        IconState::WaitingForConsent => tauri::include_image!("icons/tray-consent.png"),
        IconState::Error => tauri::include_image!("icons/tray-error.png"),
    }
}

/// Creates the tray icon showing `model`. Fails where the platform has no
/// tray at all; on Linux without a tray host the icon is created but unseen.
pub fn install(app: &AppHandle, model: &MenuModel) -> tauri::Result<TrayIcon> {
    let tray = TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon(model.icon))
        .tooltip(&model.tooltip)
        .menu(&build_menu(app, &model.items)?)
        .on_menu_event(|app, event| {
            let action = app
                .state::<crate::shell::Shell>()
                .action_for(event.id().as_ref());
            match action {
                Some(action) => crate::shell::perform(app, action),
                None => tracing::debug!(id = ?event.id(), "menu event for an unknown entry"),
            }
        })
        .build(app)?;
    tracing::info!("tray icon created");
    Ok(tray)
}

/// Shows a new model on the existing tray icon (when there is one).
pub fn render(app: &AppHandle, model: &MenuModel) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    let result = build_menu(app, &model.items).and_then(|menu| {
        tray.set_menu(Some(menu))?;
        tray.set_icon(Some(icon(model.icon)))?;
        tray.set_tooltip(Some(&model.tooltip))
    });
    match result {
        Ok(()) => tracing::debug!(icon = ?model.icon, tooltip = %model.tooltip, "tray updated"),
        Err(e) => tracing::warn!(error = %e, "cannot update the tray menu"),
    }
}

fn build_menu(app: &AppHandle, items: &[Item]) -> tauri::Result<Menu<Wry>> {
    let menu = Menu::new(app)?;
    for item in items {
        menu.append(build_item(app, item)?.as_ref())?;
    }
    Ok(menu)
}

fn build_item(app: &AppHandle, item: &Item) -> tauri::Result<Box<dyn IsMenuItem<Wry>>> {
    Ok(match item {
        Item::Label { id, text } => {
            Box::new(MenuItem::with_id(app, id, text, false, None::<&str>)?)
        }
        Item::Action {
            id,
            label,
            enabled,
            checked: None,
            ..
        } => Box::new(MenuItem::with_id(app, id, label, *enabled, None::<&str>)?),
        Item::Action {
            id,
            label,
            enabled,
            checked: Some(checked),
            ..
        } => Box::new(CheckMenuItem::with_id(
            app,
            id,
            label,
            *enabled,
            *checked,
            None::<&str>,
        )?),
        Item::Submenu {
            id,
            label,
            enabled,
            items,
        } => {
            let submenu = Submenu::with_id(app, id, label, *enabled)?;
            for item in items {
                submenu.append(build_item(app, item)?.as_ref())?;
            }
            Box::new(submenu)
        }
        Item::Separator => Box::new(PredefinedMenuItem::separator(app)?),
    })
}
