//! WebKit's helper processes between two openings of the dashboard.
//!
//! Closing the window ends its web process, but WebKitGTK keeps the
//! network process of the app's web context running for as long as the app
//! runs (Tauri keeps that context alive on Linux so that each new window
//! does not leak one more). For a tray app that opens its window now and
//! then, that is a process of its own idling for hours. With no webview
//! left it serves nothing, so it is ended; WebKit starts a new one when the
//! next window loads, as it does after a network process crash.

/// The program WebKitGTK runs as its network process.
#[cfg(target_os = "linux")]
const NETWORK_PROCESS: &str = "WebKitNetworkProcess";

/// Ends this app's idle WebKit network processes. Call only when no
/// webview is left.
#[cfg(target_os = "linux")]
pub fn release_network_process() {
    use rustix::process::{Pid, Signal, kill_process};

    for child in children() {
        if program(child).as_deref() != Some(NETWORK_PROCESS) {
            continue;
        }
        let Some(pid) = i32::try_from(child).ok().and_then(Pid::from_raw) else {
            continue;
        };
        match kill_process(pid, Signal::TERM) {
            Ok(()) => tracing::debug!(pid = child, "ended the idle WebKit network process"),
            Err(e) => tracing::debug!(pid = child, error = %e, "cannot end the WebKit network process"),
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub fn release_network_process() {}

/// This process's children, from the kernel's per-thread child lists.
#[cfg(target_os = "linux")]
fn children() -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
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
        let found = children().contains(&sleeper.id());
        let name = program(sleeper.id());
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        assert!(found);
        assert_eq!(name.as_deref(), Some("sleep"));
    }
}
