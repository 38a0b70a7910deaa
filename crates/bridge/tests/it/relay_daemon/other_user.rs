//! On Linux the daemon serves loopback TCP only to processes of its own
//! user: a client token copied to another account gets a closed connection.

use std::{process::Command, sync::Arc};

use bridge::{
    auth::{StaticToken, UpstreamSession},
    client_tokens::ClientTokens,
    secret::Secret,
    server::Daemon,
};

use super::harness::{bounded, fast_options};

/// The user nobody, which exists on every Linux system.
const NOBODY: u32 = 65534;

/// Sends `GET /healthz` to the daemon with bash's `/dev/tcp`, as `uid`
/// (`None`: as this process's user), and returns what came back.
fn ask_healthz(port: u16, uid: Option<u32>) -> String {
    let script = format!(
        "exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET /healthz HTTP/1.1\\r\\nHost: 127.0.0.1:{port}\\r\\nConnection: close\\r\\n\\r\\n' >&3 && timeout 10 cat <&3"
    );
    let mut command = Command::new("bash");
    command.args(["-c", &script]);
    if let Some(uid) = uid {
        use std::os::unix::process::CommandExt;
        command.uid(uid).gid(uid);
    }
    let output = command.output().expect("run bash");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_tcp_serves_our_user_and_closes_on_another() {
    let dir = tempfile::tempdir().expect("dir");
    let tokens = ClientTokens::open(dir.path().join("t.json")).expect("tokens");
    let credentials = Arc::new(StaticToken(UpstreamSession {
        access_url: "http://127.0.0.1:9/".parse().expect("url"),
        access_token: Secret::new("unused"),
        expires_at: None,
    }));
    let daemon = Daemon::builder()
        .credentials(credentials)
        .tokens(tokens)
        .port(0)
        .relay_options(fast_options())
        .start()
        .await
        .expect("daemon");
    let port = daemon.local_addr().port();

    let ours = bounded(
        "our request",
        tokio::task::spawn_blocking(move || ask_healthz(port, None)),
    )
    .await
    .expect("join");
    assert!(ours.starts_with("HTTP/1.1 200"), "{ours}");

    // Switching user needs root; as anyone else only our half runs (the
    // decision itself is covered by `server::peer`'s tests with crafted
    // kernel tables).
    if running_as_root() {
        let theirs = bounded(
            "nobody's request",
            tokio::task::spawn_blocking(move || ask_healthz(port, Some(NOBODY))),
        )
        .await
        .expect("join");
        assert_eq!(theirs, "", "another user's process got an answer");
        // The daemon still serves us afterwards.
        let again = tokio::task::spawn_blocking(move || ask_healthz(port, None))
            .await
            .expect("join");
        assert!(again.starts_with("HTTP/1.1 200"), "{again}");
    }
    daemon.shutdown().await;
}
