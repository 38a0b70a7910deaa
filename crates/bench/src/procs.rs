//! The processes under test: the simulated Coder, the daemon (`coder-bridge
//! serve`, signed in with a session token) and the stdio shim, each its own
//! process so `/proc/<pid>/status` measures it alone. Everything lives in a
//! temporary HOME, so nothing of the user's is read or written.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, bail};
use bridge::client_tokens::ClientTokens;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{Child, ChildStdout, Command},
};

/// How long a process may take to print what it is listening on.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A temporary HOME with XDG folders and the file secret store.
#[derive(Debug)]
pub struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            dir: tempfile::tempdir().context("cannot create a temporary HOME")?,
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Points every folder the programs use into this HOME.
    pub fn apply(&self, cmd: &mut Command) {
        let p = self.path();
        cmd.env("HOME", p)
            .env("XDG_CONFIG_HOME", p.join("config"))
            .env("XDG_DATA_HOME", p.join("data"))
            .env("XDG_STATE_HOME", p.join("state"))
            .env("XDG_RUNTIME_DIR", p.join("run"))
            .env(bridge::env::SECRET_STORE, "file");
    }

    pub fn client_tokens(&self) -> anyhow::Result<ClientTokens> {
        let path = self
            .path()
            .join("config")
            .join("coder-bridge")
            .join(bridge::client_tokens::FILE_NAME);
        ClientTokens::open(path).context("cannot open the client tokens")
    }
}

/// A child process that is killed (and reaped) when dropped. Its stdout is
/// kept open so a late line cannot fail with a broken pipe.
#[derive(Debug)]
pub struct Proc {
    pub pid: u32,
    _child: Child,
    _stdout: Option<ChildStdout>,
}

/// Resident memory of one process, from `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mem {
    /// VmRSS: resident now.
    pub rss_kib: u64,
    /// VmHWM: the peak resident size so far.
    pub hwm_kib: u64,
    /// RssAnon: the resident part that is the process's own (heap, stacks).
    /// The rest of VmRSS is code and files, shared with every other process
    /// mapping them and counted only as far as the page cache holds them.
    pub anon_kib: u64,
}

/// Reads VmRSS, VmHWM and RssAnon of `pid`.
pub fn mem(pid: u32) -> anyhow::Result<Mem> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read the status of process {pid}"))?;
    parse_status(&status).with_context(|| format!("no VmRSS/VmHWM/RssAnon for process {pid}"))
}

fn parse_status(status: &str) -> Option<Mem> {
    let field = |name: &str| {
        status.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()
        })
    };
    Some(Mem {
        rss_kib: field("VmRSS")?,
        hwm_kib: field("VmHWM")?,
        anon_kib: field("RssAnon")?,
    })
}

/// The memory of `pid` and every process below it, summed (a launcher such
/// as `npx` runs the real program as its child).
pub fn tree_mem(pid: u32) -> Mem {
    let mut total = Mem::default();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        if let Ok(m) = mem(p) {
            total.rss_kib += m.rss_kib;
            total.hwm_kib += m.hwm_kib;
            total.anon_kib += m.anon_kib;
        }
        queue.extend(children(p));
    }
    total
}

/// Processes whose parent is `pid`, from `/proc/*/stat`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|stat| parent_of(&stat))
                == Some(pid)
        })
        .collect()
}

/// The parent pid in a `/proc/<pid>/stat` line; the command name in
/// parentheses may itself hold spaces and parentheses.
fn parent_of(stat: &str) -> Option<u32> {
    stat_fields(stat)?.nth(1)?.parse().ok()
}

/// The fields after the command name of a `/proc/<pid>/stat` line, from
/// `state` (field 3 in proc(5)) on.
fn stat_fields(stat: &str) -> Option<std::str::SplitWhitespace<'_>> {
    Some(stat[stat.rfind(')')? + 1..].split_whitespace())
}

/// CPU time `pid` has used so far, all threads, user and kernel.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read the stat of process {pid}"))?;
    cpu_of(&stat).with_context(|| format!("no utime/stime for process {pid}"))
}

fn cpu_of(stat: &str) -> Option<Duration> {
    // utime and stime are fields 14 and 15, in USER_HZ ticks, which the
    // kernel's /proc ABI fixes at 100 per second.
    let mut fields = stat_fields(stat)?.skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// A free port on 127.0.0.1 (the daemon takes a port, not port 0).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind 127.0.0.1:0")?;
    Ok(l.local_addr().context("cannot read the bound port")?.port())
}

/// The release binaries under test.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub bridge: PathBuf,
    pub sim: PathBuf,
}

impl Binaries {
    pub fn in_dir(dir: &Path) -> anyhow::Result<Self> {
        let found = Self {
            bridge: dir.join("coder-bridge"),
            sim: dir.join("coder-sim"),
        };
        for bin in [&found.bridge, &found.sim] {
            if !bin.is_file() {
                bail!(
                    "{} is missing: build with `cargo build --release -p coder-bridge -p coder-sim` (scripts/bench does)",
                    bin.display()
                );
            }
        }
        Ok(found)
    }
}

/// Starts `cmd` and reads stdout until every `KEY=` in `keys` was printed.
async fn start_and_read(
    mut cmd: Command,
    what: &str,
    keys: &[&str],
) -> anyhow::Result<(Proc, Vec<String>)> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {what}"))?;
    let pid = child
        .id()
        .with_context(|| format!("{what} exited at once"))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut values = vec![None; keys.len()];
    let read = async {
        while values.iter().any(Option::is_none) {
            let Some(line) = lines.next_line().await? else {
                bail!("{what} exited before printing {keys:?}");
            };
            for (key, value) in keys.iter().zip(values.iter_mut()) {
                if let Some(v) = line.strip_prefix(key).and_then(|r| r.strip_prefix('=')) {
                    *value = Some(v.to_owned());
                }
            }
        }
        Ok(())
    };
    tokio::time::timeout(START_TIMEOUT, read)
        .await
        .with_context(|| format!("{what} did not start within {START_TIMEOUT:?}"))??;
    let stdout = lines.into_inner().into_inner();
    let values = values.into_iter().flatten().collect();
    Ok((
        Proc {
            pid,
            _child: child,
            _stdout: Some(stdout),
        },
        values,
    ))
}

/// The simulated Coder, as its own process.
#[derive(Debug)]
pub struct SimProc {
    /// Kept to keep the process alive (and kill it when dropped).
    _proc: Proc,
    pub url: String,
    pub mcp_url: String,
    pub session_token: String,
}

pub async fn start_sim(bins: &Binaries, home: &Home) -> anyhow::Result<SimProc> {
    let mut cmd = Command::new(&bins.sim);
    cmd.args(["--port", "0"]).env("CODER_SIM_LOG", "warn");
    home.apply(&mut cmd);
    let (proc, mut v) = start_and_read(
        cmd,
        "coder-sim",
        &[
            "CODER_SIM_URL",
            "CODER_SIM_MCP_URL",
            "CODER_SIM_SESSION_TOKEN",
        ],
    )
    .await?;
    let session_token = v.pop().context("token")?;
    let mcp_url = v.pop().context("mcp url")?;
    let url = v.pop().context("url")?;
    Ok(SimProc {
        _proc: proc,
        url,
        mcp_url,
        session_token,
    })
}

/// `coder-bridge login <url> --token` with the token on stdin, as a user would.
pub async fn login(bins: &Binaries, home: &Home, url: &str, token: &str) -> anyhow::Result<()> {
    let mut cmd = Command::new(&bins.bridge);
    cmd.args(["login", url, "--token"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    home.apply(&mut cmd);
    let mut child = cmd.spawn().context("cannot start coder-bridge login")?;
    let mut stdin = child.stdin.take().context("no stdin")?;
    stdin
        .write_all(format!("{token}\n").as_bytes())
        .await
        .context("cannot write the token")?;
    drop(stdin);
    let out = tokio::time::timeout(START_TIMEOUT, child.wait_with_output())
        .await
        .context("coder-bridge login did not finish")??;
    if !out.status.success() {
        bail!(
            "coder-bridge login failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// `coder-bridge serve` on a free port.
#[derive(Debug)]
pub struct DaemonProc {
    pub proc: Proc,
    pub port: u16,
    pub mcp_url: String,
}

pub async fn start_daemon(bins: &Binaries, home: &Home) -> anyhow::Result<DaemonProc> {
    let port = free_port()?;
    let mut cmd = Command::new(&bins.bridge);
    cmd.args(["serve", "--port", &port.to_string()]);
    home.apply(&mut cmd);
    let (proc, mut v) = start_and_read(cmd, "coder-bridge serve", &["CODER_BRIDGE_URL"]).await?;
    Ok(DaemonProc {
        proc,
        port,
        mcp_url: v.pop().context("url")?,
    })
}

/// The command an agent runs for the stdio shim.
pub fn shim_command(bins: &Binaries, home: &Home, agent: &str, port: u16) -> Command {
    let mut cmd = Command::new(&bins.bridge);
    cmd.args([
        "stdio",
        "--agent",
        agent,
        "--port",
        &port.to_string(),
        "--no-start",
    ]);
    home.apply(&mut cmd);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_in_kib() {
        let status = "Name:\tcoder-bridge\nVmPeak:\t  900000 kB\nVmHWM:\t   12345 kB\nVmRSS:\t   10240 kB\nRssAnon:\t    3072 kB\nRssFile:\t    7168 kB\nThreads:\t4\n";
        assert_eq!(
            parse_status(status),
            Some(Mem {
                rss_kib: 10240,
                hwm_kib: 12345,
                anon_kib: 3072
            })
        );
        assert_eq!(parse_status("Name:\tx\nVmRSS:\t1 kB\n"), None);
    }

    #[test]
    fn the_parent_is_read_past_a_strange_command_name() {
        assert_eq!(parent_of("4242 (node (x) y) S 77 4242 1 0"), Some(77));
        assert_eq!(parent_of("garbage"), None);
    }

    #[test]
    fn cpu_time_is_user_plus_kernel_ticks() {
        let stat = "4242 (coder (bridge)) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 37 0 0 20 0 3 0";
        assert_eq!(cpu_of(stat), Some(Duration::from_millis(2870)));
        assert_eq!(cpu_of("4242 (x) S 1"), None);
    }

    #[test]
    fn cpu_time_grows_while_this_process_works() {
        // Spins until the reading moves by a few ticks; on a busy machine
        // that takes longer in wall time, never forever.
        let pid = std::process::id();
        let start = cpu_time(pid).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while cpu_time(pid).unwrap() < start + Duration::from_millis(30) {
            assert!(
                std::time::Instant::now() < deadline,
                "cpu time did not move"
            );
        }
    }

    #[test]
    fn this_process_has_a_resident_size() {
        let m = mem(std::process::id()).expect("own status");
        assert!(m.rss_kib > 0 && m.hwm_kib >= m.rss_kib);
    }
}
