//! WebKit's helper processes between two openings of the dashboard.
//!
//! Closing the window ends its web process, but WebKitGTK keeps the
//! network process of the app's web context running for as long as the app
//! runs (Tauri keeps that context alive on Linux so that each new window
//! does not leak one more). For a tray app that opens its window now and
//! then, that is a process of its own idling for hours. Once no webview and
//! no web process is left it serves nothing, so it is ended; WebKit starts a
//! new one when the next window loads, as it does after a network process
//! crash.

use std::time::Duration;

/// How long after the window closed the network process is ended. WebKit
/// must be done with the closed page first: ending the network process
/// while WebKit is still launching or tearing down a web process aborts
/// the app (a window closed right after it opened does that).
pub const IDLE_AFTER: Duration = Duration::from_secs(5);

/// The programs WebKitGTK runs for a page and for the network.
#[cfg(target_os = "linux")]
const WEB_PROCESS: &str = "WebKitWebProcess";
#[cfg(target_os = "linux")]
const NETWORK_PROCESS: &str = "WebKitNetworkProcess";

/// Ends this app's WebKit network process if WebKit is idle: no web process
/// left (sandboxed ones run under `bwrap`, so the whole tree is searched).
/// Call only when no webview is left.
#[cfg(target_os = "linux")]
pub fn release_network_process() {
    use rustix::process::{Pid, Signal, kill_process};

    let helpers: Vec<(u32, Option<String>)> = descendants(std::process::id())
        .into_iter()
        .map(|pid| (pid, program(pid)))
        .collect();
    if helpers
        .iter()
        .any(|(_, name)| name.as_deref() == Some(WEB_PROCESS))
    {
        tracing::debug!("a WebKit web process is still running; the network process stays");
        return;
    }
    for (child, _) in helpers
        .iter()
        .filter(|(_, name)| name.as_deref() == Some(NETWORK_PROCESS))
    {
        let Some(pid) = i32::try_from(*child).ok().and_then(Pid::from_raw) else {
            continue;
        };
        match kill_process(pid, Signal::TERM) {
            Ok(()) => tracing::debug!(pid = child, "ended the idle WebKit network process"),
            Err(e) => {
                tracing::debug!(pid = child, error = %e, "cannot end the WebKit network process")
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub fn release_network_process() {}

/// Every process below `pid`, from the kernel's per-thread child lists.
#[cfg(target_os = "linux")]
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(parent) = queue.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{parent}/task")) else {
            continue;
        };
        for task in tasks.filter_map(Result::ok) {
            let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in list.split_whitespace().filter_map(|c| c.parse().ok()) {
                found.push(child);
                queue.push(child);
            }
        }
    }
    found
}

/// The file name of the program `pid` runs (`/proc/<pid>/comm` cuts names
/// to 15 bytes).
#[cfg(target_os = "linux")]
fn program(pid: u32) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let argv0 = cmdline.split(|&b| b == 0).next()?;
    let path = std::path::Path::new(std::str::from_utf8(argv0).ok()?);
    Some(path.file_name()?.to_str()?.to_owned())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_found_by_its_program_name() {
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let found = descendants(std::process::id()).contains(&sleeper.id());
        // Right after the spawn, a loaded machine may still show the child
        // between fork and exec, with no command line yet.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut name = program(sleeper.id());
        while name.as_deref() != Some("sleep") && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
            name = program(sleeper.id());
        }
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        assert!(found);
        assert_eq!(name.as_deref(), Some("sleep"));
    }
}
