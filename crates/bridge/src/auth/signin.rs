//! The browser round trip: OAuth2 authorization code with PKCE S256 and a
//! loopback redirect on 127.0.0.1.
//!
//! A library API so the CLI, the control API and the tray share it:
//! [`SignIn::start`] discovers, picks or makes the client registration, binds
//! the callback listener and returns the URL to open; [`SignIn::finish`]
//! waits for the callback, checks `state`, exchanges the code and stores the
//! session.

use std::time::Duration;

use oauth2::{CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, TokenResponse};
use tokio::sync::oneshot;
use url::Url;

use super::client_auth::ClientAuth;
use super::discovery::{Discovery, discover};
use super::http::{HttpPolicy, is_plain_http_remote};
use super::registration::StoredRegistration;
use super::session::{NewSession, TokenStyle, fetch_user};
use super::store::{SecretStore, blocking};
use super::{Account, AuthError, AuthManager, DEFAULT_SIGN_IN_TIMEOUT, normalize_deployment};
use crate::secret::Secret;

mod callback;
mod client;
mod exchange;

use callback::{Callback, CallbackServer, ExpectedIssuer, loopback_redirect, serve_callback};
use client::{oauth_client, resolve_client};
use exchange::CodeExchange;

/// A client a Coder admin created for Coder Bridge.
#[derive(Debug, Clone)]
pub struct PreRegisteredClient {
    pub client_id: String,
    pub client_secret: Option<Secret>,
}

/// What to sign in to, and how.
#[derive(Debug, Clone)]
pub struct SignInOptions {
    pub deployment: String,
    /// Use this client instead of a stored or dynamic registration.
    pub client: Option<PreRegisteredClient>,
    /// Listen for the callback on this port (for a pre-registered client
    /// whose callback URL names a port). Default: the registration's port,
    /// else a free one.
    pub callback_port: Option<u16>,
    /// How long [`SignIn::finish`] waits for the browser.
    pub timeout: Duration,
    /// Let tokens and the client secret travel over plain `http://` to a
    /// host other than this machine (`login --allow-http`). Remembered for
    /// the deployment, so later refreshes and sign-ins keep working.
    pub allow_http: bool,
    /// SEP-991: sign in with this client metadata document's URL as the
    /// client_id, where the server accepts that (`login
    /// --client-metadata-url`; default: the environment's setting).
    pub client_metadata_url: Option<Url>,
}

impl SignInOptions {
    pub fn new(deployment: impl Into<String>) -> Self {
        Self {
            deployment: deployment.into(),
            client: None,
            callback_port: None,
            timeout: DEFAULT_SIGN_IN_TIMEOUT,
            allow_http: false,
            client_metadata_url: None,
        }
    }
}

/// A sign-in waiting for the browser. Dropping it stops the listener.
pub struct SignIn {
    manager: AuthManager,
    authorize_url: Url,
    discovery: Discovery,
    registration: StoredRegistration,
    client_secret: Option<Secret>,
    redirect_uri: Url,
    verifier: PkceCodeVerifier,
    store: SecretStore,
    callback: oneshot::Receiver<Callback>,
    timeout: Duration,
    listener: CallbackServer,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("deployment", &self.discovery.deployment.as_str())
            .field("client_id", &self.registration.client_id)
            .field("redirect_uri", &self.redirect_uri.as_str())
            .finish_non_exhaustive()
    }
}

impl SignIn {
    /// Discovers the deployment, resolves the client and starts listening.
    /// Open [`SignIn::authorize_url`] in a browser, then call [`SignIn::finish`].
    pub async fn start(manager: &AuthManager, options: SignInOptions) -> Result<Self, AuthError> {
        let deployment = normalize_deployment(&options.deployment)?;
        let http = manager.http().clone();
        let policy = HttpPolicy::from_allow_http(
            options.allow_http || manager.remembers_allow_http(&deployment),
        );
        if policy.allows_http() && is_plain_http_remote(&deployment) {
            tracing::warn!(deployment = %deployment, "plain http allowed: tokens and the client secret cross the network unencrypted");
        }
        let discovery = discover(&http, &deployment, policy).await?;
        let choice = manager.store_choice();
        let dir = manager.state().dir.clone();
        let store = blocking(move || SecretStore::choose(choice, &dir)).await?;

        // Registration is read, checked and made under the state lock, so two
        // sign-ins started at once do not both register.
        let lock = manager.state().lock().await?;
        let (registration, client_secret, listener) =
            resolve_client(manager, &discovery, &store, &options).await?;
        drop(lock);

        let port = listener
            .local_addr()
            .map_err(|e| AuthError::Callback(e.to_string()))?
            .port();
        let redirect_uri = loopback_redirect(port)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = CsrfToken::new_random();
        let client = oauth_client(
            &discovery,
            &registration,
            client_secret.as_ref(),
            ClientAuth::None,
        )?
        .set_redirect_uri(RedirectUrl::from_url(redirect_uri.clone()));
        // Exactly Coder's parameters: response_type, client_id, redirect_uri,
        // state, code_challenge(_method) from the crate, plus `resource`.
        // Anything else makes Coder reject the request.
        let (authorize_url, state) = client
            .authorize_url(|| state)
            .set_pkce_challenge(challenge)
            .add_extra_param("resource", discovery.resource.clone())
            .url();

        let (tx, rx) = oneshot::channel();
        let issuer = ExpectedIssuer {
            issuer: discovery.metadata.issuer.clone(),
            required: discovery
                .metadata
                .authorization_response_iss_parameter_supported,
        };
        let listener = serve_callback(listener, Secret::new(state.secret().clone()), issuer, tx);
        tracing::info!(deployment = %deployment, client_id = %registration.client_id, redirect_uri = %redirect_uri, "waiting for the browser sign-in");
        Ok(Self {
            manager: manager.clone(),
            authorize_url,
            discovery,
            registration,
            client_secret,
            redirect_uri,
            verifier,
            store,
            callback: rx,
            timeout: options.timeout,
            listener,
        })
    }

    /// The page to open in the browser. Contains no secret (the PKCE
    /// challenge and `state` are safe to show).
    pub fn authorize_url(&self) -> &Url {
        &self.authorize_url
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn deployment(&self) -> &Url {
        &self.discovery.deployment
    }

    /// Waits for the callback, exchanges the code and stores the session.
    pub async fn finish(self) -> Result<Account, AuthError> {
        let waited = tokio::time::timeout(self.timeout, self.callback).await;
        // One answer is all we take: release the port before anything else.
        self.listener.stop().await;
        let callback = match waited {
            Err(_) => {
                return Err(AuthError::TimedOut {
                    after: self.timeout,
                });
            }
            Ok(Err(_)) => return Err(AuthError::Callback("the listener stopped".into())),
            Ok(Ok(callback)) => callback,
        };
        let code = match callback {
            Callback::Code(code) => code,
            Callback::Error { error, description } if error == "access_denied" => {
                return Err(AuthError::AccessDenied {
                    detail: description.unwrap_or(error),
                });
            }
            Callback::Error { error, description } => {
                return Err(AuthError::OAuth { error, description });
            }
            Callback::WrongIssuer(found) => {
                tracing::warn!(expected = %self.discovery.metadata.issuer, found = ?found, "refused a sign-in answer from another issuer");
                return Err(AuthError::IssuerMismatch {
                    what: "sign-in answer (RFC 9207 `iss`)".into(),
                    expected: self.discovery.metadata.issuer.clone(),
                    found: found.unwrap_or_else(|| "(none)".into()),
                });
            }
        };
        let (response, client_auth) = CodeExchange {
            manager: &self.manager,
            store: &self.store,
            discovery: &self.discovery,
            registration: &self.registration,
            client_secret: self.client_secret.as_ref(),
            redirect_uri: &self.redirect_uri,
            verifier: &self.verifier,
            code: &code,
        }
        .run()
        .await?;
        let http = self.manager.http().clone();
        let access = Secret::new(response.access_token().secret().clone());
        let refresh = response
            .refresh_token()
            .map(|r| Secret::new(r.secret().clone()));
        let user = fetch_user(
            &http,
            &self.discovery.deployment,
            &access,
            TokenStyle::Bearer,
        )
        .await?;
        let session = NewSession {
            deployment: self.discovery.deployment.clone(),
            kind: super::SessionKind::Oauth,
            user,
            resource: Some(self.discovery.resource.clone()),
            client_id: Some(self.registration.client_id.clone()),
            token_endpoint: Some(self.discovery.metadata.token_endpoint.clone()),
            revocation_endpoint: self.discovery.metadata.revocation_endpoint.clone(),
            expires_in: response.expires_in(),
            allow_http: self.discovery.policy.allows_http(),
            client_auth: Some(client_auth),
            access,
            refresh,
        };
        self.manager.persist_session(&self.store, session).await
    }
}
