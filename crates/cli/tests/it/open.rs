//! `coder-bridge open --print` against a running bridge: the printed link is a
//! one-time ticket that buys a dashboard session exactly once (handed to the
//! page in the body, sent back as a bearer header, never a cookie), and no
//! reusable secret (the control token) ever appears in it.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use bridge::auth::StoreChoice;
use bridge::supervisor::{Bridge, BridgeOptions, CredentialsOverride};
use coder_sim::{Sim, SimConfig};

use crate::support::BIN;

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("test step timed out")
}

fn cli(home: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env("CODER_BRIDGE_SECRET_STORE", "file")
        .env_remove("CODER_BRIDGE_PORT")
        .output()
        .expect("run coder-bridge")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_prints_a_one_time_link_that_never_carries_the_control_token() {
    let home = tempfile::tempdir().expect("temp home");
    let sim = Sim::start(SimConfig::default()).await.expect("sim starts");
    let config = home.path().join("config/coder-bridge");
    let mut options = BridgeOptions::new(&config, home.path().join("data/coder-bridge"));
    options.port = 0;
    options.secret_store = StoreChoice::File;
    options.credentials = Some(CredentialsOverride::session_token(
        sim.url(),
        sim.session_token(),
        None,
    ));
    let bridge = within(Bridge::start(options)).await.expect("bridge starts");

    let p = home.path().to_owned();
    let out = within(tokio::task::spawn_blocking(move || {
        cli(&p, &["open", "--print"])
    }))
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "open failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    let origin = format!("http://{}", bridge.local_addr());
    assert!(
        link.starts_with(&format!("{origin}/auth?ticket=")),
        "unexpected link {link}"
    );
    let control_token = bridge::web::read_control_token(&config).expect("control token");
    assert!(
        !link.contains(control_token.expose()),
        "the link must not carry the control token"
    );

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let first = within(http.get(&link).send()).await.expect("redeem");
    assert_eq!(first.status(), reqwest::StatusCode::SEE_OTHER);
    let ticket = link.split("ticket=").nth(1).expect("ticket");
    assert_eq!(
        first.headers()[reqwest::header::LOCATION],
        format!("/#ticket={ticket}").as_str(),
        "the ticket goes on to the page in the fragment"
    );
    let exchange = format!("{origin}/auth/session");
    let session = within(
        http.post(&exchange)
            .json(&serde_json::json!({ "ticket": ticket }))
            .send(),
    )
    .await
    .expect("exchange");
    assert_eq!(session.status(), reqwest::StatusCode::OK);
    assert!(
        session.headers().get(reqwest::header::SET_COOKIE).is_none(),
        "the session is no cookie"
    );
    let body: serde_json::Value = within(session.json()).await.expect("json");
    let session = body["session"].as_str().expect("session").to_owned();
    let status = within(
        http.get(format!("{origin}/api/status"))
            .bearer_auth(&session)
            .send(),
    )
    .await
    .expect("status with the session");
    assert_eq!(status.status(), reqwest::StatusCode::OK);

    let again = within(
        http.post(&exchange)
            .json(&serde_json::json!({ "ticket": ticket }))
            .send(),
    )
    .await
    .expect("second exchange");
    assert_eq!(
        again.status(),
        reqwest::StatusCode::UNAUTHORIZED,
        "a ticket must work once"
    );
    let link_again = within(http.get(&link).send()).await.expect("second redeem");
    assert_ne!(link_again.status(), reqwest::StatusCode::SEE_OTHER);

    within(bridge.shutdown()).await;
    sim.shutdown().await;
}

#[test]
fn open_without_a_daemon_says_how_to_start_one() {
    let home = tempfile::tempdir().expect("temp home");
    // A port nothing listens on: no daemon.json in this HOME, so the env var decides.
    let out = Command::new(BIN)
        .args(["open", "--print"])
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("CODER_BRIDGE_PORT", "1")
        .output()
        .expect("run coder-bridge");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("coder-bridge serve"), "unhelpful error: {err}");
}
