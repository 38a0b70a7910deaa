//! The CLI's control client talks to the daemon directly, whatever proxy
//! the environment names: a proxy would see the control token.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::{Arc, Mutex},
    time::Duration,
};

use bridge::{
    auth::StoreChoice,
    consent::ConsentRequest,
    supervisor::{Bridge, BridgeOptions},
};
use tokio::io::AsyncReadExt;

use crate::support::{BIN, free_port};

const PROXY_VARS: [&str; 6] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
];

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("test step timed out")
}

/// A "proxy" that records every byte anyone sends it.
async fn recording_proxy() -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let sink = sink.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    sink.lock().expect("lock").extend_from_slice(&buf[..n]);
                }
            });
        }
    });
    (port, received)
}

async fn consent_json(home: &Path, proxy: &str) -> Output {
    let p: PathBuf = home.to_owned();
    let proxy = proxy.to_owned();
    within(tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(BIN);
        cmd.args(["consent", "--json"])
            .env("HOME", &p)
            .env("XDG_CONFIG_HOME", p.join("config"))
            .env("XDG_DATA_HOME", p.join("data"))
            .env("XDG_STATE_HOME", p.join("state"))
            .env("XDG_RUNTIME_DIR", p.join("run"))
            .env("CODER_BRIDGE_SECRET_STORE", "file")
            .env_remove("CODER_BRIDGE_PORT")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy");
        for var in PROXY_VARS {
            cmd.env(var, &proxy);
        }
        cmd.output().expect("run coder-bridge")
    }))
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_client_ignores_proxies() {
    let home = tempfile::tempdir().expect("temp home");
    let mut options = BridgeOptions::new(
        home.path().join("config/coder-bridge"),
        home.path().join("data/coder-bridge"),
    );
    options.port = 0;
    options.secret_store = StoreChoice::File;
    let bridge = within(Bridge::start(options)).await.expect("bridge starts");
    let token = std::fs::read_to_string(bridge.control_token_path()).expect("control token");

    let (proxy_port, received) = recording_proxy().await;
    let dead = free_port();
    for proxy in [
        format!("http://127.0.0.1:{proxy_port}"),
        format!("http://127.0.0.1:{dead}"),
    ] {
        let out = consent_json(home.path(), &proxy).await;
        assert!(
            out.status.success(),
            "with proxy {proxy}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pending: Vec<ConsentRequest> =
            serde_json::from_slice(&out.stdout).expect("a JSON list");
        assert!(pending.is_empty(), "{pending:?}");
    }
    // Give a proxied connection time to deliver its bytes, then check that
    // none came: not the request, and above all not the control token.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = received.lock().expect("lock").clone();
    assert!(
        seen.is_empty(),
        "the proxy received {:?}",
        String::from_utf8_lossy(&seen)
    );
    assert!(!String::from_utf8_lossy(&seen).contains(token.trim()));
    bridge.shutdown().await;
}
