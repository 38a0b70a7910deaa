//! Choosing the OAuth2 client for a sign-in: the pre-registered one, a
//! client metadata document the organisation hosts (SEP-991), the stored
//! registration (checked and its callback port re-bound), or a new dynamic
//! registration of exactly the redirect URI we listen on.

use oauth2::{AuthUrl, ClientId, ClientSecret, TokenUrl};
use tokio::net::TcpListener;
use url::Url;

use super::SignInOptions;
use super::callback::{bind_callback, local_port, loopback_redirect};
use crate::auth::client_auth::ClientAuth;
use crate::auth::discovery::Discovery;
use crate::auth::http::HttpPolicy;
use crate::auth::registration::{self, RegistrationSource, StoredRegistration, Validity};
use crate::auth::state::keys;
use crate::auth::store::{SecretStore, blocking};
use crate::auth::{AuthError, AuthManager};
use crate::secret::Secret;

/// Picks the client and binds the callback listener, registering when
/// needed. Called with the state lock held.
pub(super) async fn resolve_client(
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
            // What worked for this client before; else chosen at the token
            // endpoint from the server's metadata.
            token_endpoint_auth_method: same
                .and_then(|r| r.token_endpoint_auth_method)
                .filter(|_| secret.is_some()),
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

    if let Some(document) = metadata_document(options)? {
        if discovery.metadata.client_id_metadata_document_supported {
            let listener =
                bind_callback(options.callback_port, options.callback_port.is_some()).await?;
            let registration = StoredRegistration {
                client_id: document.to_string(),
                source: RegistrationSource::MetadataDocument,
                redirect_uri: Some(loopback_redirect(local_port(&listener)?)?),
                has_client_secret: false,
                registration_client_uri: None,
                secret_store: store.backend(),
                token_endpoint_auth_method: Some(ClientAuth::None),
            };
            tracing::info!(client_id = %document, "signing in with the client metadata document as the client_id");
            save_registration(manager, store, deployment, &registration, None, None).await?;
            return Ok((registration, None, listener));
        }
        tracing::info!(client_id = %document, "the authorization server does not accept client metadata documents; using a registered client instead");
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
            RegistrationSource::MetadataDocument => {
                discovery.metadata.client_id_metadata_document_supported
            }
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

/// The client metadata document to sign in with, if the user named one
/// (`login --client-metadata-url`, or the environment). SEP-991 wants an
/// https URL with a path; loopback http is accepted for local testing.
fn metadata_document(options: &SignInOptions) -> Result<Option<Url>, AuthError> {
    let from_env = || {
        std::env::var(crate::env::CLIENT_METADATA_URL)
            .ok()
            .filter(|v| !v.trim().is_empty())
    };
    let url = match (&options.client_metadata_url, from_env()) {
        (Some(url), _) => url.clone(),
        (None, Some(text)) => Url::parse(text.trim()).map_err(|e| {
            AuthError::other(format!(
                "{} is not a URL ({e})",
                crate::env::CLIENT_METADATA_URL
            ))
        })?,
        (None, None) => return Ok(None),
    };
    HttpPolicy::HttpsOrLoopback.check(&url, "client metadata document URL")?;
    if url.path().trim_matches('/').is_empty() || url.fragment().is_some() {
        return Err(AuthError::other(format!(
            "the client metadata document URL {url} must name a document (a path, no fragment)"
        )));
    }
    Ok(Some(url))
}

/// Remembers the client authentication method that worked, so refreshes
/// and later sign-ins start with it.
pub(crate) async fn remember_method(
    manager: &AuthManager,
    deployment: &Url,
    client_id: &str,
    method: ClientAuth,
) -> Result<(), AuthError> {
    let _lock = manager.state().lock().await?;
    let (state, deployment, client_id) = (
        manager.state().clone(),
        deployment.clone(),
        client_id.to_string(),
    );
    blocking(move || {
        let Some(mut registration) = registration::load(&state, &deployment)? else {
            return Ok(());
        };
        if registration.client_id != client_id
            || registration.token_endpoint_auth_method == Some(method)
        {
            return Ok(());
        }
        registration.token_endpoint_auth_method = Some(method);
        registration::save(&state, &deployment, Some(&registration))
    })
    .await
}

/// After the server refused the client's credentials: whether it says the
/// client does not exist (then, and only then, the registration goes).
pub(crate) async fn client_is_gone(
    manager: &AuthManager,
    registration: &StoredRegistration,
    deployment: &Url,
    refusal: &AuthError,
) -> bool {
    if crate::auth::client_auth::says_client_unknown(refusal) {
        return true;
    }
    if registration.source != RegistrationSource::Dynamic {
        return false;
    }
    let token = load_secret(
        &store_for(registration, manager),
        keys::registration_token(deployment),
    )
    .await
    .ok()
    .flatten();
    registration::check(manager.http(), registration, token.as_ref()).await == Validity::Gone
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
    method: ClientAuth,
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
        ))
        .set_auth_type(method.auth_type());
    if let Some(secret) = client_secret.filter(|_| method != ClientAuth::None) {
        client = client.set_client_secret(ClientSecret::new(secret.expose().to_string()));
    }
    Ok(client)
}
