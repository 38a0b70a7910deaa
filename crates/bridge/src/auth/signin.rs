//! The browser round trip: OAuth2 authorization code with PKCE S256 and a
//! loopback redirect on 127.0.0.1.
//!
//! A library API so the CLI, the control API and the tray share it:
//! [`SignIn::start`] discovers, picks or makes the client registration, binds
//! the callback listener and returns the URL to open; [`SignIn::finish`]
//! waits for the callback, checks `state`, exchanges the code and stores the
//! session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::Html;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, TokenResponse, TokenUrl,
};
use reqwest::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_util::sync::{CancellationToken, DropGuard};
use url::Url;

use super::discovery::{Discovery, discover};
use super::http::{OAuthHttp, token_error};
use super::registration::{self, RegistrationSource, StoredRegistration, Validity};
use super::session::{NewSession, TokenStyle, fetch_user};
use super::state::keys;
use super::store::{SecretStore, blocking};
use super::{Account, AuthError, AuthManager, DEFAULT_SIGN_IN_TIMEOUT, normalize_deployment};
use crate::secret::Secret;

const CALLBACK_PATH: &str = "/callback";

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
}

impl SignInOptions {
    pub fn new(deployment: impl Into<String>) -> Self {
        Self {
            deployment: deployment.into(),
            client: None,
            callback_port: None,
            timeout: DEFAULT_SIGN_IN_TIMEOUT,
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
    _listener: DropGuard,
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

#[derive(Debug)]
enum Callback {
    Code(Secret),
    Error {
        error: String,
        description: Option<String>,
    },
}

impl SignIn {
    /// Discovers the deployment, resolves the client and starts listening.
    /// Open [`SignIn::authorize_url`] in a browser, then call [`SignIn::finish`].
    pub async fn start(manager: &AuthManager, options: SignInOptions) -> Result<Self, AuthError> {
        let deployment = normalize_deployment(&options.deployment)?;
        let http = manager.http().clone();
        let discovery = discover(&http, &deployment).await?;
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
        let client = oauth_client(&discovery, &registration, client_secret.as_ref())?
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
        let cancel = CancellationToken::new();
        serve_callback(
            listener,
            Secret::new(state.secret().clone()),
            tx,
            cancel.clone(),
        );
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
            _listener: cancel.drop_guard(),
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
        let callback = match tokio::time::timeout(self.timeout, self.callback).await {
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
        };
        let http = self.manager.http().clone();
        let client = oauth_client(
            &self.discovery,
            &self.registration,
            self.client_secret.as_ref(),
        )?
        .set_redirect_uri(RedirectUrl::from_url(self.redirect_uri.clone()));
        let token_url = self.discovery.metadata.token_endpoint.to_string();
        let response = client
            .exchange_code(AuthorizationCode::new(code.expose().to_string()))
            .set_pkce_verifier(self.verifier)
            .add_extra_param("resource", self.discovery.resource.clone())
            .request_async(&OAuthHttp(http.clone()))
            .await
            .map_err(|e| token_error(&token_url, e));
        let response = match response {
            Ok(r) => r,
            Err(AuthError::OAuth { error, description }) if error == "invalid_client" => {
                let deployment = self.discovery.deployment.clone();
                forget_registration(&self.manager, &self.store, &deployment).await?;
                return Err(AuthError::RegistrationRejected {
                    deployment: deployment.to_string(),
                    detail: description.unwrap_or(error),
                });
            }
            Err(e) => return Err(e),
        };
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
            access,
            refresh,
        };
        self.manager.persist_session(&self.store, session).await
    }
}

/// Picks the client and binds the callback listener, registering when
/// needed. Called with the state lock held.
async fn resolve_client(
    manager: &AuthManager,
    discovery: &Discovery,
    store: &SecretStore,
    options: &SignInOptions,
) -> Result<(StoredRegistration, Option<Secret>, TcpListener), AuthError> {
    let deployment = &discovery.deployment;
    let http = manager.http();
    let state = manager.state().clone();
    let stored = {
        let (state, deployment) = (state.clone(), deployment.clone());
        blocking(move || registration::load(&state, &deployment)).await?
    };

    if let Some(pre) = &options.client {
        // An admin-made client: its secret comes from the flag, or from the
        // store when the same client was used before.
        let same = stored.as_ref().filter(|r| {
            r.client_id == pre.client_id && r.source == RegistrationSource::PreRegistered
        });
        let secret = match &pre.client_secret {
            Some(s) => Some(s.clone()),
            None if same.is_some_and(|r| r.has_client_secret) => {
                load_secret(store, keys::client_secret(deployment)).await?
            }
            None => None,
        };
        let preferred = options
            .callback_port
            .or(same.and_then(StoredRegistration::callback_port));
        let listener = bind_callback(preferred, options.callback_port.is_some()).await?;
        let registration = StoredRegistration {
            client_id: pre.client_id.clone(),
            source: RegistrationSource::PreRegistered,
            redirect_uri: Some(loopback_redirect(local_port(&listener)?)?),
            has_client_secret: secret.is_some(),
            registration_client_uri: None,
            secret_store: store.backend(),
        };
        save_registration(
            manager,
            store,
            deployment,
            &registration,
            secret.as_ref(),
            None,
        )
        .await?;
        return Ok((registration, secret, listener));
    }

    if let Some(existing) = stored {
        let reg_token = if existing.registration_client_uri.is_some() {
            load_secret(
                &store_for(&existing, manager),
                keys::registration_token(deployment),
            )
            .await?
        } else {
            None
        };
        let usable = match existing.source {
            RegistrationSource::PreRegistered => true,
            RegistrationSource::Dynamic => {
                registration::check(http, &existing, reg_token.as_ref()).await != Validity::Gone
            }
        };
        if usable {
            let exact_port = existing.source == RegistrationSource::Dynamic;
            let preferred = options.callback_port.or(existing.callback_port());
            match bind_callback(preferred, exact_port).await {
                Ok(listener) => {
                    let secret = if existing.has_client_secret {
                        load_secret(
                            &store_for(&existing, manager),
                            keys::client_secret(deployment),
                        )
                        .await?
                    } else {
                        None
                    };
                    return Ok((existing, secret, listener));
                }
                Err(e) => {
                    tracing::info!(error = %e, "the registered callback port is taken; registering again");
                }
            }
        } else {
            tracing::info!(client_id = %existing.client_id, "the stored registration is gone from the server; registering again");
        }
        if existing.source == RegistrationSource::Dynamic {
            registration::delete_remote(http, &existing, reg_token.as_ref()).await;
        }
    }

    let Some(endpoint) = discovery.metadata.registration_endpoint.clone() else {
        return Err(AuthError::RegistrationUnavailable {
            deployment: deployment.to_string(),
        });
    };
    let listener = bind_callback(options.callback_port, options.callback_port.is_some()).await?;
    let redirect_uri = loopback_redirect(local_port(&listener)?)?;
    let made = registration::register(
        http,
        &discovery.metadata,
        &endpoint,
        &redirect_uri,
        store.backend(),
    )
    .await?;
    save_registration(
        manager,
        store,
        deployment,
        &made.registration,
        made.client_secret.as_ref(),
        made.registration_token.as_ref(),
    )
    .await?;
    Ok((made.registration, made.client_secret, listener))
}

fn store_for(registration: &StoredRegistration, manager: &AuthManager) -> SecretStore {
    SecretStore::new(registration.secret_store, &manager.state().dir)
}

async fn load_secret(store: &SecretStore, key: String) -> Result<Option<Secret>, AuthError> {
    let store = store.clone();
    blocking(move || store.get(&key)).await
}

async fn save_registration(
    manager: &AuthManager,
    store: &SecretStore,
    deployment: &Url,
    registration: &StoredRegistration,
    client_secret: Option<&Secret>,
    registration_token: Option<&Secret>,
) -> Result<(), AuthError> {
    let (store, state, deployment, registration) = (
        store.clone(),
        manager.state().clone(),
        deployment.clone(),
        registration.clone(),
    );
    let (client_secret, registration_token) = (client_secret.cloned(), registration_token.cloned());
    blocking(move || {
        match &client_secret {
            Some(s) => store.set(&keys::client_secret(&deployment), s)?,
            None => store.delete(&keys::client_secret(&deployment))?,
        }
        match &registration_token {
            Some(s) => store.set(&keys::registration_token(&deployment), s)?,
            None => store.delete(&keys::registration_token(&deployment))?,
        }
        registration::save(&state, &deployment, Some(&registration))
    })
    .await
}

/// Drops a registration the server no longer accepts, so the next sign-in
/// makes a fresh one instead of reusing it forever.
pub(crate) async fn forget_registration(
    manager: &AuthManager,
    store: &SecretStore,
    deployment: &Url,
) -> Result<(), AuthError> {
    let _lock = manager.state().lock().await?;
    let (store, state, deployment) = (store.clone(), manager.state().clone(), deployment.clone());
    blocking(move || {
        store.delete(&keys::client_secret(&deployment))?;
        store.delete(&keys::registration_token(&deployment))?;
        registration::save(&state, &deployment, None)
    })
    .await
}

pub(crate) fn oauth_client(
    discovery: &Discovery,
    registration: &StoredRegistration,
    client_secret: Option<&Secret>,
) -> Result<
    oauth2::basic::BasicClient<
        oauth2::EndpointSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    >,
    AuthError,
> {
    let mut client = oauth2::basic::BasicClient::new(ClientId::new(registration.client_id.clone()))
        .set_auth_uri(AuthUrl::from_url(
            discovery.metadata.authorization_endpoint.clone(),
        ))
        .set_token_uri(TokenUrl::from_url(
            discovery.metadata.token_endpoint.clone(),
        ));
    if let Some(secret) = client_secret {
        client = client.set_client_secret(ClientSecret::new(secret.expose().to_string()));
    }
    Ok(client)
}

fn loopback_redirect(port: u16) -> Result<Url, AuthError> {
    Url::parse(&format!("http://127.0.0.1:{port}{CALLBACK_PATH}"))
        .map_err(|e| AuthError::Callback(e.to_string()))
}

fn local_port(listener: &TcpListener) -> Result<u16, AuthError> {
    Ok(listener
        .local_addr()
        .map_err(|e| AuthError::Callback(e.to_string()))?
        .port())
}

/// Binds 127.0.0.1 on `preferred` when given; when that port is taken and
/// `exact` is false, any free port.
async fn bind_callback(preferred: Option<u16>, exact: bool) -> Result<TcpListener, AuthError> {
    if let Some(port) = preferred {
        match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => return Ok(l),
            Err(e) if exact => return Err(AuthError::Callback(format!("port {port}: {e}"))),
            Err(e) => tracing::debug!(port, error = %e, "callback port taken; using a free one"),
        }
    }
    TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| AuthError::Callback(e.to_string()))
}

struct CallbackState {
    expected_state: Secret,
    tx: Mutex<Option<oneshot::Sender<Callback>>>,
}

fn serve_callback(
    listener: TcpListener,
    expected_state: Secret,
    tx: oneshot::Sender<Callback>,
    cancel: CancellationToken,
) {
    let state = Arc::new(CallbackState {
        expected_state,
        tx: Mutex::new(Some(tx)),
    });
    let app = axum::Router::new()
        .route(CALLBACK_PATH, axum::routing::get(callback))
        .with_state(state);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "sign-in callback listener failed");
        }
    });
}

async fn callback(
    State(state): State<Arc<CallbackState>>,
    Query(params): Query<HashMap<String, String>>,
) -> (StatusCode, Html<String>) {
    // A callback without our `state` is not the answer to our request (a
    // stale tab, or a forged link): refuse it and keep waiting.
    let state_ok = params
        .get("state")
        .is_some_and(|s| Secret::new(s.clone()) == state.expected_state);
    if !state_ok {
        return page(
            StatusCode::BAD_REQUEST,
            "This sign-in link is not the one Coder Bridge is waiting for",
            "Start the sign-in again from Coder Bridge. You can close this tab.",
        );
    }
    let outcome = match (params.get("code"), params.get("error")) {
        (_, Some(error)) => Callback::Error {
            error: error.clone(),
            description: params.get("error_description").cloned(),
        },
        (Some(code), None) => Callback::Code(Secret::new(code.clone())),
        (None, None) => {
            return page(
                StatusCode::BAD_REQUEST,
                "The sign-in answer carried no code",
                "Start the sign-in again from Coder Bridge. You can close this tab.",
            );
        }
    };
    let denied = matches!(outcome, Callback::Error { .. });
    let sender = state.tx.lock().ok().and_then(|mut tx| tx.take());
    let delivered = sender.is_some_and(|tx| tx.send(outcome).is_ok());
    match delivered {
        true => {
            if denied {
                page(
                    StatusCode::OK,
                    "Sign-in was not completed",
                    "Coder Bridge was not signed in. You can close this tab.",
                )
            } else {
                page(
                    StatusCode::OK,
                    "Coder Bridge received your sign-in",
                    "You can close this tab and return to Coder Bridge.",
                )
            }
        }
        _ => page(
            StatusCode::CONFLICT,
            "This sign-in was already answered",
            "You can close this tab.",
        ),
    }
}

fn page(status: StatusCode, title: &str, body: &str) -> (StatusCode, Html<String>) {
    (
        status,
        Html(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body style=\"font-family:system-ui,sans-serif;margin:4em auto;max-width:32em\">\
             <h1>{title}</h1><p>{body}</p></body></html>"
        )),
    )
}
