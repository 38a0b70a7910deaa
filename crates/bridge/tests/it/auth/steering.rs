//! Discovery and the browser's answer cannot steer the sign-in: a tampered
//! issuer, resource or `iss`, or a plain-http deployment elsewhere, each
//! refuse it before any credential is sent.

use bridge::auth::{SignIn, SignInOptions};

use super::common::{Env, auto, browse, sign_in, sim, within};

const EVIL: &str = "https://evil.example.com";

#[tokio::test]
async fn a_metadata_issuer_other_than_the_server_refuses_sign_in() {
    within(async {
        let sim = sim(auto().dcr(true)).await;
        let env = Env::new();
        sim.faults().set_metadata_issuer(Some(EVIL));
        let err = SignIn::start(&env.manager, SignInOptions::new(sim.url().as_str()))
            .await
            .expect_err("issuer mismatch");
        assert_eq!(err.code(), "issuer_mismatch", "{err}");
        assert!(err.to_string().contains(EVIL), "{err}");
        assert_eq!(sim.counters().registrations, 0, "nothing was registered");

        // The same deployment with its real metadata signs in.
        sim.faults().set_metadata_issuer(None);
        sign_in(&env.manager, SignInOptions::new(sim.url().as_str())).await;
    })
    .await;
}

#[tokio::test]
async fn protected_resource_metadata_for_another_resource_refuses_sign_in() {
    within(async {
        let sim = sim(auto().dcr(true)).await;
        let env = Env::new();
        let sibling = sim.url().join("other/api").expect("url");
        for resource in [EVIL, sibling.as_str()] {
            sim.faults().set_metadata_resource(Some(resource));
            let err = SignIn::start(&env.manager, SignInOptions::new(sim.url().as_str()))
                .await
                .expect_err("resource mismatch");
            assert_eq!(err.code(), "resource_mismatch", "{resource}: {err}");
            assert!(err.to_string().contains(resource), "{err}");
        }
        assert_eq!(sim.counters().registrations, 0);

        // The MCP endpoint itself is a fine `resource` too.
        sim.faults()
            .set_metadata_resource(Some(sim.mcp_url().as_str()));
        SignIn::start(&env.manager, SignInOptions::new(sim.url().as_str()))
            .await
            .expect("the MCP URL as resource is accepted");
    })
    .await;
}

#[tokio::test]
async fn an_answer_naming_another_issuer_refuses_sign_in() {
    within(async {
        let sim = sim(auto().dcr(true).iss_parameter(true)).await;
        let env = Env::new();
        // The real issuer's `iss` is accepted.
        sign_in(&env.manager, SignInOptions::new(sim.url().as_str())).await;
        let grants = sim.counters().token_grants;

        // A mix-up: the answer says it came from another server ("" leaves
        // `iss` out, which the server promised to send).
        for iss in [EVIL, ""] {
            sim.faults().set_callback_iss(Some(iss));
            let flow = SignIn::start(&env.manager, SignInOptions::new(sim.url().as_str()))
                .await
                .expect("starts");
            let url = flow.authorize_url().clone();
            let finishing = tokio::spawn(flow.finish());
            let (status, page) = browse(&url).await;
            assert_eq!(status, 400, "{page}");
            assert!(page.contains("wrong server"), "{page}");
            let err = finishing
                .await
                .expect("task")
                .expect_err("refused the answer");
            assert_eq!(err.code(), "issuer_mismatch", "{iss:?}: {err}");
        }
        assert_eq!(
            sim.counters().token_grants,
            grants,
            "the code of a refused answer is never exchanged"
        );
    })
    .await;
}

#[tokio::test]
async fn an_unadvertised_but_wrong_iss_is_refused_too() {
    within(async {
        // Coder itself sends no `iss`; one that is present is still checked.
        let sim = sim(auto().dcr(true)).await;
        let env = Env::new();
        sim.faults().set_callback_iss(Some(EVIL));
        let flow = SignIn::start(&env.manager, SignInOptions::new(sim.url().as_str()))
            .await
            .expect("starts");
        let url = flow.authorize_url().clone();
        let finishing = tokio::spawn(flow.finish());
        let (status, _) = browse(&url).await;
        assert_eq!(status, 400);
        let err = finishing.await.expect("task").expect_err("refused");
        assert_eq!(err.code(), "issuer_mismatch", "{err}");
        assert_eq!(sim.counters().token_grants, 0);
    })
    .await;
}

#[tokio::test]
async fn plain_http_elsewhere_is_refused_without_allow_http() {
    within(async {
        let env = Env::new();
        // Refused before any request: the name need not even resolve.
        for deployment in ["http://coder.invalid/", "http://10.0.0.1:3000"] {
            let err = SignIn::start(&env.manager, SignInOptions::new(deployment))
                .await
                .expect_err("plain http");
            assert_eq!(err.code(), "insecure_http", "{err}");
            assert!(err.to_string().contains("--allow-http"), "{err}");
            let err = env
                .manager
                .sign_in_with_token(deployment, bridge::secret::Secret::new("t"))
                .await
                .expect_err("plain http");
            assert_eq!(err.code(), "insecure_http", "{err}");
        }
    })
    .await;
}
