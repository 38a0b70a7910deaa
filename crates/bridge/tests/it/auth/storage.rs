//! Where secrets go, and logout.

use bridge::auth::{AuthManager, Credentials, SecretBackend, SignInOptions, StoreChoice};
use bridge::secret::Secret;
use coder_sim::SimConfig;

use super::common::{Env, auto, sign_in, sim, users_me, within};

#[tokio::test]
async fn file_fallback_is_private_and_account_json_has_no_secret() {
    within(async {
        let sim = sim(auto().dcr(true)).await;
        let env = Env::new();
        let account = sign_in(&env.manager, SignInOptions::new(sim.url().as_str())).await;
        assert_eq!(account.secret_store, SecretBackend::File);
        let access = env.secret("#access_token").expect("stored");
        let account_json =
            std::fs::read_to_string(env.config().join("account.json")).expect("account");
        assert!(!account_json.contains(&access));
        assert!(account_json.contains("\"secret_store\": \"file\""));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |name: &str| {
                std::fs::metadata(env.config().join(name))
                    .expect("exists")
                    .permissions()
                    .mode()
                    & 0o777
            };
            assert_eq!(mode("secrets.json"), 0o600);
            assert_eq!(mode(""), 0o700);
        }
        let status = env.manager.status().await;
        assert_eq!(status.secret_store, Some(SecretBackend::File));
    })
    .await;
}

#[tokio::test]
async fn logout_revokes_deletes_and_is_idempotent() {
    within(async {
        let sim = sim(auto().dcr(true)).await;
        let env = Env::new();
        sign_in(&env.manager, SignInOptions::new(sim.url().as_str())).await;
        let token = env.manager.current().await.expect("token").access_token;
        assert_eq!(users_me(&sim, token.expose()).await, 200);

        let report = env.manager.logout().await.expect("logout");
        assert!(report.revoked, "{report:?}");
        let revocations = sim.counters().revocations;
        assert!(revocations.iter().any(|r| r.revoked), "{revocations:?}");
        assert_eq!(users_me(&sim, token.expose()).await, 401, "token is dead");
        assert!(env.secret("#access_token").is_none());
        assert!(env.secret("#refresh_token").is_none());
        assert!(!env.config().join("account.json").exists());
        assert!(!env.manager.status().await.signed_in);
        let err = env.manager.current().await.expect_err("signed out");
        assert_eq!(err.code(), "signed_out");

        let again = env.manager.logout().await.expect("idempotent");
        assert_eq!(again.deployment, None);
    })
    .await;
}

#[tokio::test]
async fn a_running_manager_notices_sign_in_and_out_by_another() {
    within(async {
        let sim = sim(SimConfig::default()).await;
        let env = Env::new();
        let daemon = AuthManager::with_store(env.config(), StoreChoice::File);
        assert_eq!(
            daemon.current().await.expect_err("none").code(),
            "signed_out"
        );
        env.manager
            .sign_in_with_token(sim.url().as_str(), Secret::new(sim.session_token()))
            .await
            .expect("signed in");
        let session = daemon.current().await.expect("sees the new account");
        assert_eq!(session.access_token.expose(), sim.session_token());
        env.manager.logout().await.expect("logout");
        assert_eq!(
            daemon.current().await.expect_err("gone").code(),
            "signed_out"
        );
    })
    .await;
}

/// The real keychain: run under a Secret Service, e.g.
/// `dbus-run-session -- sh -c 'echo -n pw | gnome-keyring-daemon --unlock --components=secrets; cargo test -p bridge --test it -- --ignored keychain'`
#[tokio::test]
#[ignore = "needs a Secret Service on the session bus (gnome-keyring under dbus-run-session)"]
async fn keychain_holds_the_secrets_when_asked() {
    within(async {
        let sim = sim(SimConfig::default()).await;
        let dir = tempfile::tempdir().expect("dir");
        let manager = AuthManager::with_store(dir.path().join("config"), StoreChoice::Keyring);
        let account = manager
            .sign_in_with_token(sim.url().as_str(), Secret::new(sim.session_token()))
            .await
            .expect("signed in with the keychain");
        assert_eq!(account.secret_store, SecretBackend::Keyring);
        assert!(!dir.path().join("config/secrets.json").exists());
        let again = AuthManager::with_store(dir.path().join("config"), StoreChoice::File);
        let session = again.current().await.expect("read back from the keychain");
        assert_eq!(session.access_token.expose(), sim.session_token());
        manager.logout().await.expect("logout");
        assert_eq!(
            again.current().await.expect_err("gone").code(),
            "signed_out"
        );
    })
    .await;
}
