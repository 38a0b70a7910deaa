//! Discovery, registration order and the browser round trip.

use std::time::Duration;

use bridge::auth::{
    AuthError, Credentials, DiscoveredVia, HttpPolicy, PreRegisteredClient, SessionKind, SignIn,
    SignInOptions, discover, discover_well_known,
};
use bridge::secret::Secret;
use coder_sim::SimConfig;

use super::common::{Env, auto, browse, captured_logs, sign_in, sim, users_me, within};

const AUTHORIZE_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "resource",
    "code_challenge",
    "code_challenge_method",
];

#[tokio::test]
async fn discovery_from_the_challenge_and_from_the_well_known() {
    within(async {
        let sim = sim(SimConfig::default()).await;
        let http = reqwest::Client::new();
        let by_challenge = discover(&http, &sim.url(), HttpPolicy::default())
            .await
            .expect("discovers");
        assert_eq!(by_challenge.via, DiscoveredVia::Challenge);
        assert_eq!(
            by_challenge.resource.trim_end_matches('/'),
            sim.url().as_str().trim_end_matches('/')
        );
        assert!(
            by_challenge
                .metadata
                .token_endpoint
                .path()
                .ends_with("/oauth2/tokens")
        );
        assert_eq!(
            by_challenge.metadata.registration_endpoint, None,
            "DCR is off by default"
        );

        let by_well_known = discover_well_known(&http, &sim.url(), HttpPolicy::default())
            .await
            .expect("discovers");
        assert_eq!(by_well_known.via, DiscoveredVia::WellKnown);
        assert_eq!(by_well_known.metadata, by_challenge.metadata);
        assert_eq!(by_well_known.resource, by_challenge.resource);

        sim.faults().set_dcr_enabled(true);
        let with_dcr = discover(&http, &sim.url(), HttpPolicy::default())
            .await
            .expect("discovers");
        assert!(with_dcr.metadata.registration_endpoint.is_some());
    })
    .await;
}

#[tokio::test]
async fn disabled_provider_and_unreachable_hosts_get_clear_errors() {
    within(async {
        let sim = sim(SimConfig {
            provider_enabled: false,
            ..SimConfig::default()
        })
        .await;
        let http = reqwest::Client::new();
        let err = discover(&http, &sim.url(), HttpPolicy::default())
            .await
            .expect_err("no provider");
        assert_eq!(err.code(), "oauth_disabled", "{err}");
        let text = err.to_string();
        assert!(text.contains("CODER_OAUTH2_PROVIDER_ENABLE"), "{text}");
        assert!(text.contains("--token"), "{text}");

        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let nowhere = url::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url");
        let err = discover(&http, &nowhere, HttpPolicy::default())
            .await
            .expect_err("nothing there");
        assert_eq!(err.code(), "unreachable", "{err}");
    })
    .await;
}

#[tokio::test]
async fn without_a_client_or_registration_the_admin_is_told_what_to_enable() {
    within(async {
        let sim = sim(auto()).await;
        let env = Env::new();
        let err = SignIn::start(&env.manager, SignInOptions::new(sim.url().as_str()))
            .await
            .expect_err("no way to register");
        assert_eq!(err.code(), "registration_unavailable");
        let text = err.to_string();
        for needle in [
            "--client-id",
            "dynamic client registration",
            "--token",
            "OAuth2 app",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from: {text}");
        }
        assert_eq!(sim.counters().registrations, 0);
    })
    .await;
}

#[tokio::test]
async fn pre_registered_client_signs_in_and_logs_no_secret() {
    let logs = captured_logs();
    within(async {
        let sim = sim(auto()).await;
        let (client_id, client_secret) =
            sim.register_app("Coder Bridge", &["http://127.0.0.1/callback"], true);
        let client_secret = client_secret.expect("confidential app has a secret");
        let env = Env::new();
        let mut options = SignInOptions::new(sim.url().as_str());
        options.client = Some(PreRegisteredClient {
            client_id: client_id.clone(),
            client_secret: Some(Secret::new(client_secret.clone())),
        });

        let flow = SignIn::start(&env.manager, options).await.expect("starts");
        let url = flow.authorize_url().clone();
        let keys: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
        for key in &keys {
            assert!(
                AUTHORIZE_PARAMS.contains(&key.as_str()),
                "extra authorize param {key}"
            );
        }
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
        assert_eq!(param("client_id").as_deref(), Some(client_id.as_str()));
        assert_eq!(
            param("resource").map(|r| r.trim_end_matches('/').to_owned()),
            Some(sim.url().as_str().trim_end_matches('/').to_owned())
        );
        assert!(!format!("{flow:?}").contains(&client_secret));
        let browser = tokio::spawn(async move { browse(&url).await });
        let account = flow.finish().await.expect("signed in");
        let (status, page) = browser.await.expect("browser");
        assert_eq!(status, 200);
        assert!(page.contains("You can close this tab"));

        assert_eq!(account.kind, SessionKind::Oauth);
        assert_eq!(account.user.username, sim.demo_user().username);
        assert_eq!(account.client_id.as_deref(), Some(client_id.as_str()));
        let counters = sim.counters();
        assert_eq!((counters.authorizations, counters.token_grants), (1, 1));
        assert_eq!(counters.registrations, 0);

        let session = env.manager.current().await.expect("a usable token");
        assert_eq!(users_me(&sim, session.access_token.expose()).await, 200);
        let status = env.manager.status().await;
        assert!(status.signed_in);
        assert_eq!(
            status.user.map(|u| u.username),
            Some(sim.demo_user().username)
        );

        let access = env.secret("#access_token").expect("access token stored");
        let refresh = env.secret("#refresh_token").expect("refresh token stored");
        assert!(!format!("{session:?}").contains(&access));
        let logged = String::from_utf8_lossy(&logs.lock().expect("logs")).into_owned();
        assert!(logged.contains("signed in"), "the capture works");
        for secret in [&access, &refresh, &client_secret] {
            assert!(
                !logged.contains(secret.as_str()),
                "a secret reached the logs"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn dynamic_registration_happens_once_and_is_reused() {
    within(async {
        let sim = sim(auto().dcr(true)).await;
        let env = Env::new();
        let first = sign_in(&env.manager, SignInOptions::new(sim.url().as_str())).await;
        let second = sign_in(&env.manager, SignInOptions::new(sim.url().as_str())).await;
        assert_eq!(first.client_id, second.client_id);
        env.manager.logout().await.expect("logout");
        sign_in(&env.manager, SignInOptions::new(sim.url().as_str())).await;
        let counters = sim.counters();
        assert_eq!(counters.registrations, 1, "one registration, reused");
        assert_eq!(counters.token_grants, 3);
        let registrations = std::fs::read_to_string(env.config().join("registrations.json"))
            .expect("registrations stored");
        assert!(registrations.contains(first.client_id.as_deref().expect("client id")));
        assert!(
            env.secret("#client_secret").is_some(),
            "the DCR secret is kept"
        );
    })
    .await;
}

#[tokio::test]
async fn a_taken_callback_port_gets_a_new_exact_registration() {
    within(async {
        // Older Coder matches the registered port exactly: the registration
        // is tied to its port, so when that port is taken we register anew.
        let sim = sim(auto()
            .dcr(true)
            .redirect_mode(coder_sim::RedirectMode::Legacy))
        .await;
        let env = Env::new();
        let first = sign_in(&env.manager, SignInOptions::new(sim.url().as_str())).await;
        let text = std::fs::read_to_string(env.config().join("registrations.json")).expect("read");
        let stored: serde_json::Value = serde_json::from_str(&text).expect("json");
        let redirect = stored[sim.url().as_str()]["redirect_uri"]
            .as_str()
            .expect("redirect stored")
            .to_owned();
        let port = url::Url::parse(&redirect)
            .expect("url")
            .port()
            .expect("port");
        // tokio sets SO_REUSEADDR, so the port's TIME_WAIT does not stop us.
        let squatter = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("take the port");
        let second = sign_in(&env.manager, SignInOptions::new(sim.url().as_str())).await;
        drop(squatter);
        assert_ne!(first.client_id, second.client_id);
        assert_eq!(sim.counters().registrations, 2);
    })
    .await;
}

#[tokio::test]
async fn denied_stale_and_abandoned_sign_ins_end_cleanly() {
    within(async {
        let sim = sim(auto().dcr(true)).await;
        let env = Env::new();
        let flow = SignIn::start(&env.manager, SignInOptions::new(sim.url().as_str()))
            .await
            .expect("starts");
        let url = flow.authorize_url().clone();
        let get = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .expect("param")
        };
        let (redirect, state) = (get("redirect_uri"), get("state"));
        let http = reqwest::Client::new();
        let forged = http
            .get(format!("{redirect}?code=x&state=not-ours"))
            .send()
            .await
            .expect("forged callback");
        assert_eq!(forged.status().as_u16(), 400, "a wrong state is refused");
        let denied = http
            .get(format!("{redirect}?error=access_denied&state={state}"))
            .send()
            .await
            .expect("callback");
        assert!(
            denied
                .text()
                .await
                .expect("page")
                .contains("You can close this tab")
        );
        let err = flow.finish().await.expect_err("denied");
        assert!(matches!(err, AuthError::AccessDenied { .. }), "{err}");

        let mut options = SignInOptions::new(sim.url().as_str());
        options.timeout = Duration::from_millis(300);
        let flow = SignIn::start(&env.manager, options).await.expect("starts");
        let err = flow.finish().await.expect_err("nobody came");
        assert_eq!(err.code(), "timed_out");
        assert!(!env.manager.status().await.signed_in);
    })
    .await;
}

#[tokio::test]
async fn session_token_sign_in_checks_the_token() {
    within(async {
        let sim = sim(SimConfig::default()).await;
        let env = Env::new();
        let err = env
            .manager
            .sign_in_with_token(
                sim.url().as_str(),
                Secret::new("nope0token-NotAValidSessionTok00"),
            )
            .await
            .expect_err("rejected");
        assert_eq!(err.code(), "invalid_token");
        assert!(!env.manager.status().await.signed_in);

        let account = env
            .manager
            .sign_in_with_token(sim.url().as_str(), Secret::new(sim.session_token()))
            .await
            .expect("accepted");
        assert_eq!(account.kind, SessionKind::SessionToken);
        assert_eq!(account.expires_at, None);
        let session = env.manager.current().await.expect("usable");
        assert_eq!(session.access_token.expose(), sim.session_token());
        // A session token cannot be renewed: a 401 ends the session.
        let err = env
            .manager
            .after_unauthorized(&session.access_token)
            .await
            .expect_err("not refreshable");
        assert_eq!(err.code(), "session_expired");
        assert_eq!(sim.counters().refreshes, 0);
    })
    .await;
}

#[tokio::test]
async fn a_registration_the_server_dropped_is_replaced_not_reused() {
    within(async {
        let sim = sim(auto().dcr(true)).await;
        let env = Env::new();
        let first = sign_in(&env.manager, SignInOptions::new(sim.url().as_str())).await;
        let rejected = env.manager.current().await.expect("token").access_token;
        // The admin deletes the app (RFC 7592 DELETE, as Coder's UI would).
        let text = std::fs::read_to_string(env.config().join("registrations.json")).expect("read");
        let stored: serde_json::Value = serde_json::from_str(&text).expect("json");
        let uri = stored[sim.url().as_str()]["registration_client_uri"]
            .as_str()
            .expect("management URI stored")
            .to_owned();
        let token = env
            .secret("#registration_access_token")
            .expect("registration token stored");
        let deleted = reqwest::Client::new()
            .delete(uri)
            .bearer_auth(token)
            .send()
            .await
            .expect("delete");
        assert!(deleted.status().is_success(), "{}", deleted.status());

        let err = env
            .manager
            .after_unauthorized(&rejected)
            .await
            .expect_err("the client is gone");
        assert_eq!(err.code(), "session_expired");
        let second = sign_in(&env.manager, SignInOptions::new(sim.url().as_str())).await;
        assert_ne!(first.client_id, second.client_id, "a fresh registration");
        assert_eq!(sim.counters().registrations, 2);
        assert!(env.manager.current().await.is_ok());
    })
    .await;
}

#[tokio::test]
async fn older_coder_with_an_exact_port_app_signs_in_on_that_port() {
    within(async {
        // Older Coder: the first registered URI only, port matched exactly.
        let sim = sim(auto().redirect_mode(coder_sim::RedirectMode::Legacy)).await;
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = probe.local_addr().expect("addr").port();
        drop(probe);
        let callback = format!("http://127.0.0.1:{port}/callback");
        let (client_id, secret) = sim.register_app("Coder Bridge", &[callback.as_str()], true);
        let env = Env::new();
        let mut options = SignInOptions::new(sim.url().as_str());
        options.client = Some(PreRegisteredClient {
            client_id,
            client_secret: secret.map(Secret::new),
        });
        options.callback_port = Some(port);
        let flow = env.manager.start_sign_in(options).await.expect("starts");
        let redirect = flow
            .authorize_url()
            .query_pairs()
            .find(|(k, _)| k == "redirect_uri")
            .map(|(_, v)| v.into_owned());
        assert_eq!(redirect.as_deref(), Some(callback.as_str()));
        let url = flow.authorize_url().clone();
        let finishing = tokio::spawn(flow.finish());
        let (status, _) = browse(&url).await;
        assert_eq!(status, 200);
        finishing.await.expect("task").expect("signed in");
        // The stored client remembers its port for next time.
        let again = sign_in(&env.manager, SignInOptions::new(sim.url().as_str())).await;
        assert_eq!(again.kind, SessionKind::Oauth);
        assert_eq!(sim.counters().token_grants, 2);
    })
    .await;
}
