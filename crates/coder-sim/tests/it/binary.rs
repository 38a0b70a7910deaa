//! The standalone `coder-sim` binary: its start-up lines and its flags.

use std::collections::BTreeMap;
use std::process::Stdio;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::support::*;

#[tokio::test]
async fn binary_prints_its_facts_and_serves() {
    within(async {
        let mut child = Command::new(env!("CARGO_BIN_EXE_coder-sim"))
            .args([
                "--port",
                "0",
                "--dcr",
                "--auto-approve",
                "--access-token-lifetime",
                "5s",
            ])
            .env("CODER_SIM_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("coder-sim starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut facts = BTreeMap::new();
        while facts.len() < 5 {
            let line = lines
                .next_line()
                .await
                .expect("read")
                .expect("a start-up line");
            let (key, value) = line.split_once('=').expect("KEY=value");
            facts.insert(key.to_owned(), value.to_owned());
        }
        let url = url::Url::parse(&facts["CODER_SIM_URL"]).expect("url");
        assert_eq!(url.host_str(), Some("127.0.0.1"));
        assert!(url.as_str().ends_with('/'));
        assert_eq!(
            facts["CODER_SIM_MCP_URL"],
            format!("{url}api/experimental/mcp/http")
        );
        let asm: Value = http()
            .get(
                url.join(".well-known/oauth-authorization-server")
                    .expect("url"),
            )
            .send()
            .await
            .expect("asm")
            .json()
            .await
            .expect("json");
        assert!(asm.get("registration_endpoint").is_some(), "--dcr");
        // The printed demo app signs in, and --access-token-lifetime applies.
        let (verifier, challenge) = pkce();
        let resource = url.as_str().trim_end_matches('/').to_owned();
        let mut authorize = url.join("oauth2/authorize").expect("url");
        authorize.query_pairs_mut().extend_pairs(standard_params(
            &facts["CODER_SIM_CLIENT_ID"],
            CALLBACK,
            &challenge,
            &resource,
        ));
        let back = http().get(authorize).send().await.expect("authorize");
        let code = query_param(&location(&back), "code").expect("code");
        let token: Value = http()
            .post(url.join("oauth2/tokens").expect("url"))
            .basic_auth(
                &facts["CODER_SIM_CLIENT_ID"],
                Some(&facts["CODER_SIM_CLIENT_SECRET"]),
            )
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("code_verifier", verifier.as_str()),
                ("redirect_uri", CALLBACK),
            ])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("json");
        assert!(
            token["expires_in"].as_i64().expect("expires_in") <= 5,
            "{token}"
        );
        let me = http()
            .get(url.join("api/v2/users/me").expect("url"))
            .header("Coder-Session-Token", &facts["CODER_SIM_SESSION_TOKEN"])
            .send()
            .await
            .expect("me");
        assert_eq!(me.status(), 200);
        child.kill().await.expect("stop");
    })
    .await;
}
