//! `coder-bridge login` / `status` / `logout` as a user runs them: the real
//! binary, HOME and XDG dirs in a temp dir, secrets in the 0600 file, the
//! simulated Coder in this process, and `$BROWSER` a script that follows the
//! sign-in link with curl.

use std::process::Stdio;
use std::time::Duration;

use coder_sim::{Sim, SimConfig};
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;

struct Home {
    dir: TempDir,
    /// A port nothing listens on, so `status` sees no daemon.
    daemon_port: u16,
    /// More environment for every run (proxy settings).
    extra_env: Vec<(String, String)>,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let browser = dir.path().join("browser.sh");
        std::fs::write(&browser, "#!/bin/sh\nexec curl -sfL -o /dev/null \"$1\"\n")
            .expect("script");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let daemon_port = probe.local_addr().expect("addr").port();
        drop(probe);
        Self {
            dir,
            daemon_port,
            extra_env: Vec::new(),
        }
    }

    async fn run(&self, args: &[&str], stdin: Option<&str>) -> Run {
        self.run_with(args, stdin, &[]).await
    }

    async fn run_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
        let root = self.dir.path();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_coder-bridge"));
        cmd.args(args)
            .envs(env.iter().copied())
            .env("HOME", root)
            .env("XDG_CONFIG_HOME", root.join("config"))
            .env("XDG_DATA_HOME", root.join("data"))
            .env("XDG_STATE_HOME", root.join("state"))
            .env("CODER_BRIDGE_SECRET_STORE", "file")
            .env("CODER_BRIDGE_PORT", self.daemon_port.to_string())
            .env("BROWSER", root.join("browser.sh"))
            .env_remove("CODER_BRIDGE_LOG")
            .envs(self.extra_env.iter().cloned())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn coder-bridge");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(input.as_bytes()).await.expect("write stdin");
            drop(pipe);
        }
        let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .expect("coder-bridge finished in time")
            .expect("output");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    async fn status_json(&self) -> (i32, serde_json::Value) {
        let run = self.run(&["status", "--json"], None).await;
        let value = serde_json::from_str(&run.stdout).expect("status --json prints JSON");
        (run.code, value)
    }
}

async fn sim(config: SimConfig) -> Sim {
    Sim::start(config).await.expect("simulator starts")
}

#[tokio::test]
async fn token_login_status_and_logout_exit_codes() {
    let sim = sim(SimConfig::default()).await;
    let home = Home::new();
    let url = sim.url().to_string();

    let (code, before) = home.status_json().await;
    assert_eq!(code, 1, "signed out");
    assert_eq!(before["signed_in"], false);
    assert_eq!(before["daemon"]["running"], false);

    let bad = home
        .run(
            &["login", &url, "--token"],
            Some("nope0token-NotAValidSessionTok00\n"),
        )
        .await;
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("not accepted"), "{}", bad.stderr);

    let token = sim.session_token();
    let good = home
        .run(&["login", &url, "--token"], Some(&format!("{token}\n")))
        .await;
    assert_eq!(good.code, 0, "{}", good.stderr);
    assert!(good.stdout.contains("Signed in"), "{}", good.stdout);
    assert!(!good.stdout.contains(&token) && !good.stderr.contains(&token));

    let (code, status) = home.status_json().await;
    assert_eq!(code, 0);
    assert_eq!(status["signed_in"], true);
    assert_eq!(status["kind"], "session_token");
    assert_eq!(status["secret_store"], "file");
    assert_eq!(
        status["user"]["username"],
        sim.demo_user().username.as_str()
    );
    let text = home.run(&["status"], None).await;
    assert_eq!(text.code, 0);
    assert!(text.stdout.contains("secrets:"), "{}", text.stdout);
    assert!(
        text.stdout.contains("daemon:      not running"),
        "{}",
        text.stdout
    );

    let out = home.run(&["logout"], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(home.status_json().await.0, 1);
    let again = home.run(&["logout"], None).await;
    assert_eq!(again.code, 0, "logout is idempotent");
}

/// A bare `login` signs in again where the user was signed in last; with
/// no earlier sign-in it says what to type.
#[tokio::test]
async fn login_without_a_url_uses_the_last_deployment() {
    let sim = sim(SimConfig::default()).await;
    let home = Home::new();
    let token = format!("{}\n", sim.session_token());

    let first = home.run(&["login", "--token"], Some(&token)).await;
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert!(
        first.stderr.contains("coder-bridge login <deployment-url>"),
        "{}",
        first.stderr
    );

    let url = sim.url().to_string();
    let out = home.run(&["login", &url, "--token"], Some(&token)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(home.run(&["logout"], None).await.code, 0);
    assert_eq!(home.status_json().await.0, 1, "signed out");

    let again = home.run(&["login", "--token"], Some(&token)).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("the last deployment"),
        "{}",
        again.stderr
    );
    let (code, status) = home.status_json().await;
    assert_eq!(code, 0);
    assert_eq!(status["deployment"], url.as_str());
}

#[tokio::test]
async fn browser_login_with_a_pre_registered_client() {
    let sim = sim(SimConfig::default().auto_approve(true)).await;
    let (client_id, secret) =
        sim.register_app("Coder Bridge", &["http://127.0.0.1/callback"], true);
    let secret = secret.expect("secret");
    let home = Home::new();
    let url = sim.url().to_string();
    let run = home
        .run(
            &[
                "login",
                &url,
                "--client-id",
                &client_id,
                "--client-secret",
                &secret,
                "--timeout",
                "20",
            ],
            None,
        )
        .await;
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert!(
        run.stderr.contains("/oauth2/authorize?"),
        "prints the URL: {}",
        run.stderr
    );
    assert!(run.stdout.contains("Signed in"), "{}", run.stdout);
    assert!(
        !run.stderr.contains(&secret),
        "the client secret is never printed"
    );
    assert_eq!(sim.counters().token_grants, 1);

    let (code, status) = home.status_json().await;
    assert_eq!(code, 0);
    assert_eq!(status["kind"], "oauth");
    assert!(status["expires_at"].is_string());

    // A second login reuses the stored client: no flags needed.
    let again = home.run(&["login", &url, "--timeout", "20"], None).await;
    assert_eq!(again.code, 0, "{}", again.stderr);

    let out = home.run(&["logout"], None).await;
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("Revoked"), "{}", out.stdout);
    assert!(sim.counters().revocations.iter().any(|r| r.revoked));
    assert_eq!(home.status_json().await.0, 1);
}

/// The client secret can stay off the command line (where `ps` and the
/// shell's history show it): from stdin with `-`, or from the environment.
/// On the command line it still works, with a warning.
#[tokio::test]
async fn the_client_secret_comes_from_stdin_the_environment_or_with_a_warning_the_command_line() {
    let sim = sim(SimConfig::default().auto_approve(true)).await;
    let (client_id, secret) =
        sim.register_app("Coder Bridge", &["http://127.0.0.1/callback"], true);
    let secret = secret.expect("secret");
    let url = sim.url().to_string();
    let base = ["login", &url, "--client-id", &client_id, "--timeout", "20"];
    let warning = "visible to other processes";
    // A fresh HOME each time: a stored client would make the secret moot.
    let mut from_stdin = base.to_vec();
    from_stdin.extend(["--client-secret", "-"]);

    let stdin = Home::new()
        .run(&from_stdin, Some(&format!("{secret}\n")))
        .await;
    assert_eq!(stdin.code, 0, "{}", stdin.stderr);
    assert!(!stdin.stderr.contains(warning), "{}", stdin.stderr);

    let env = Home::new()
        .run_with(
            &base,
            None,
            &[(bridge::env::CLIENT_SECRET, secret.as_str())],
        )
        .await;
    assert_eq!(env.code, 0, "{}", env.stderr);
    assert!(!env.stderr.contains(warning), "{}", env.stderr);

    let mut on_argv = base.to_vec();
    on_argv.extend(["--client-secret", secret.as_str()]);
    let argv = Home::new().run(&on_argv, None).await;
    assert_eq!(argv.code, 0, "{}", argv.stderr);
    assert!(argv.stderr.contains(warning), "{}", argv.stderr);
    assert!(
        argv.stderr.contains("--client-secret -")
            && argv.stderr.contains(bridge::env::CLIENT_SECRET),
        "{}",
        argv.stderr
    );
    assert!(!argv.stderr.contains(&secret) && !argv.stdout.contains(&secret));
    assert_eq!(sim.counters().token_grants, 3);

    // The secret read is the one sent: a wrong one is refused.
    let wrong = Home::new().run(&from_stdin, Some("not-the-secret\n")).await;
    assert_ne!(wrong.code, 0, "{}", wrong.stderr);
    assert_eq!(sim.counters().token_grants, 3);
}

#[tokio::test]
async fn login_without_any_client_explains_what_to_enable() {
    let sim = sim(SimConfig::default().auto_approve(true)).await;
    let home = Home::new();
    let run = home
        .run(&["login", sim.url().as_str(), "--no-browser"], None)
        .await;
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("--client-id"), "{}", run.stderr);
    assert!(run.stderr.contains("--token"), "{}", run.stderr);
    assert_eq!(home.status_json().await.0, 1);
}

/// A deployment on another host over plain http: refused unless the user
/// says `--allow-http`, which warns and is remembered. The simulator stands
/// in for `http://coder-sim.test:PORT` as the user's HTTP proxy, which the
/// CLI (and curl, the test's browser) honour for hosts other than loopback.
#[tokio::test]
async fn plain_http_elsewhere_needs_allow_http_and_is_remembered() {
    let sim = sim(SimConfig::default()
        .auto_approve(true)
        .dcr(true)
        .access_host("coder-sim.test"))
    .await;
    let mut home = Home::new();
    let proxy = format!("http://{}", sim.listen_addr());
    for (name, value) in [
        ("http_proxy", proxy.as_str()),
        ("no_proxy", "127.0.0.1,localhost"),
        ("https_proxy", ""),
        ("HTTPS_PROXY", ""),
        ("all_proxy", ""),
        ("ALL_PROXY", ""),
    ] {
        home.extra_env.push((name.into(), value.into()));
    }
    let url = sim.url().to_string();
    assert!(url.starts_with("http://coder-sim.test:"), "{url}");

    let refused = home.run(&["login", &url, "--timeout", "20"], None).await;
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("--allow-http"),
        "names the flag: {}",
        refused.stderr
    );
    let token = format!("{}\n", sim.session_token());
    let refused = home.run(&["login", &url, "--token"], Some(&token)).await;
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("--allow-http"),
        "{}",
        refused.stderr
    );
    assert_eq!(sim.counters().registrations, 0, "nothing was sent");

    let allowed = home
        .run(&["login", &url, "--allow-http", "--timeout", "20"], None)
        .await;
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    assert!(
        allowed.stderr.contains("WARNING: --allow-http"),
        "warns loudly: {}",
        allowed.stderr
    );
    assert_eq!(sim.counters().token_grants, 1);
    let (code, status) = home.status_json().await;
    assert_eq!(code, 0);
    assert_eq!(status["deployment"], url.as_str());

    // Remembered for this deployment: signing in again needs no flag.
    let again = home.run(&["login", &url, "--timeout", "20"], None).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(sim.counters().token_grants, 2);
}
