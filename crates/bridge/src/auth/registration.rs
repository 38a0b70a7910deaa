//! The OAuth2 client Coder Bridge signs in as, per deployment.
//!
//! Either pre-registered by a Coder admin (`--client-id`/`--client-secret`)
//! or made by dynamic client registration (RFC 7591) when the deployment
//! offers it. Stored in `registrations.json` (secrets in the secret store) and
//! reused; replaced when the server stops accepting it or its callback port
//! can no longer be bound.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use url::Url;

use super::AuthError;
use super::client_auth::ClientAuth;
use super::discovery::AuthorizationServerMetadata;
use super::http::sensitive_header;
use super::state::{StateDir, read_json, write_json};
use super::store::SecretBackend;
use crate::secret::Secret;

pub(crate) const REGISTRATIONS_FILE: &str = "registrations.json";
const CLIENT_NAME: &str = "Coder Bridge";

/// Where a client registration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationSource {
    PreRegistered,
    Dynamic,
    /// SEP-991: the client_id is the https URL of a client metadata
    /// document the organisation hosts; nothing was registered.
    MetadataDocument,
}

/// A stored client registration (secrets live in the secret store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRegistration {
    pub client_id: String,
    pub source: RegistrationSource,
    /// The exact loopback redirect URI registered (dynamic) or last used
    /// (pre-registered): its port is reused so older Coder releases, which
    /// match the port exactly, keep accepting it.
    #[serde(default)]
    pub redirect_uri: Option<Url>,
    #[serde(default)]
    pub has_client_secret: bool,
    /// RFC 7592 management URL, used to check the registration still exists.
    #[serde(default)]
    pub registration_client_uri: Option<Url>,
    pub secret_store: SecretBackend,
    /// How the client authenticates at the token endpoint: what the
    /// registration answer said, or what last worked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<ClientAuth>,
}

impl StoredRegistration {
    pub fn callback_port(&self) -> Option<u16> {
        self.redirect_uri.as_ref().and_then(Url::port)
    }
}

fn path(state: &StateDir) -> std::path::PathBuf {
    state.dir.join(REGISTRATIONS_FILE)
}

pub(crate) fn load(
    state: &StateDir,
    deployment: &Url,
) -> Result<Option<StoredRegistration>, AuthError> {
    let all: BTreeMap<String, StoredRegistration> = read_json(&path(state))?.unwrap_or_default();
    Ok(all.get(deployment.as_str()).cloned())
}

/// Saves (or with `None`, forgets) the registration for `deployment`.
/// Callers hold the state lock.
pub(crate) fn save(
    state: &StateDir,
    deployment: &Url,
    registration: Option<&StoredRegistration>,
) -> Result<(), AuthError> {
    let mut all: BTreeMap<String, StoredRegistration> =
        read_json(&path(state))?.unwrap_or_default();
    match registration {
        Some(r) => {
            all.insert(deployment.to_string(), r.clone());
        }
        None => {
            all.remove(deployment.as_str());
        }
    }
    write_json(&path(state), &all)
}

/// What dynamic registration handed back.
#[derive(Debug)]
pub(crate) struct NewRegistration {
    pub(crate) registration: StoredRegistration,
    pub(crate) client_secret: Option<Secret>,
    pub(crate) registration_token: Option<Secret>,
}

#[derive(Deserialize)]
struct RegistrationResponse {
    client_id: String,
    #[serde(default)]
    client_secret: Option<Secret>,
    #[serde(default)]
    registration_access_token: Option<Secret>,
    #[serde(default)]
    registration_client_uri: Option<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
}

/// RFC 7591 registration of exactly `redirect_uri`.
pub(crate) async fn register(
    http: &reqwest::Client,
    metadata: &AuthorizationServerMetadata,
    endpoint: &Url,
    redirect_uri: &Url,
    secret_store: SecretBackend,
) -> Result<NewRegistration, AuthError> {
    // A confidential client works on every Coder release (older ones issue
    // a secret whatever is asked): Basic where listed (or nothing is
    // listed), else the form; `none` only where that is all there is.
    let methods = &metadata.token_endpoint_auth_methods_supported;
    let lists = |m: &str| methods.iter().any(|s| s == m);
    let auth_method = if methods.is_empty() || lists("client_secret_basic") {
        ClientAuth::ClientSecretBasic
    } else if lists("client_secret_post") {
        ClientAuth::ClientSecretPost
    } else if lists("none") {
        ClientAuth::None
    } else {
        ClientAuth::ClientSecretBasic
    }
    .as_str();
    let body = serde_json::json!({
        "client_name": CLIENT_NAME,
        "redirect_uris": [redirect_uri.as_str()],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": auth_method,
    });
    let response = http
        .post(endpoint.clone())
        .json(&body)
        .send()
        .await
        .map_err(|e| AuthError::unreachable(endpoint, &e))?;
    let status = response.status();
    if !status.is_success() {
        let detail = response.text().await.unwrap_or_default();
        return Err(AuthError::other(format!(
            "dynamic client registration at {endpoint} failed with {status}: {}",
            detail.chars().take(300).collect::<String>()
        )));
    }
    let parsed: RegistrationResponse = response.json().await.map_err(|e| {
        AuthError::other_from(format!("unexpected registration answer from {endpoint}"), e)
    })?;
    let registration_client_uri = parsed
        .registration_client_uri
        .as_deref()
        .and_then(|u| endpoint.join(u).ok());
    let client_secret = parsed.client_secret.filter(|s| !s.is_empty());
    // The answer is authoritative (an older Coder issues a secret even to
    // a client that asked for `none`); without a secret there is only `none`.
    let answered = parsed
        .token_endpoint_auth_method
        .as_deref()
        .and_then(ClientAuth::parse)
        .or(ClientAuth::parse(auth_method));
    let method = ClientAuth::choose(answered, &[], client_secret.is_some());
    tracing::info!(client_id = %parsed.client_id, redirect_uri = %redirect_uri, method = method.as_str(), "registered Coder Bridge as an OAuth2 client");
    Ok(NewRegistration {
        registration: StoredRegistration {
            client_id: parsed.client_id,
            source: RegistrationSource::Dynamic,
            redirect_uri: Some(redirect_uri.clone()),
            has_client_secret: client_secret.is_some(),
            registration_client_uri,
            secret_store,
            token_endpoint_auth_method: Some(method),
        },
        client_secret,
        registration_token: parsed.registration_access_token.filter(|s| !s.is_empty()),
    })
}

/// Whether the server still knows a dynamic registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Validity {
    Valid,
    /// The server says it is gone or refuses our management token.
    Gone,
    /// Cannot tell (no management URL, or an unexpected answer): keep it,
    /// the token exchange will tell.
    Unknown,
}

/// RFC 7592 read of the registration.
pub(crate) async fn check(
    http: &reqwest::Client,
    registration: &StoredRegistration,
    token: Option<&Secret>,
) -> Validity {
    let (Some(uri), Some(token)) = (&registration.registration_client_uri, token) else {
        return Validity::Unknown;
    };
    let Ok(header) = sensitive_header(&Secret::new(format!("Bearer {}", token.expose()))) else {
        return Validity::Unknown;
    };
    match http
        .get(uri.clone())
        .header(http::header::AUTHORIZATION, header)
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => Validity::Valid,
        Ok(r)
            if matches!(
                r.status(),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
            ) =>
        {
            Validity::Gone
        }
        Ok(r) => {
            tracing::debug!(status = %r.status(), "registration check inconclusive");
            Validity::Unknown
        }
        Err(e) => {
            tracing::debug!(error = %e, "registration check failed");
            Validity::Unknown
        }
    }
}

/// RFC 7592 delete of a registration we are replacing; best effort, so the
/// deployment is not left with a trail of dead clients.
pub(crate) async fn delete_remote(
    http: &reqwest::Client,
    registration: &StoredRegistration,
    token: Option<&Secret>,
) {
    let (Some(uri), Some(token)) = (&registration.registration_client_uri, token) else {
        return;
    };
    let Ok(header) = sensitive_header(&Secret::new(format!("Bearer {}", token.expose()))) else {
        return;
    };
    match http
        .delete(uri.clone())
        .header(http::header::AUTHORIZATION, header)
        .send()
        .await
    {
        Ok(r) => tracing::debug!(status = %r.status(), "deleted the replaced registration"),
        Err(e) => tracing::debug!(error = %e, "could not delete the replaced registration"),
    }
}
