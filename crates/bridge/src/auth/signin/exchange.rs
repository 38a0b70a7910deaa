//! The authorization-code exchange, authenticating the client the way the
//! server takes it (see [`crate::auth::client_auth`]).

use oauth2::basic::BasicTokenResponse;
use oauth2::{AuthorizationCode, PkceCodeVerifier, RedirectUrl};
use url::Url;

use super::client::{client_is_gone, forget_registration, oauth_client, remember_method};
use crate::auth::client_auth::{ClientAuth, is_client_auth_refusal, with_fallback};
use crate::auth::discovery::Discovery;
use crate::auth::http::{OAuthHttp, token_error};
use crate::auth::registration::StoredRegistration;
use crate::auth::store::SecretStore;
use crate::auth::{AuthError, AuthManager};
use crate::secret::Secret;

/// One code to exchange, and everything the request needs.
pub(super) struct CodeExchange<'a> {
    pub(super) manager: &'a AuthManager,
    pub(super) store: &'a SecretStore,
    pub(super) discovery: &'a Discovery,
    pub(super) registration: &'a StoredRegistration,
    pub(super) client_secret: Option<&'a Secret>,
    pub(super) redirect_uri: &'a Url,
    pub(super) verifier: &'a PkceCodeVerifier,
    pub(super) code: &'a Secret,
}

impl CodeExchange<'_> {
    /// Exchanges the code, retrying once with the other client
    /// authentication method if the server refuses the first. The method
    /// that worked is remembered. A refusal discards the registration only
    /// when the server says the client does not exist.
    pub(super) async fn run(self) -> Result<(BasicTokenResponse, ClientAuth), AuthError> {
        let CodeExchange {
            manager,
            store,
            discovery,
            registration,
            client_secret,
            redirect_uri,
            verifier,
            code,
        } = self;
        let has_secret = client_secret.is_some();
        let first = ClientAuth::choose(
            registration.token_endpoint_auth_method,
            &discovery.metadata.token_endpoint_auth_methods_supported,
            has_secret,
        );
        let token_url = discovery.metadata.token_endpoint.to_string();
        let http = OAuthHttp(manager.http().clone());
        let (result, used) = with_fallback(first, &token_url, |method| {
            let client = oauth_client(discovery, registration, client_secret, method)
                .map(|c| c.set_redirect_uri(RedirectUrl::from_url(redirect_uri.clone())));
            let (http, token_url) = (&http, &token_url);
            async move {
                let client = client?;
                let mut request = client
                    .exchange_code(AuthorizationCode::new(code.expose().to_string()))
                    .set_pkce_verifier(PkceCodeVerifier::new(verifier.secret().clone()))
                    .add_extra_param("resource", discovery.resource.clone());
                if method.needs_form_client_id(has_secret) {
                    request = request.add_extra_param("client_id", registration.client_id.clone());
                }
                request
                    .request_async(http)
                    .await
                    .map_err(|e| token_error(token_url, e))
            }
        })
        .await;
        let deployment = &discovery.deployment;
        match result {
            Ok(response) => {
                if registration.token_endpoint_auth_method != Some(used) {
                    remember_method(manager, deployment, &registration.client_id, used).await?;
                }
                Ok((response, used))
            }
            Err(refusal) if is_client_auth_refusal(&refusal) => {
                let detail = match &refusal {
                    AuthError::OAuth { error, description } => {
                        description.clone().unwrap_or_else(|| error.clone())
                    }
                    other => other.to_string(),
                };
                if client_is_gone(manager, registration, deployment, &refusal).await {
                    forget_registration(manager, store, deployment).await?;
                    return Err(AuthError::RegistrationRejected {
                        deployment: deployment.to_string(),
                        detail,
                    });
                }
                tracing::warn!(deployment = %deployment, client_id = %registration.client_id, %detail, "the OAuth2 server refused the client's credentials with every method; the registration is kept");
                Err(AuthError::ClientRejected {
                    deployment: deployment.to_string(),
                    detail,
                })
            }
            Err(e) => Err(e),
        }
    }
}
