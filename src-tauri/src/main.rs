//! Coder Bridge tray app: a thin Tauri shell.
//!
//! It hosts the bridge core in-process (`Bridge::start` on Tauri's async
//! runtime), shows the core's state in a tray icon and menu, and shows the
//! core's web UI in one window. Everything the product does lives in the
//! `bridge` crate; this crate only translates between tray/window events and
//! core commands.

// No console window next to the tray app in release builds on Windows.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod demo;
mod menu_model;
mod notices;
mod shell;
mod tray;
mod webkit;
mod window;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use bridge::supervisor::{Bridge, BridgeHandle, BridgeOptions};
use tauri::{Manager, RunEvent, WindowEvent};

use menu_model::CoreState;
use shell::Shell;

/// Whether a tray icon was created: only then may closing the last window
/// leave the app running, or the user would be left with a running app and
/// no way back in.
#[derive(Debug)]
struct TrayPresence(bool);

fn main() -> ExitCode {
    init_logging();
    let app = tauri::Builder::default()
        // First, so a second launch hands over before anything else starts
        // (it would otherwise fail to bind the daemon's port).
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            tracing::info!("another launch asked for the dashboard");
            window::show_dashboard(app);
        }))
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_autostart::Builder::new().build())
        .setup(|app| {
            let handle = app.handle().clone();
            let launcher = Arc::new(demo::SimLauncher::default());
            app.manage(launcher.clone());
            let mut options = options();
            options.demo_launcher = Some(launcher);
            let started = tauri::async_runtime::block_on(Bridge::start(options));
            let (bridge, state) = match started {
                Ok(bridge) => (Some(bridge), CoreState::starting()),
                Err(e) => {
                    tracing::error!(error = %e, code = %e.code(), "the bridge core did not start");
                    let state = CoreState {
                        start_error: Some(e.to_string()),
                        ..CoreState::starting()
                    };
                    (None, state)
                }
            };
            let shell = Shell::new(bridge.clone(), state);
            let model = shell.model();
            app.manage(shell);
            let present = match tray::install(&handle, &model) {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        "no system tray available; the dashboard stays reachable in the window and the browser"
                    );
                    false
                }
            };
            app.manage(TrayPresence(present));
            if let Some(bridge) = bridge {
                // Subscribe before the first read, so nothing between is missed.
                let rx = bridge.subscribe();
                tracing::info!(url = %bridge.ui_url(), "dashboard ready");
                tauri::async_runtime::spawn(shell::follow(handle.clone(), bridge, rx));
                window::show_dashboard(&handle);
            }
            Ok(())
        })
        // The dashboard is the only window: once it is gone (and stays gone
        // a while), no webview is left.
        .on_window_event(|window, event| {
            if let WindowEvent::Destroyed = event
                && window.label() == window::MAIN_WINDOW
            {
                let app = window.app_handle().clone();
                tauri::async_runtime::spawn(async move {
                    tokio::time::sleep(webkit::IDLE_AFTER).await;
                    if app.get_webview_window(window::MAIN_WINDOW).is_none() {
                        webkit::release_network_process();
                    }
                });
            }
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "the tray app could not start");
            eprintln!("coder-bridge-tray: {e}");
            return ExitCode::FAILURE;
        }
    };
    app.run(|app, event| match event {
        // Closing the dashboard destroys its window, and with it the webview
        // and its WebKit processes (hundreds of MiB for a window opened now
        // and then); the tray, notifications and the core keep running. Only
        // Quit (`app.exit`, which carries a code) ends the app, unless there
        // is no tray to come back through.
        RunEvent::ExitRequested {
            code: None, api, ..
        } if app
            .try_state::<TrayPresence>()
            .is_some_and(|presence| presence.0) =>
        {
            tracing::debug!("dashboard closed; running on in the tray");
            api.prevent_exit();
        }
        RunEvent::Exit => {
            // Stop the core cleanly: agents see the endpoint close and every
            // recorded call reaches the activity database.
            if let Some(bridge) = app.try_state::<Shell>().and_then(|s| s.bridge.clone()) {
                tauri::async_runtime::block_on(shutdown(bridge));
            }
            if let Some(launcher) = app.try_state::<Arc<demo::SimLauncher>>() {
                tauri::async_runtime::block_on(launcher.shutdown());
            }
        }
        _ => {}
    });
    ExitCode::SUCCESS
}

async fn shutdown(bridge: BridgeHandle) {
    bridge.shutdown().await;
    tracing::info!("bridge core stopped");
}

/// The core's options: the platform folders, and the port `coder-bridge
/// serve` would use (`CODER_BRIDGE_PORT`, else `config set port`, else 7331).
fn options() -> BridgeOptions {
    let mut options = BridgeOptions::from_env();
    options.port = bridge::settings::port(None);
    options.binary = Some(cli_binary());
    options
}

/// The `coder-bridge` command written into the config of agents that start
/// their MCP server themselves (`<command> stdio --agent <id>`).
///
/// Not this executable: the tray app is not a stdio shim, and launching it
/// from an agent would only hand over to the running tray. The `.deb`
/// installs the CLI beside the tray app; a development build has it in the
/// same target folder (`scripts/run` builds both).
fn cli_binary() -> PathBuf {
    let name = format!("coder-bridge{}", std::env::consts::EXE_SUFFIX);
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(&name)))
        .filter(|path| path.is_file());
    let on_path = || {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(&name))
                .find(|path| path.is_file())
        })
    };
    beside.or_else(on_path).unwrap_or_else(|| {
        tracing::warn!(
            "the coder-bridge command is not installed beside the tray app nor on PATH; agents configured now will need it on their PATH"
        );
        PathBuf::from(name)
    })
}

/// Log to stderr with a daemon's defaults, as `coder-bridge serve` does:
/// our work at info, dependencies at warn, colour only on a terminal.
fn init_logging() {
    bridge::logging::init_stderr(bridge::logging::Role::Daemon, 0);
}
