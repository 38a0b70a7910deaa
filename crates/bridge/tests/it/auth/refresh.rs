//! Refresh: ahead of expiry, single-flight in a process and across
//! managers sharing a config dir, and `invalid_grant` signing out once.

use std::time::Duration;

use bridge::auth::{AuthManager, Credentials, SignInOptions, StoreChoice};
use futures::future::join_all;

use super::common::{Env, auto, sign_in, sim, users_me, within};

#[tokio::test]
async fn refreshes_ahead_of_expiry_with_the_resource() {
    within(async {
        let sim = sim(auto()
            .dcr(true)
            .access_token_lifetime(Duration::from_secs(2)))
        .await;
        let env = Env::new();
        sign_in(&env.manager, SignInOptions::new(sim.url().as_str())).await;
        let first = env.manager.current().await.expect("token");
        assert_eq!(sim.counters().refreshes, 0, "fresh token: no refresh");
        // Renewed once the token nears its expiry: look until it is.
        let (manager, old) = (&env.manager, &first.access_token);
        let second =
            crate::support::eventually("the token renewed ahead of expiry", move || async move {
                let token = manager.current().await.expect("a token");
                (token.access_token != *old).then_some(token)
            })
            .await;
        assert_ne!(first.access_token, second.access_token);
        assert_eq!(sim.counters().refreshes, 1);
        // The sim checks the audience: the renewed token was issued for the
        // access URL, or this would be a 403.
        assert_eq!(users_me(&sim, second.access_token.expose()).await, 200);
        let third = env.manager.current().await.expect("still fresh");
        assert_eq!(third.access_token, second.access_token);
        assert_eq!(sim.counters().refreshes, 1);
    })
    .await;
}

#[tokio::test]
async fn twenty_concurrent_401s_cause_one_refresh() {
    within(async {
        let sim = sim(auto().dcr(true)).await;
        let env = Env::new();
        sign_in(&env.manager, SignInOptions::new(sim.url().as_str())).await;
        let rejected = env.manager.current().await.expect("token").access_token;
        sim.faults().expire_all_tokens();
        assert_eq!(users_me(&sim, rejected.expose()).await, 401);

        let calls = (0..20).map(|_| {
            let manager = env.manager.clone();
            let rejected = rejected.clone();
            tokio::spawn(async move { manager.after_unauthorized(&rejected).await })
        });
        let results: Vec<_> = join_all(calls)
            .await
            .into_iter()
            .map(|r| r.expect("task").expect("renewed"))
            .collect();
        let renewed = &results[0].access_token;
        assert!(results.iter().all(|s| &s.access_token == renewed));
        assert_ne!(renewed, &rejected);
        assert_eq!(sim.counters().refreshes, 1, "exactly one refresh grant");
        assert_eq!(sim.counters().failed_refreshes, 0);
        assert_eq!(users_me(&sim, renewed.expose()).await, 200);
    })
    .await;
}

#[tokio::test]
async fn two_managers_on_one_config_dir_refresh_once() {
    within(async {
        let sim = sim(auto().dcr(true)).await;
        let env = Env::new();
        sign_in(&env.manager, SignInOptions::new(sim.url().as_str())).await;
        // A second manager on the same directory stands for another
        // process: its own cache and in-process gate, the same files.
        let other = AuthManager::with_store(env.config(), StoreChoice::File);
        for round in 1..=3u64 {
            let a = env.manager.current().await.expect("a").access_token;
            let b = other.current().await.expect("b").access_token;
            assert_eq!(a, b);
            sim.faults().expire_all_tokens();
            let (ra, rb) = tokio::join!(
                env.manager.after_unauthorized(&a),
                other.after_unauthorized(&b)
            );
            let (ra, rb) = (ra.expect("a renewed"), rb.expect("b renewed"));
            assert_eq!(ra.access_token, rb.access_token);
            assert_eq!(sim.counters().refreshes, round, "one refresh per round");
        }
        assert_eq!(sim.counters().failed_refreshes, 0, "nobody was signed out");
        assert!(env.manager.status().await.signed_in);
    })
    .await;
}

#[tokio::test]
async fn invalid_grant_signs_out_once_without_retrying() {
    within(async {
        let sim = sim(auto().dcr(true)).await;
        let env = Env::new();
        sign_in(&env.manager, SignInOptions::new(sim.url().as_str())).await;
        let rejected = env.manager.current().await.expect("token").access_token;
        // A refresh token the server does not know (e.g. rotated by a copy
        // of the app we cannot see): the server answers invalid_grant.
        env.set_secret("#refresh_token", "coder_bogus_refresh_token");
        let err = env
            .manager
            .after_unauthorized(&rejected)
            .await
            .expect_err("signed out");
        assert_eq!(err.code(), "session_expired");
        assert!(err.needs_sign_in());
        assert_eq!(sim.counters().failed_refreshes, 1);

        let again = env.manager.current().await.expect_err("still signed out");
        assert_eq!(again.code(), "session_expired");
        let again = env
            .manager
            .after_unauthorized(&rejected)
            .await
            .expect_err("no loop");
        assert_eq!(again.code(), "session_expired");
        assert_eq!(sim.counters().failed_refreshes, 1, "no retry loop");
        assert_eq!(sim.counters().refreshes, 0);

        let status = env.manager.status().await;
        assert!(!status.signed_in && status.session_expired);
        assert!(env.secret("#access_token").is_none(), "dead tokens deleted");

        // Signing in again recovers.
        sign_in(&env.manager, SignInOptions::new(sim.url().as_str())).await;
        assert!(env.manager.current().await.is_ok());
    })
    .await;
}

const CHILD_CONFIG: &str = "AUTH_SIM_CHILD_CONFIG";
const CHILD_REJECTED: &str = "AUTH_SIM_CHILD_REJECTED";

#[tokio::test]
async fn two_processes_refreshing_at_once_cause_one_refresh() {
    within(async {
        let sim = sim(auto().dcr(true)).await;
        let env = Env::new();
        sign_in(&env.manager, SignInOptions::new(sim.url().as_str())).await;
        let rejected = env.manager.current().await.expect("token").access_token;
        sim.faults().expire_all_tokens();
        // Two copies of this test binary, each running only the helper
        // below: separate processes sharing the config dir.
        let exe = std::env::current_exe().expect("test binary");
        let spawn = || {
            tokio::process::Command::new(&exe)
                .args([
                    "--ignored",
                    "--exact",
                    "auth::refresh::helper_process_renews_the_token",
                    "--nocapture",
                ])
                .env(CHILD_CONFIG, env.config())
                .env(CHILD_REJECTED, rejected.expose())
                .kill_on_drop(true)
                .output()
        };
        let (a, b) = tokio::join!(spawn(), spawn());
        let token_of = |out: std::process::Output| {
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(out.status.success(), "helper failed: {stdout}");
            stdout
                .lines()
                .find_map(|l| l.strip_prefix("RENEWED=").map(str::to_owned))
                .expect("helper reports its token")
        };
        let (a, b) = (token_of(a.expect("run a")), token_of(b.expect("run b")));
        assert_eq!(a, b, "both processes use the same renewed token");
        assert_ne!(a, rejected.expose());
        let counters = sim.counters();
        assert_eq!(counters.refreshes, 1, "exactly one refresh grant");
        assert_eq!(counters.failed_refreshes, 0, "nobody was signed out");
        assert_eq!(
            env.manager
                .current()
                .await
                .expect("parent too")
                .access_token
                .expose(),
            a
        );
    })
    .await;
}

/// Runs only as a child of the test above (which sets the variables).
#[tokio::test]
#[ignore = "helper process for two_processes_refreshing_at_once_cause_one_refresh"]
async fn helper_process_renews_the_token() {
    let (Ok(dir), Ok(rejected)) = (std::env::var(CHILD_CONFIG), std::env::var(CHILD_REJECTED))
    else {
        // Not a test of its own: `--include-ignored` runs it without a parent.
        eprintln!("helper only: run by two_processes_refreshing_at_once_cause_one_refresh");
        return;
    };
    let manager = AuthManager::with_store(dir, StoreChoice::File);
    let session = manager
        .after_unauthorized(&bridge::secret::Secret::new(rejected))
        .await
        .expect("renewed");
    println!("RENEWED={}", session.access_token.expose());
}
