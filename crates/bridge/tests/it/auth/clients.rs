//! Which OAuth2 client a sign-in uses and how it authenticates: a client
//! metadata document (SEP-991) instead of a registration, and a refused
//! secret that does not cost the user their registration.

use bridge::auth::{ClientAuth, Credentials, PreRegisteredClient, SignIn, SignInOptions};
use bridge::secret::Secret;
use serde_json::json;

use super::common::{Env, auto, browse, sign_in, sim, within};

const DOCUMENT: &str = "coder-bridge.json";

fn document(client_id: &str) -> String {
    json!({
        "client_id": client_id,
        "client_name": "Coder Bridge",
        "redirect_uris": ["http://127.0.0.1/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
    .to_string()
}

#[tokio::test]
async fn a_client_metadata_document_signs_in_without_registration() {
    within(async {
        let sim = sim(auto().client_metadata_documents(true)).await;
        let url = sim
            .url()
            .join(&format!("sim/client-metadata/{DOCUMENT}"))
            .expect("url");
        let hosted = sim.host_client_metadata(DOCUMENT, &document(url.as_str()));
        assert_eq!(hosted, url);
        let env = Env::new();
        let mut options = SignInOptions::new(sim.url().as_str());
        options.client_metadata_url = Some(url.clone());
        let account = sign_in(&env.manager, options).await;
        assert_eq!(account.client_id.as_deref(), Some(url.as_str()));
        assert_eq!(account.client_auth, Some(ClientAuth::None));
        assert_eq!(sim.counters().registrations, 0, "nothing was registered");

        // Refresh and revocation as the same public client.
        let session = env.manager.current().await.expect("token");
        env.manager
            .after_unauthorized(&session.access_token)
            .await
            .expect("renewed");
        assert_eq!(sim.counters().refreshes, 1);

        // Remembered: the next sign-in needs no setting.
        let again = sign_in(&env.manager, SignInOptions::new(sim.url().as_str())).await;
        assert_eq!(again.client_id.as_deref(), Some(url.as_str()));

        let report = env.manager.logout().await.expect("logout");
        assert!(report.revoked, "{report:?}");
        assert!(
            sim.counters()
                .revocations
                .iter()
                .any(|r| r.revoked && r.client_id == url.as_str())
        );
    })
    .await;
}

#[tokio::test]
async fn a_metadata_document_is_not_used_where_the_server_does_not_take_one() {
    within(async {
        // Coder itself does not advertise SEP-991: the document URL is not
        // sent, and the usual "no client" advice follows.
        let sim = sim(auto()).await;
        let env = Env::new();
        let mut options = SignInOptions::new(sim.url().as_str());
        options.client_metadata_url =
            Some(url::Url::parse("https://example.com/coder-bridge.json").expect("url"));
        let err = SignIn::start(&env.manager, options)
            .await
            .expect_err("no client");
        assert_eq!(err.code(), "registration_unavailable", "{err}");

        // A document URL must be https (or loopback) with a path.
        let sim = super::common::sim(auto().client_metadata_documents(true)).await;
        for bad in ["http://example.com/doc.json", "https://example.com/"] {
            let mut options = SignInOptions::new(sim.url().as_str());
            options.client_metadata_url = Some(url::Url::parse(bad).expect("url"));
            let err = SignIn::start(&env.manager, options)
                .await
                .expect_err("bad document URL");
            assert!(err.to_string().contains(bad.trim_end_matches('/')), "{err}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_refused_client_secret_keeps_the_registration() {
    within(async {
        let sim = sim(auto()).await;
        let (client_id, _secret) =
            sim.register_app("Coder Bridge", &["http://127.0.0.1/callback"], true);
        let env = Env::new();
        let mut options = SignInOptions::new(sim.url().as_str());
        options.client = Some(PreRegisteredClient {
            client_id: client_id.clone(),
            client_secret: Some(Secret::new("coder_wrong_secret")),
        });
        let flow = SignIn::start(&env.manager, options).await.expect("starts");
        let url = flow.authorize_url().clone();
        let finishing = tokio::spawn(flow.finish());
        browse(&url).await;
        let err = finishing.await.expect("task").expect_err("secret refused");
        assert_eq!(err.code(), "client_rejected", "{err}");
        assert!(err.to_string().contains("--client-secret"), "{err}");
        let registrations = std::fs::read_to_string(env.config().join("registrations.json"))
            .expect("registrations kept");
        assert!(registrations.contains(&client_id), "{registrations}");
    })
    .await;
}
