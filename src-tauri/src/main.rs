//! Coder Bridge tray app: a thin Tauri shell.
//!
//! It owns a tray icon and one window that shows the web UI. Everything the
//! product does lives in the `bridge` core; this crate only translates between
//! tray/window events and the core (hosting the core in-process comes with the
//! real tray app; for now the window shows the UI placeholder).

// No console window next to the tray app in release builds on Windows.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod tray;

use std::io::IsTerminal;
use std::process::ExitCode;

use tauri::{Manager, WindowEvent};
use tracing_subscriber::EnvFilter;

/// The window that shows the dashboard (the label in `tauri.conf.json`).
const MAIN_WINDOW: &str = "main";

/// Whether a tray icon was created: only then may closing the window merely
/// hide it, or the user would be left with a running app and no way back in.
#[derive(Debug)]
struct TrayPresence(bool);

fn main() -> ExitCode {
    init_logging();
    let result = tauri::Builder::default()
        .setup(|app| {
            let present = match tray::install(app.handle()) {
                Ok(()) => true,
                Err(err) => {
                    tracing::warn!(
                        error = %err,
                        "no system tray available; the dashboard window stays open instead"
                    );
                    false
                }
            };
            app.manage(TrayPresence(present));
            Ok(())
        })
        .on_window_event(|window, event| {
            if let WindowEvent::CloseRequested { api, .. } = event {
                let tray_present = window
                    .try_state::<TrayPresence>()
                    .is_some_and(|presence| presence.0);
                if tray_present {
                    // Keep running in the tray: closing the dashboard is not quitting.
                    api.prevent_close();
                    if let Err(err) = window.hide() {
                        tracing::warn!(error = %err, "cannot hide the dashboard window");
                    }
                }
            }
        })
        .run(tauri::generate_context!());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "the tray app stopped with an error");
            eprintln!("coder-bridge-tray: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Log to stderr, filtered by the same variable as the CLI.
fn init_logging() {
    let filter = EnvFilter::try_from_env(bridge::env::LOG)
        .unwrap_or_else(|_| EnvFilter::new("info,coder_bridge_tray=info"));
    // A second initialisation can only happen in tests; ignoring it is harmless.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, not for log files and CI.
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Bring the dashboard window to the front, wherever it is.
fn show_dashboard(app: &tauri::AppHandle) {
    let Some(window) = app.get_webview_window(MAIN_WINDOW) else {
        tracing::warn!("the dashboard window does not exist");
        return;
    };
    for (what, result) in [
        ("show", window.show()),
        ("unminimize", window.unminimize()),
        ("focus", window.set_focus()),
    ] {
        if let Err(err) = result {
            tracing::warn!(error = %err, "cannot {what} the dashboard window");
        }
    }
}
