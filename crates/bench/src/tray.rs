//! The tray app's footprint (issue #18): the release tray app under Xvfb
//! and a private D-Bus session, in a temporary HOME, measured as a user
//! meets it: launched (the dashboard opens), signed in to the demo
//! deployment, the Activity page shown, then the window closed.
//!
//! Memory is PSS (proportional set size, from `/proc/<pid>/smaps_rollup`)
//! summed over the tray process and every process below it (WebKit's web
//! and network processes): shared library pages are split between the
//! processes that map them, so the sum is what the app costs the machine.

mod display;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

use crate::procs::Home;
use crate::report::{Report, Unit, mib, ms, targets};
use display::{Screen, Xvfb, keys};

/// The tray binary's file name.
const TRAY_BIN: &str = "coder-bridge-tray";
/// How long any one step may take on a loaded 2-core machine.
const STEP: Duration = Duration::from_secs(60);
/// Time for a page to settle (charts drawn, caches warm) before reading.
const SETTLE: Duration = Duration::from_secs(3);
/// Time for the app to go idle after its window closed: it ends WebKit's
/// network process 5 s after the web process went.
const IDLE_SETTLE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(20);

/// Runs the tray measurements, or notes why they cannot run here.
pub async fn run(bin_dir: &Path, report: &mut Report) -> anyhow::Result<()> {
    let tray = bin_dir.join(TRAY_BIN);
    if !tray.is_file() {
        report.info(
            "tray app",
            "not built (cargo build --release -p coder-bridge-tray)",
        );
        return Ok(());
    }
    for tool in ["Xvfb", "dbus-run-session"] {
        if which(tool).is_none() {
            report.info("tray app", format!("not measured: {tool} is not installed"));
            return Ok(());
        }
    }
    eprintln!("tray app: launch, demo sign-in, Activity page, window closed…");
    measure(&tray, report).await
}

async fn measure(tray: &Path, report: &mut Report) -> anyhow::Result<()> {
    let home = Home::new()?;
    let xvfb = Xvfb::start().await?;
    let screen = Screen::connect(&xvfb.name)?;
    let port = crate::procs::free_port()?;
    let mut app = App::launch(tray, &home, &xvfb.name, port)?;
    let launched = app.launched;

    // Launch → the daemon answers → the demo relay is connected.
    let (http, origin) = (&reqwest::Client::new(), &format!("http://127.0.0.1:{port}"));
    poll("the daemon to answer", move || async move {
        let answer = http.get(format!("{origin}/healthz")).send().await;
        Ok(answer.is_ok_and(|a| a.status().is_success()))
    })
    .await?;
    report.info(
        "tray app: launch → daemon answering",
        Unit::Ms.show(ms(launched.elapsed())),
    );
    // Written beside the daemon's start, maybe a moment after it answers.
    let token_file = &home.path().join("config/coder-bridge/control-token");
    let token = poll_value("the control token", move || async move {
        Ok(std::fs::read_to_string(token_file)
            .ok()
            .filter(|t| !t.trim().is_empty()))
    })
    .await?;
    let auth = &format!("Bearer {}", token.trim());
    // "Try the demo" in the dashboard. Retried: the control API may still
    // answer 503 for a moment after the port opens.
    poll("the demo sign-in", move || async move {
        let answer = http
            .post(format!("{origin}/api/signin"))
            .header("Authorization", auth)
            .json(&serde_json::json!({ "demo": true }))
            .send()
            .await?;
        Ok(answer.status().is_success())
    })
    .await?;
    poll("the demo relay to connect", move || async move {
        let status: serde_json::Value = http
            .get(format!("{origin}/api/status"))
            .header("Authorization", auth)
            .send()
            .await?
            .json()
            .await?;
        Ok(status["relay"]["state"] == "connected")
    })
    .await?;
    report.info(
        "tray app: launch → connected (demo sign-in asked as soon as the daemon answers)",
        Unit::Ms.show(ms(launched.elapsed())),
    );

    // The dashboard, opened at launch, on the Activity page: Tab past the
    // skip link, Status and Consent to the nav's Activity link.
    let pid = app.tray_pid()?;
    let screen = &screen;
    let (window, _) = poll_value("the dashboard window", move || async move {
        Ok(screen.windows_of(pid)?.into_iter().next())
    })
    .await?;
    poll("the dashboard to load", move || async move {
        Ok(title_of(screen, pid).is_some_and(|t| t.contains('·')))
    })
    .await?;
    screen.type_keys(
        window,
        &[keys::TAB, keys::TAB, keys::TAB, keys::TAB, keys::RETURN],
    )?;
    poll("the Activity page", move || async move {
        Ok(title_of(screen, pid).is_some_and(|t| t.starts_with("Activity")))
    })
    .await?;
    tokio::time::sleep(SETTLE).await;
    let open = tree_pss(pid);
    pss_rows(report, "window open on Activity", &open);
    report.at_most(
        "tray app total PSS, window open on Activity",
        mib(total(&open)),
        targets::TRAY_OPEN_PSS_MIB,
        Unit::MiB,
    );

    // Closed with the title bar's ×: the webview and its web process go.
    let closed_at = Instant::now();
    screen.close(window)?;
    poll("the web process to exit", move || async move {
        Ok(!tree_pss(pid).contains_key("WebKitWebProcess"))
    })
    .await?;
    report.info(
        "tray app: window closed → web process gone",
        Unit::Ms.show(ms(closed_at.elapsed())),
    );
    tokio::time::sleep(IDLE_SETTLE).await;
    let idle = tree_pss(pid);
    if !app.running() {
        bail!("the tray app exited when its window closed");
    }
    pss_rows(report, "idle, window closed", &idle);
    report.at_most(
        "tray app total PSS, idle with the window closed",
        mib(total(&idle)),
        targets::TRAY_IDLE_PSS_MIB,
        Unit::MiB,
    );
    Ok(())
}

/// The tray app under `dbus-run-session` (notifications and the tray icon
/// talk D-Bus), in its own process group so dropping it stops all of it.
struct App {
    child: Child,
    launched: Instant,
}

impl App {
    fn launch(tray: &Path, home: &Home, display: &str, port: u16) -> anyhow::Result<Self> {
        let mut cmd = Command::new("dbus-run-session");
        cmd.arg("--")
            .arg(tray)
            .env("DISPLAY", display)
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env(bridge::env::PORT, port.to_string())
            .env(bridge::env::LOG, "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        home.apply(&mut cmd);
        let launched = Instant::now();
        let child = cmd.spawn().context("cannot start the tray app")?;
        Ok(Self { child, launched })
    }

    /// The tray process itself (a child of `dbus-run-session`).
    fn tray_pid(&self) -> anyhow::Result<u32> {
        let session = self.child.id().context("the tray app exited")?;
        descendants(session)
            .into_iter()
            .find(|&p| program(p).is_some_and(|name| name == TRAY_BIN))
            .context("no tray process under dbus-run-session")
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None)) && self.tray_pid().is_ok()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(pid) = self
            .child
            .id()
            .and_then(|p| rustix::process::Pid::from_raw(p as i32))
        {
            // The whole group: dbus-run-session, its bus, the app, WebKit.
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::TERM);
        }
    }
}

/// PSS in KiB per program name, over `pid` and every process below it.
fn tree_pss(pid: u32) -> BTreeMap<String, u64> {
    let mut by_name = BTreeMap::new();
    for p in std::iter::once(pid).chain(descendants(pid)) {
        if let (Some(name), Some(pss)) = (program(p), pss_kib(p)) {
            *by_name.entry(name).or_default() += pss;
        }
    }
    by_name
}

fn total(pss: &BTreeMap<String, u64>) -> u64 {
    pss.values().sum()
}

fn pss_rows(report: &mut Report, when: &str, pss: &BTreeMap<String, u64>) {
    for (name, kib) in pss {
        report.info(
            format!("tray app PSS, {when}: {name}"),
            Unit::MiB.show(mib(*kib)),
        );
    }
}

/// `Pss:` of `/proc/<pid>/smaps_rollup`, in KiB.
fn pss_kib(pid: u32) -> Option<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    parse_pss(&rollup)
}

fn parse_pss(rollup: &str) -> Option<u64> {
    rollup.lines().find_map(|line| {
        let value = line.strip_prefix("Pss:")?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// Every process below `pid`, from the kernel's per-thread child lists.
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.filter_map(Result::ok) {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                found.push(child);
                queue.push(child);
            }
        }
    }
    found
}

/// The program's file name (`WebKitWebProcess`; `/proc/<pid>/comm` would
/// cut it to 15 bytes).
fn program(pid: u32) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let argv0 = cmdline.split(|&b| b == 0).next()?;
    let path = Path::new(std::str::from_utf8(argv0).ok()?);
    Some(path.file_name()?.to_str()?.to_owned())
}

fn title_of(screen: &Screen, pid: u32) -> Option<String> {
    screen
        .windows_of(pid)
        .ok()?
        .into_iter()
        .next()
        .map(|(_, t)| t)
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

/// Waits until `check` says yes, within [`STEP`].
async fn poll<F, Fut>(what: &str, check: F) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    poll_value(what, || {
        let checked = check();
        async move { Ok(checked.await?.then_some(())) }
    })
    .await
}

async fn poll_value<T, F, Fut>(what: &str, check: F) -> anyhow::Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + STEP;
    let mut last = None;
    loop {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => last = Some(e),
        }
        if Instant::now() > deadline {
            let cause = last.map(|e| format!(": {e:#}")).unwrap_or_default();
            bail!("timed out waiting for {what}{cause}");
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pss_is_read_from_the_rollup() {
        let rollup = "55d0c0000000-7ffd00000000 ---p 00000000 00:00 0  [rollup]\nRss:              181234 kB\nPss:               95012 kB\nPss_Anon:          40000 kB\n";
        assert_eq!(parse_pss(rollup), Some(95012));
        assert_eq!(parse_pss("Rss: 1 kB\n"), None);
    }

    #[test]
    fn this_process_has_a_pss_and_a_name() {
        let me = std::process::id();
        assert!(pss_kib(me).is_some_and(|k| k > 0));
        assert!(program(me).is_some_and(|c| !c.is_empty()));
        assert!(tree_pss(me).values().sum::<u64>() > 0);
    }

    #[test]
    fn children_are_found_below_their_parent() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let found = descendants(std::process::id()).contains(&child.id());
        let _ = child.kill();
        let _ = child.wait();
        assert!(found);
    }
}
