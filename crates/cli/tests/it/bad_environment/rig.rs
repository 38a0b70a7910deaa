//! The pieces of `bad_environment`: a temp HOME, the namespace that makes a
//! fault real, and what the tests read back.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::ClientConfig;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

pub const BIN: &str = env!("CARGO_BIN_EXE_coder-bridge");
pub const TOOL: &str = "coder_get_authenticated_user";
/// `userns` or `plain` forces that way of making faults (see [`Isolation`]).
const ISOLATION_ENV: &str = "HARDEN_ENV_ISOLATION";
/// The tmpfs (or SQLite size cap) under the activity database.
pub const SMALL_DISK_MB: u64 = 1;

pub async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    )
}

/// How a fault is made on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Root: `unshare -m`, a private mount namespace.
    Root,
    /// Not root, but user namespaces work: `unshare --user --map-root-user -m`.
    UserNamespace,
    /// Neither: SQLite's size cap for the full disk, `chmod` for read-only.
    Plain,
}

impl Isolation {
    pub fn detect() -> Self {
        // To try the other paths on a machine that could use a stronger one.
        match std::env::var(ISOLATION_ENV).as_deref() {
            Ok("userns") => return Self::UserNamespace,
            Ok("plain") => return Self::Plain,
            _ => {}
        }
        let candidates: &[(Self, bool)] = &[(Self::Root, is_root()), (Self::UserNamespace, true)];
        for (kind, applies) in candidates {
            if *applies && kind.can_mount() {
                return *kind;
            }
        }
        assert!(
            !is_root(),
            "running as root but `unshare -m` cannot mount a tmpfs: as root nothing else makes a folder read-only or a disk full"
        );
        Self::Plain
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::Root => "a mount namespace (unshare -m, as root)",
            Self::UserNamespace => "a user and mount namespace (unshare --user --map-root-user -m)",
            Self::Plain => "no namespace available: SQLite's size cap / chmod",
        }
    }

    fn unshare_args(self) -> &'static [&'static str] {
        match self {
            Self::Root => &["-m"],
            Self::UserNamespace => &["--user", "--map-root-user", "-m"],
            Self::Plain => &[],
        }
    }

    /// Whether a tmpfs can be mounted in a new namespace of this kind.
    fn can_mount(self) -> bool {
        Command::new("unshare")
            .args(self.unshare_args())
            .args([
                "sh",
                "-c",
                r#"d=$(mktemp -d) || exit 1; mount -t tmpfs -o size=64k tmpfs "$d"; rc=$?; umount "$d" 2>/dev/null; rmdir "$d"; exit $rc"#,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// `unshare … sh -c <script> <script_args…>`: the script ends by exec'ing
    /// its remaining arguments, so the process the test holds is ours.
    pub fn prefix(self, script: &str, first: &Path) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec!["unshare".into()];
        v.extend(self.unshare_args().iter().map(OsString::from));
        v.extend(["sh".into(), "-c".into(), script.into(), first.into()]);
        v
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A temp HOME with XDG folders; no D-Bus, so no real keychain is touched.
pub struct Home(tempfile::TempDir);

impl Home {
    pub fn new() -> Self {
        Self(tempfile::tempdir().expect("temp home"))
    }
    pub fn path(&self) -> &Path {
        self.0.path()
    }
    pub fn config(&self) -> PathBuf {
        self.path().join("config").join("coder-bridge")
    }
    pub fn data(&self) -> PathBuf {
        self.path().join("data").join("coder-bridge")
    }

    /// `coder-bridge <args>` in this HOME.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_via(&[], args)
    }

    /// `<prefix…> coder-bridge <args>` in this HOME.
    pub fn command_via(&self, prefix: &[OsString], args: &[&str]) -> Command {
        let p = self.path();
        let mut cmd = match prefix.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        cmd.args(args)
            .env("HOME", p)
            .env("XDG_CONFIG_HOME", p.join("config"))
            .env("XDG_DATA_HOME", p.join("data"))
            .env("XDG_STATE_HOME", p.join("state"))
            .env("XDG_RUNTIME_DIR", p.join("run"))
            .env("CODER_BRIDGE_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("CODER_BRIDGE_SECRET_STORE")
            .env_remove("CODER_BRIDGE_PORT")
            .env_remove(bridge::env::ACTIVITY_MAX_MB)
            .stdin(Stdio::null());
        cmd
    }

    fn tokens(&self) -> bridge::client_tokens::ClientTokens {
        bridge::client_tokens::ClientTokens::open(
            self.config().join(bridge::client_tokens::FILE_NAME),
        )
        .expect("client tokens")
    }

    pub fn issue_token(&self, agent: &str) -> String {
        self.tokens()
            .issue(agent)
            .expect("issue")
            .expose()
            .to_owned()
    }

    pub fn token(&self, agent: &str) -> Option<String> {
        self.tokens().get(agent).map(|t| t.expose().to_owned())
    }

    /// `coder-bridge <args>` with `dir` read-only for that process alone.
    pub async fn run_read_only(&self, isolation: &Isolation, dir: &Path, args: &[&str]) -> Output {
        self.run_read_only_with(isolation, dir, args, None).await
    }

    /// `login <url> --token` with the token on stdin; with `read_only`, that
    /// folder is read-only for it.
    pub async fn login(
        &self,
        url: &str,
        token: &str,
        read_only: Option<(&Isolation, &Path)>,
    ) -> Output {
        let args = ["login", url, "--token"];
        let stdin = format!("{token}\n");
        match read_only {
            Some((isolation, dir)) => {
                self.run_read_only_with(isolation, dir, &args, Some(stdin))
                    .await
            }
            None => run(self.command(&args), Some(stdin)).await,
        }
    }

    async fn run_read_only_with(
        &self,
        isolation: &Isolation,
        dir: &Path,
        args: &[&str],
        stdin: Option<String>,
    ) -> Output {
        if *isolation == Isolation::Plain {
            use std::os::unix::fs::PermissionsExt;
            let mode = |m| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(m));
            mode(0o555).expect("chmod the folder read-only");
            let out = run(self.command(args), stdin).await;
            mode(0o700).expect("chmod the folder back");
            return out;
        }
        let script = r#"mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@""#;
        run(
            self.command_via(&isolation.prefix(script, dir), args),
            stdin,
        )
        .await
    }

    /// The calls the activity record holds, through the running daemon.
    pub fn recorded(&self) -> usize {
        let out = self
            .command(&["activity", "--json", "-n", "100000", "--tool", TOOL])
            .output()
            .expect("run activity");
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count()
    }

    /// Waits until exactly `n` calls are recorded (never more).
    pub async fn wait_for_recorded(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let seen = self.recorded();
            assert!(seen <= n, "recorded {seen} calls, more than the {n} made");
            if seen == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {seen} of {n} calls recorded after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Runs `cmd` to its end (killed after 30 s), feeding `stdin`.
async fn run(mut cmd: Command, stdin: Option<String>) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn coder-bridge");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    let pid = child.id();
    let waited = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await;
    match waited {
        Ok(joined) => joined.expect("join").expect("output"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("coder-bridge did not exit within 30 s");
        }
    }
}

pub async fn agent(port: u16, token: &str) -> RunningService<RoleClient, ClientConfig> {
    let config =
        StreamableHttpClientTransportConfig::with_uri(format!("http://127.0.0.1:{port}/mcp"))
            .auth_header(token.to_owned());
    bounded(
        "agent connects",
        ClientConfig::default().serve(StreamableHttpClientTransport::from_config(config)),
    )
    .await
    .expect("the agent connects")
}
