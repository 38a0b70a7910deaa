//! The rules alone, then a real bridge against the simulated Coder: one
//! browser for many requests, the cooldown, no display, and the bridge's
//! own work never opening a browser.

use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;

use coder_sim::{Sim, SimConfig};

use super::*;
use crate::auth::{AuthManager, Credentials, SignIn, SignInOptions, StoreChoice};
use crate::supervisor::{Bridge, BridgeOptions};

const MIN: Duration = Duration::from_secs(60);

#[test]
fn rules_join_start_and_refuse() {
    let now = Instant::now();
    let id = Uuid::new_v4();
    let oauth = Some(SessionKind::Oauth);
    let decide_at = |waiting, target, last, unavailable| {
        decide(waiting, target, last, now, 10 * MIN, unavailable)
    };
    assert_eq!(
        decide_at(Some(id), oauth, Some(now), None),
        Decision::Join(id)
    );
    assert_eq!(decide_at(None, oauth, None, None), Decision::Start);
    assert!(matches!(
        decide_at(None, None, None, None),
        Decision::Refuse(_)
    ));
    assert!(matches!(
        decide_at(None, Some(SessionKind::SessionToken), None, None),
        Decision::Refuse(_)
    ));
    // The cooldown counts from the last automatic start.
    let Decision::Refuse(why) = decide_at(None, oauth, now.checked_sub(9 * MIN), None) else {
        panic!("within the cooldown");
    };
    assert!(why.contains("10 minutes"), "{why}");
    assert_eq!(
        decide_at(None, oauth, now.checked_sub(11 * MIN), None),
        Decision::Start
    );
    assert_eq!(
        decide_at(None, oauth, None, Some("no display".into())),
        Decision::Refuse("no display".into())
    );
}

/// Plays the browser: counts the pages opened and, when `complete`, signs
/// in on them as the simulator's auto-approving user would.
#[derive(Default)]
struct FakeBrowser {
    opened: AtomicUsize,
    complete: bool,
    unavailable: Option<String>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl SignInOpener for FakeBrowser {
    fn unavailable(&self) -> Option<String> {
        self.unavailable.clone()
    }

    fn open(&self, url: &Url) -> Result<(), String> {
        self.opened.fetch_add(1, Ordering::SeqCst);
        if self.complete {
            let url = url.clone();
            let task = tokio::spawn(async move { browse(&url).await });
            self.tasks.lock().expect("tasks").push(task);
        }
        Ok(())
    }
}

/// GET the authorize page (auto-approve redirects), then the callback.
async fn browse(authorize: &Url) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let first = http.get(authorize.clone()).send().await.expect("authorize");
    let location = first
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("redirect")
        .to_owned();
    let back = http.get(location).send().await.expect("callback");
    assert!(back.status().is_success(), "{}", back.status());
}

struct Rig {
    _dir: tempfile::TempDir,
    sim: Sim,
    bridge: BridgeHandle,
    browser: Arc<FakeBrowser>,
}

impl Rig {
    /// Signed in once, then signed out: the deployment is known, the tokens gone.
    async fn signed_out(browser: FakeBrowser, wait: Duration) -> Self {
        Self::start(browser, wait, true).await
    }

    /// Signed in, and (with `sign_out`) signed out again.
    async fn start(browser: FakeBrowser, wait: Duration, sign_out: bool) -> Self {
        let sim = Sim::start(SimConfig::default().auto_approve(true).dcr(true))
            .await
            .expect("sim");
        let dir = tempfile::tempdir().expect("dir");
        let config = dir.path().join("config");
        let manager = AuthManager::with_store(&config, StoreChoice::File);
        let flow = SignIn::start(&manager, SignInOptions::new(sim.url().as_str()))
            .await
            .expect("sign-in starts");
        let url = flow.authorize_url().clone();
        let finishing = tokio::spawn(flow.finish());
        browse(&url).await;
        finishing.await.expect("task").expect("signed in");
        if sign_out {
            manager.logout().await.expect("logout");
        }

        let browser = Arc::new(browser);
        let mut options = BridgeOptions::new(&config, dir.path().join("data"));
        options.port = 0;
        options.secret_store = StoreChoice::File;
        options.auto_sign_in = AutoSignInOptions {
            enabled: true,
            cooldown: 10 * MIN,
            wait,
            opener: browser.clone(),
        };
        let bridge = Bridge::start(options).await.expect("bridge");
        Self {
            _dir: dir,
            sim,
            bridge,
            browser,
        }
    }

    fn opened(&self) -> usize {
        self.browser.opened.load(Ordering::SeqCst)
    }

    async fn stop(self) {
        self.bridge.shutdown().await;
        self.sim.shutdown().await;
    }
}

async fn bounded<T>(work: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), work)
        .await
        .expect("test timed out")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_one_browser_sign_in_and_then_work() {
    bounded(async {
        let browser = FakeBrowser {
            complete: true,
            ..FakeBrowser::default()
        };
        let rig = Rig::signed_out(browser, Duration::from_secs(20)).await;
        let registrations = rig.sim.counters().registrations;
        // The bridge's own connecting ahead at start opened nothing.
        assert!(!rig.bridge.status().await.signed_in);
        assert!(rig.bridge.status().await.last_deployment.is_some());
        assert_eq!(rig.opened(), 0);

        let creds = rig.bridge.core.credentials.clone();
        let calls = (0..4).map(|_| {
            let creds = creds.clone();
            tokio::spawn(async move { creds.current().await })
        });
        for call in futures::future::join_all(calls).await {
            let session = call.expect("task").expect("signed in again");
            assert_eq!(session.access_url, rig.sim.url());
        }
        assert_eq!(rig.opened(), 1, "one browser page for four requests");
        assert_eq!(
            rig.sim.counters().registrations,
            registrations,
            "the stored client registration is reused"
        );
        let status = rig.bridge.status().await;
        assert!(status.signed_in && !status.signing_in, "{status:?}");
        rig.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_sign_in_fails_clearly_and_is_not_reopened_within_the_cooldown() {
    bounded(async {
        let rig = Rig::signed_out(FakeBrowser::default(), Duration::from_millis(600)).await;
        let creds = rig.bridge.core.credentials.clone();
        let first = tokio::spawn({
            let creds = creds.clone();
            async move { creds.current().await }
        });
        // While it waits, the faces see a sign-in under way.
        let mut seen = false;
        for _ in 0..50 {
            if rig.bridge.status().await.signing_in {
                seen = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(seen, "status shows the sign-in in progress");
        let err = first.await.expect("task").expect_err("nobody finished it");
        assert!(err.needs_sign_in(), "{err}");
        assert_eq!(rig.opened(), 1);

        // The page is still open: a new request waits on it, opens nothing.
        creds.current().await.expect_err("still unfinished");
        assert_eq!(rig.opened(), 1);

        // The user closed it (the attempt ended): within the cooldown, the
        // next request fails at once instead of reopening the browser.
        rig.bridge.core.attempts.cancel_current();
        let started = Instant::now();
        creds.current().await.expect_err("cooldown");
        assert!(started.elapsed() < Duration::from_millis(500));
        assert_eq!(rig.opened(), 1, "no second page within the cooldown");
        rig.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_display_requests_fail_at_once_and_nothing_opens() {
    bounded(async {
        let browser = FakeBrowser {
            unavailable: Some("no graphical session".into()),
            ..FakeBrowser::default()
        };
        let rig = Rig::signed_out(browser, Duration::from_secs(20)).await;
        let started = Instant::now();
        let err = rig
            .bridge
            .core
            .credentials
            .current()
            .await
            .expect_err("signed out");
        assert_eq!(err.code(), "signed_out");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(rig.opened(), 0);
        assert!(!rig.bridge.status().await.signing_in);
        rig.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_work_never_opens_the_browser() {
    bounded(async {
        let rig = Rig::signed_out(FakeBrowser::default(), Duration::from_secs(20)).await;
        let creds = rig.bridge.core.credentials.clone();
        crate::auth::without_auto_sign_in(creds.current())
            .await
            .expect_err("signed out");
        // The policy page lists tools through the relay: no browser either.
        let _ = rig.bridge.policy().await;
        assert_eq!(rig.opened(), 0);
        rig.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_renewal_brings_the_user_back_to_sign_in_once() {
    bounded(async {
        let browser = FakeBrowser {
            complete: true,
            ..FakeBrowser::default()
        };
        let rig = Rig::start(browser, Duration::from_secs(20), false).await;
        let creds = rig.bridge.core.credentials.clone();
        creds.current().await.expect("signed in");
        assert_eq!(rig.opened(), 0);

        // Coder will refuse to renew: the stored refresh token is not one it
        // issued, and the access token is due for renewal.
        let config = rig.bridge.core.options.config_dir.clone();
        let secrets_path = config.join("secrets.json");
        let mut secrets: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&std::fs::read(&secrets_path).expect("secrets")).expect("json");
        for (key, value) in &mut secrets {
            if key.ends_with("#refresh_token") {
                *value = "not-a-refresh-token".into();
            }
        }
        std::fs::write(&secrets_path, serde_json::to_vec(&secrets).expect("json"))
            .expect("write secrets");
        let account_path = config.join("account.json");
        let mut account: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&account_path).expect("account")).expect("json");
        account["obtained_at"] = "2000-01-01T00:00:00Z".into();
        account["expires_at"] = "2000-01-01T01:00:00Z".into();
        std::fs::write(&account_path, serde_json::to_vec(&account).expect("json"))
            .expect("write account");

        let failed_before = rig.sim.counters().failed_refreshes;
        let session = creds.current().await.expect("signed in once more");
        assert_eq!(session.access_url, rig.sim.url());
        assert_eq!(rig.sim.counters().failed_refreshes, failed_before + 1);
        assert_eq!(rig.opened(), 1, "one page for the ended session");
        assert!(rig.bridge.status().await.signed_in);
        rig.stop().await;
    })
    .await;
}
