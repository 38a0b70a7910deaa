//! Logout's revocation of the tokens at the server (RFC 7009), with the
//! client authentication the server takes.

use url::Url;

use super::client_auth::{ClientAuth, with_fallback};
use super::http::HttpPolicy;
use super::{Account, AuthError, AuthManager};
use crate::secret::Secret;

/// One revocation request.
#[derive(Clone, Copy)]
struct Revocation<'a> {
    endpoint: &'a Url,
    method: ClientAuth,
    client_id: &'a str,
    client_secret: Option<&'a Secret>,
    token: &'a Secret,
    hint: &'static str,
    /// Send `client_secret` in the form even when empty (see `revoke`).
    explicit_secret: bool,
}

impl AuthManager {
    pub(super) async fn revoke(
        &self,
        account: &Account,
        client_secret: Option<Secret>,
        tokens: [Option<Secret>; 2],
    ) -> (bool, Option<String>) {
        let (Some(endpoint), Some(client_id)) = (&account.revocation_endpoint, &account.client_id)
        else {
            return (
                false,
                Some("the deployment offers no revocation endpoint".into()),
            );
        };
        // RFC 7009 by hand: the oauth2 crate refuses plain-http revocation
        // endpoints, and self-hosted Coder on http (loopback, or a LAN the
        // user allowed with `--allow-http`) is real.
        if let Err(e) =
            HttpPolicy::from_allow_http(account.allow_http).check(endpoint, "revocation endpoint")
        {
            return (false, Some(e.to_string()));
        }
        let mut method = account
            .client_auth
            .unwrap_or_else(|| ClientAuth::choose(None, &[], client_secret.is_some()));
        let mut revoked_any = false;
        for (token, hint) in tokens.into_iter().zip(["refresh_token", "access_token"]) {
            let Some(token) = token else { continue };
            let request = |m, explicit_secret| Revocation {
                endpoint,
                method: m,
                client_id,
                client_secret: client_secret.as_ref(),
                token: &token,
                hint,
                explicit_secret,
            };
            let (mut result, used) = with_fallback(method, endpoint.as_str(), |m| {
                self.revoke_one(request(m, false))
            })
            .await;
            method = used;
            if matches!(&result, Err(AuthError::OAuth { error, .. }) if error == "invalid_request")
            {
                // Some servers (the MCP Python SDK) insist on a
                // `client_secret` field even where the secret travels in
                // the header or there is none; RFC 6749 §2.3.1 allows an
                // empty one. Only after a refusal: stricter servers (Coder)
                // refuse credentials in both places.
                tracing::info!(endpoint = %endpoint, "the revocation endpoint refused the request as malformed; retrying once with an explicit client_secret field");
                result = self.revoke_one(request(method, true)).await;
            }
            match result {
                Ok(()) => revoked_any = true,
                Err(e) => return (revoked_any, Some(e.to_string())),
            }
        }
        (revoked_any, None)
    }

    /// One RFC 7009 request. Coder reads `client_id` from the form whatever
    /// the client authentication, so it is always there.
    async fn revoke_one(&self, r: Revocation<'_>) -> Result<(), AuthError> {
        let endpoint = r.endpoint;
        let mut form = vec![
            ("token", r.token.expose().to_string()),
            ("token_type_hint", r.hint.to_string()),
        ];
        let request = r.method.apply(
            self.http().post(endpoint.clone()),
            &mut form,
            r.client_id,
            r.client_secret,
        );
        if r.explicit_secret && !form.iter().any(|(k, _)| *k == "client_secret") {
            form.push(("client_secret", String::new()));
        }
        let response = request
            .form(&form)
            .send()
            .await
            .map_err(|e| AuthError::unreachable(endpoint, &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        #[derive(serde::Deserialize)]
        struct OAuthErrorBody {
            error: String,
            error_description: Option<String>,
        }
        match response.json::<OAuthErrorBody>().await {
            Ok(body) => Err(AuthError::OAuth {
                error: body.error,
                description: body.error_description,
            }),
            Err(_) => Err(AuthError::other(format!("{endpoint} answered {status}"))),
        }
    }
}
