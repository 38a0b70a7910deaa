//! What discovery answers must satisfy before anything is sent to the
//! endpoints they name.

use url::Url;

use super::AuthorizationServerMetadata;
use crate::auth::AuthError;
use crate::auth::http::HttpPolicy;

/// Every endpoint credentials or the user are sent to must pass `policy`.
pub(super) fn check_endpoints(
    metadata: &AuthorizationServerMetadata,
    policy: HttpPolicy,
) -> Result<(), AuthError> {
    policy.check(&metadata.authorization_endpoint, "authorization endpoint")?;
    policy.check(&metadata.token_endpoint, "token endpoint")?;
    if let Some(url) = &metadata.revocation_endpoint {
        policy.check(url, "revocation endpoint")?;
    }
    if let Some(url) = &metadata.registration_endpoint {
        policy.check(url, "registration endpoint")?;
    }
    Ok(())
}

/// RFC 8414 §3.3: the metadata's `issuer` is the issuer it was fetched for.
/// A trailing slash on an empty path is not a difference (both spellings
/// give the same well-known URL); anything else is.
pub(super) fn same_issuer(found: &str, expected: &Url) -> bool {
    let Ok(found) = Url::parse(found) else {
        return false;
    };
    found.scheme() == expected.scheme()
        && found.host() == expected.host()
        && found.port_or_known_default() == expected.port_or_known_default()
        && found.path().trim_end_matches('/') == expected.path().trim_end_matches('/')
        && found.query() == expected.query()
        && found.fragment().is_none()
}

/// RFC 9728 §3.3: the metadata must be about the resource we protect, the
/// MCP endpoint. Coder names its access URL rather than the MCP URL
/// (coder/coder#19717), so, as the MCP SDKs do, a resource on the same
/// origin whose path contains the endpoint's (at a segment boundary) is
/// accepted; another host, port, scheme or a sibling path is refused.
pub(super) fn resource_covers(resource: &str, endpoint: &Url) -> bool {
    let Ok(resource) = Url::parse(resource) else {
        return false;
    };
    if resource.origin() != endpoint.origin()
        || resource.query().is_some()
        || resource.fragment().is_some()
    {
        return false;
    }
    let prefix = resource.path().trim_end_matches('/');
    let path = endpoint.path();
    path == prefix || path.starts_with(&format!("{prefix}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_must_be_the_one_looked_up() {
        let root = Url::parse("https://c.example.com").unwrap();
        assert!(same_issuer("https://c.example.com", &root));
        assert!(same_issuer("https://c.example.com/", &root));
        assert!(same_issuer("https://C.example.com:443", &root));
        assert!(!same_issuer("https://evil.example.com", &root));
        assert!(!same_issuer("http://c.example.com", &root));
        assert!(!same_issuer("https://c.example.com/other", &root));
        assert!(!same_issuer("not a url", &root));
        let sub = Url::parse("https://example.com/coder/").unwrap();
        assert!(same_issuer("https://example.com/coder", &sub));
        assert!(!same_issuer("https://example.com/", &sub));
    }

    #[test]
    fn resource_must_cover_the_mcp_endpoint() {
        let endpoint = Url::parse("https://c.example.com/api/experimental/mcp/http").unwrap();
        assert!(resource_covers("https://c.example.com", &endpoint));
        assert!(resource_covers("https://c.example.com/", &endpoint));
        assert!(resource_covers(endpoint.as_str(), &endpoint));
        assert!(resource_covers("https://c.example.com/api", &endpoint));
        assert!(!resource_covers("https://c.example.com/ap", &endpoint));
        assert!(!resource_covers("https://c.example.com/other", &endpoint));
        assert!(!resource_covers("https://evil.example.com", &endpoint));
        assert!(!resource_covers("https://c.example.com:8443", &endpoint));
        assert!(!resource_covers("http://c.example.com", &endpoint));
    }

    #[test]
    fn endpoints_must_be_https_or_loopback() {
        let https = Url::parse("https://c.example.com/x").unwrap();
        let lan = Url::parse("http://c.example.com/x").unwrap();
        let local = Url::parse("http://127.0.0.1:3000/x").unwrap();
        let js = Url::parse("javascript:alert(1)").unwrap();
        let strict = HttpPolicy::HttpsOrLoopback;
        assert!(strict.check(&https, "token endpoint").is_ok());
        assert!(strict.check(&local, "token endpoint").is_ok());
        let err = strict.check(&lan, "token endpoint").unwrap_err();
        assert_eq!(err.code(), "insecure_http");
        assert!(err.to_string().contains("--allow-http"), "{err}");
        assert!(HttpPolicy::AllowHttp.check(&lan, "token endpoint").is_ok());
        assert!(HttpPolicy::AllowHttp.check(&js, "token endpoint").is_err());
    }
}
