//! The dashboard window: the daemon's own web UI, entered through a
//! one-time ticket URL so no reusable secret is ever in the page's address.
//! Links that leave the daemon (Coder's sign-in page) open in the browser.

use tauri::{AppHandle, Manager, WebviewUrl, WebviewWindowBuilder, webview::NewWindowResponse};
use tauri_plugin_opener::OpenerExt as _;
use url::Url;

use crate::shell::Shell;

/// The window's label.
pub const MAIN_WINDOW: &str = "main";

/// Brings the dashboard to the front, building it when it is closed.
///
/// The window exists only while it is open: closing it destroys it with its
/// webview (see `main.rs`), so each opening builds a new one, signed in
/// through a fresh one-time ticket. An open window is only raised: it is
/// signed in already, and a ticket it would not spend is not issued.
pub fn show_dashboard(app: &AppHandle) {
    let window = match app.get_webview_window(MAIN_WINDOW) {
        Some(window) => window,
        None => match open(app) {
            Some(window) => window,
            None => return,
        },
    };
    for (what, result) in [
        ("show", window.show()),
        ("unminimize", window.unminimize()),
        ("focus", window.set_focus()),
    ] {
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot {what} the dashboard window");
        }
    }
}

/// Builds the window on a fresh ticket.
fn open(app: &AppHandle) -> Option<tauri::WebviewWindow> {
    let Some(bridge) = app.state::<Shell>().bridge.clone() else {
        tracing::warn!("the core is not running; there is no dashboard to show");
        return None;
    };
    let Ok(url) = Url::parse(&bridge.open_tray_url()) else {
        tracing::warn!("the core gave an unparseable dashboard address");
        return None;
    };
    match create(app, url) {
        Ok(window) => {
            configure_webview(&window);
            tracing::info!("dashboard window opened");
            Some(window)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot open the dashboard window");
            None
        }
    }
}

fn create(app: &AppHandle, url: Url) -> tauri::Result<tauri::WebviewWindow> {
    let origin = url.origin();
    let nav_app = app.clone();
    let popup_app = app.clone();
    WebviewWindowBuilder::new(app, MAIN_WINDOW, WebviewUrl::External(url))
        .title("Coder Bridge")
        .inner_size(960.0, 680.0)
        .center()
        // The page's title names the view and the calls waiting for an
        // answer ("(1) Consent · Coder Bridge"): worth seeing in the taskbar.
        .on_document_title_changed(|window, title| {
            if let Err(e) = window.set_title(&title) {
                tracing::debug!(error = %e, "cannot retitle the dashboard window");
            }
        })
        // Same origin stays in the window; anything else (a link to Coder)
        // goes to the user's browser, where their Coder login lives.
        .on_navigation(move |target| {
            if target.origin() == origin {
                return true;
            }
            open_in_browser(&nav_app, target);
            false
        })
        // `window.open(authorize_url)` from the sign-in page.
        .on_new_window(move |target, _features| {
            open_in_browser(&popup_app, &target);
            NewWindowResponse::Deny
        })
        .build()
}

/// WebKit settings for the dashboard:
/// - WebKitGTK blocks `window.open` outside a click's own task, and the UI
///   opens Coder's page only after its sign-in request answers. Let scripts
///   ask: every such request lands in `on_new_window`, which opens only web
///   links, and only in the browser.
/// - No GPU compositing: a dashboard of text, tables and small charts draws
///   fast enough in software, and GL would load the graphics driver (with
///   Mesa's, LLVM: ~25 MiB) into the tray app, resident long after the
///   window closed.
#[cfg(target_os = "linux")]
fn configure_webview(window: &tauri::WebviewWindow) {
    let result = window.with_webview(|webview| {
        use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt as _, WebViewExt as _};
        if let Some(settings) = webview.inner().settings() {
            settings.set_javascript_can_open_windows_automatically(true);
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
        }
    });
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot configure the dashboard's webview");
    }
}

#[cfg(not(target_os = "linux"))]
fn configure_webview(_window: &tauri::WebviewWindow) {}

/// Opens a page in the browser: `$BROWSER` when set (like the CLI), else the
/// platform opener.
pub fn open_in_browser(app: &AppHandle, url: &Url) {
    if !bridge::auth::is_web_url(url) {
        tracing::warn!(scheme = url.scheme(), "not opening a non-web link");
        return;
    }
    let browser = std::env::var(bridge::env::BROWSER)
        .ok()
        .filter(|b| !b.trim().is_empty());
    // The URL may carry an OAuth `state`; log only where it goes.
    tracing::info!(host = url.host_str().unwrap_or(""), "opening the browser");
    if let Err(e) = app.opener().open_url(url.as_str(), browser) {
        tracing::warn!(error = %e, "cannot open the browser");
    }
}
