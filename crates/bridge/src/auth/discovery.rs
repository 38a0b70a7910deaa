//! Finding the deployment's OAuth2 endpoints the way the MCP authorization
//! spec asks a client to: the protected-resource metadata (RFC 9728) named by
//! a 401's `WWW-Authenticate: ... resource_metadata="..."`, or found at its
//! well-known URL; then the authorization-server metadata (RFC 8414) of the
//! server it names.
//!
//! Nothing in those answers may steer the sign-in elsewhere: the
//! authorization-server metadata must name the issuer it was fetched for
//! (RFC 8414 §3.3), the protected-resource metadata must be about this
//! deployment's MCP endpoint (RFC 9728 §3.3), and every endpoint must be
//! https (or loopback, or plain http the user allowed with `--allow-http`).

use reqwest::StatusCode;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use url::Url;

use super::http::HttpPolicy;
use super::{AuthError, mcp_url};

mod checks;

use checks::{check_endpoints, resource_covers, same_issuer};

const PROTECTED_RESOURCE_WELL_KNOWN: &str = ".well-known/oauth-protected-resource";
const AUTHORIZATION_SERVER_WELL_KNOWN: &str = ".well-known/oauth-authorization-server";

/// RFC 9728 protected-resource metadata (the fields we use).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProtectedResourceMetadata {
    /// What to send as `resource` on authorize, token and refresh. On Coder
    /// this is the access URL, not the MCP URL (a token for the MCP URL gets
    /// 403 "Token audience validation failed").
    pub resource: String,
    #[serde(default)]
    pub authorization_servers: Vec<Url>,
}

/// RFC 8414 authorization-server metadata (the fields we use).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuthorizationServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    #[serde(default)]
    pub revocation_endpoint: Option<Url>,
    /// Present only while dynamic client registration is enabled.
    #[serde(default)]
    pub registration_endpoint: Option<Url>,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// RFC 9207: the authorization response carries `iss`, which must then
    /// be checked (a mix-up defence).
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// SEP-991: an https URL of a client metadata document may be used as
    /// the `client_id`, without registration.
    #[serde(default)]
    pub client_id_metadata_document_supported: bool,
}

/// Which way discovery found the metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscoveredVia {
    /// A 401 from the MCP endpoint named the metadata URL.
    Challenge,
    /// The RFC 9728 well-known URL on the deployment.
    WellKnown,
}

/// Everything sign-in needs to know about a deployment's OAuth2 provider.
#[derive(Debug, Clone)]
pub struct Discovery {
    pub deployment: Url,
    pub resource: String,
    pub metadata: AuthorizationServerMetadata,
    pub via: DiscoveredVia,
    /// Whether plain http was allowed for this deployment's endpoints.
    pub policy: HttpPolicy,
}

/// Discovers from the MCP endpoint's 401 challenge, falling back to the
/// well-known documents when the endpoint does not name its metadata.
pub async fn discover(
    http: &reqwest::Client,
    deployment: &Url,
    policy: HttpPolicy,
) -> Result<Discovery, AuthError> {
    policy.check(deployment, "deployment URL")?;
    let endpoint = mcp_url(deployment);
    let response = http
        .get(endpoint.clone())
        .send()
        .await
        .map_err(|e| AuthError::unreachable(deployment, &e))?;
    if response.status() == StatusCode::UNAUTHORIZED {
        let challenge = response
            .headers()
            .get_all(http::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| resource_metadata_param(v).is_some())
            .map(str::to_owned);
        if let Some(challenge) = challenge {
            return discover_from_challenge(http, deployment, &challenge, policy).await;
        }
    }
    tracing::debug!(status = %response.status(), "MCP endpoint named no resource metadata; trying the well-known URL");
    discover_well_known(http, deployment, policy).await
}

/// Discovers from a `WWW-Authenticate` header value carrying `resource_metadata`.
pub async fn discover_from_challenge(
    http: &reqwest::Client,
    deployment: &Url,
    www_authenticate: &str,
    policy: HttpPolicy,
) -> Result<Discovery, AuthError> {
    policy.check(deployment, "deployment URL")?;
    let raw = resource_metadata_param(www_authenticate).ok_or_else(|| AuthError::NotCoder {
        url: deployment.to_string(),
        reason: "its 401 challenge names no resource_metadata".into(),
    })?;
    let url = Url::parse(&raw).map_err(|e| AuthError::NotCoder {
        url: deployment.to_string(),
        reason: format!("resource_metadata is not a URL: {e}"),
    })?;
    policy.check(&url, "protected-resource metadata URL")?;
    let resource = match get_json::<ProtectedResourceMetadata>(http, &url).await? {
        Fetched::Found(found) => found,
        Fetched::NotFound => return Err(oauth_disabled_or_not_coder(http, deployment).await),
    };
    finish(http, deployment, resource, DiscoveredVia::Challenge, policy).await
}

/// Discovers from the RFC 9728 well-known URL, then RFC 8414.
pub async fn discover_well_known(
    http: &reqwest::Client,
    deployment: &Url,
    policy: HttpPolicy,
) -> Result<Discovery, AuthError> {
    policy.check(deployment, "deployment URL")?;
    let url = well_known(deployment, PROTECTED_RESOURCE_WELL_KNOWN)?;
    match get_json::<ProtectedResourceMetadata>(http, &url).await? {
        Fetched::Found(resource) => {
            finish(http, deployment, resource, DiscoveredVia::WellKnown, policy).await
        }
        Fetched::NotFound => Err(oauth_disabled_or_not_coder(http, deployment).await),
    }
}

async fn finish(
    http: &reqwest::Client,
    deployment: &Url,
    resource: ProtectedResourceMetadata,
    via: DiscoveredVia,
    policy: HttpPolicy,
) -> Result<Discovery, AuthError> {
    let endpoint = mcp_url(deployment);
    if !resource_covers(&resource.resource, &endpoint) {
        return Err(AuthError::ResourceMismatch {
            expected: endpoint.to_string(),
            found: resource.resource,
        });
    }
    let issuer = resource
        .authorization_servers
        .first()
        .cloned()
        .unwrap_or_else(|| deployment.clone());
    policy.check(&issuer, "authorization server")?;
    let url = well_known(&issuer, AUTHORIZATION_SERVER_WELL_KNOWN)?;
    let metadata = match get_json::<AuthorizationServerMetadata>(http, &url).await? {
        Fetched::Found(found) => found,
        Fetched::NotFound => return Err(oauth_disabled_or_not_coder(http, deployment).await),
    };
    if !same_issuer(&metadata.issuer, &issuer) {
        return Err(AuthError::IssuerMismatch {
            what: "authorization-server metadata".into(),
            expected: issuer.to_string(),
            found: metadata.issuer,
        });
    }
    check_endpoints(&metadata, policy)?;
    if !metadata.code_challenge_methods_supported.is_empty()
        && !metadata
            .code_challenge_methods_supported
            .iter()
            .any(|m| m == "S256")
    {
        return Err(AuthError::other(format!(
            "{issuer} does not support PKCE S256, which Coder Bridge requires"
        )));
    }
    tracing::debug!(?via, issuer = %metadata.issuer, dcr = metadata.registration_endpoint.is_some(), "discovered OAuth2 provider");
    Ok(Discovery {
        deployment: deployment.clone(),
        resource: resource.resource,
        metadata,
        via,
        policy,
    })
}

/// The metadata documents are missing. A Coder deployment with its OAuth2
/// provider switched off still answers `/api/v2/users/me` with a JSON 401;
/// anything else is not Coder at all.
async fn oauth_disabled_or_not_coder(http: &reqwest::Client, deployment: &Url) -> AuthError {
    let Ok(url) = deployment.join("api/v2/users/me") else {
        return AuthError::NotCoder {
            url: deployment.to_string(),
            reason: "cannot build its API URL".into(),
        };
    };
    match http.get(url).send().await {
        Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED => AuthError::OAuthDisabled {
            deployment: deployment.to_string(),
        },
        Ok(resp) => AuthError::NotCoder {
            url: deployment.to_string(),
            reason: format!(
                "no OAuth2 metadata and /api/v2/users/me answered {}",
                resp.status()
            ),
        },
        Err(e) => AuthError::unreachable(deployment, &e),
    }
}

enum Fetched<T> {
    Found(T),
    NotFound,
}

async fn get_json<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &Url,
) -> Result<Fetched<T>, AuthError> {
    let response = http
        .get(url.clone())
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| AuthError::unreachable(url, &e))?;
    let status = response.status();
    if status == StatusCode::NOT_FOUND {
        return Ok(Fetched::NotFound);
    }
    if !status.is_success() {
        return Err(AuthError::NotCoder {
            url: url.to_string(),
            reason: format!("answered {status}"),
        });
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| AuthError::unreachable(url, &e))?;
    serde_json::from_slice(&body)
        .map(Fetched::Found)
        .map_err(|e| AuthError::NotCoder {
            url: url.to_string(),
            reason: format!("its metadata is not valid JSON: {e}"),
        })
}

/// RFC 8414 / 9728: the well-known segment goes between the host and the path.
fn well_known(base: &Url, segment: &str) -> Result<Url, AuthError> {
    let path = base.path().trim_end_matches('/');
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.set_path(&format!("/{segment}{path}"));
    Ok(url)
}

/// The `resource_metadata` auth-param of a `WWW-Authenticate` value.
fn resource_metadata_param(header: &str) -> Option<String> {
    let lower = header.to_ascii_lowercase();
    let mut search_from = 0;
    while let Some(found) = lower[search_from..].find("resource_metadata") {
        let start = search_from + found;
        search_from = start + "resource_metadata".len();
        // Must be a whole parameter name, not the tail of another one.
        let before = lower[..start].chars().last();
        if matches!(before, Some(c) if c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let rest = header[search_from..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(quoted) = rest.strip_prefix('"') {
            return quoted.find('"').map(|end| quoted[..end].to_string());
        }
        let end = rest.find([',', ' ']).unwrap_or(rest.len());
        return Some(rest[..end].to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_coder_challenge() {
        let h = r#"Bearer realm="coder", error="invalid_token", error_description="no token", resource_metadata="https://c.example.com/.well-known/oauth-protected-resource""#;
        assert_eq!(
            resource_metadata_param(h).as_deref(),
            Some("https://c.example.com/.well-known/oauth-protected-resource")
        );
        assert_eq!(
            resource_metadata_param("Bearer resource_metadata=https://x/y, a=b").as_deref(),
            Some("https://x/y")
        );
        assert_eq!(resource_metadata_param(r#"Bearer realm="coder""#), None);
        assert_eq!(
            resource_metadata_param(r#"Bearer not_resource_metadata="x""#),
            None
        );
    }

    #[test]
    fn well_known_goes_before_the_path() {
        let root = Url::parse("https://c.example.com/").unwrap();
        assert_eq!(
            well_known(&root, PROTECTED_RESOURCE_WELL_KNOWN)
                .unwrap()
                .as_str(),
            "https://c.example.com/.well-known/oauth-protected-resource"
        );
        let sub = Url::parse("https://example.com/coder/").unwrap();
        assert_eq!(
            well_known(&sub, AUTHORIZATION_SERVER_WELL_KNOWN)
                .unwrap()
                .as_str(),
            "https://example.com/.well-known/oauth-authorization-server/coder"
        );
    }
}
