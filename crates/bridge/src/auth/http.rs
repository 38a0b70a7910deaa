//! The HTTP client the auth room uses, and its bridge to the `oauth2` crate.
//!
//! `oauth2` 5 ships an integration for reqwest 0.12; the workspace uses 0.13,
//! so [`OAuthHttp`] implements `oauth2::AsyncHttpClient` over our client.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use http::header::{AUTHORIZATION, HeaderValue};
use oauth2::{HttpClientError, HttpRequest, HttpResponse};
use url::Url;

use super::AuthError;
use crate::secret::Secret;

/// Header Coder reads a session token from (besides `Authorization: Bearer`).
pub(crate) const SESSION_TOKEN_HEADER: &str = "Coder-Session-Token";

/// Whether plain `http://` may carry tokens and client secrets to a
/// deployment's endpoints. Loopback addresses never leave the machine, so
/// they are always allowed; anything else needs the user's explicit
/// `--allow-http`, which is remembered with the session so a refresh never
/// downgrades silently.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HttpPolicy {
    /// `https://`, or `http://` to a loopback address.
    #[default]
    HttpsOrLoopback,
    /// Also plain `http://` to other hosts (`login --allow-http`).
    AllowHttp,
}

impl HttpPolicy {
    pub fn from_allow_http(allow_http: bool) -> Self {
        if allow_http {
            Self::AllowHttp
        } else {
            Self::HttpsOrLoopback
        }
    }

    pub fn allows_http(self) -> bool {
        self == Self::AllowHttp
    }

    /// Refuses `url` (described as `what`) unless credentials may go there.
    pub fn check(self, url: &Url, what: &str) -> Result<(), AuthError> {
        match url.scheme() {
            "https" => Ok(()),
            "http" if is_loopback(url) || self.allows_http() => Ok(()),
            "http" => Err(AuthError::InsecureUrl {
                what: what.to_string(),
                url: url.to_string(),
            }),
            other => Err(AuthError::NotCoder {
                url: url.to_string(),
                reason: format!("its {what} uses the {other:?} scheme; only https is accepted"),
            }),
        }
    }
}

/// `http://` to a host other than this machine: what `--allow-http` is for.
pub fn is_plain_http_remote(url: &Url) -> bool {
    url.scheme() == "http" && !is_loopback(url)
}

/// True for `localhost`, 127.0.0.0/8 and `::1`.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A client for discovery, registration, token and user requests.
///
/// Redirects are not followed: an OAuth endpoint that redirects is either
/// misconfigured or trying to bounce credentials elsewhere.
///
/// Proxies: a remote deployment is often reachable only through the user's
/// proxy (`https_proxy`, `http_proxy`, `all_proxy`, `no_proxy`), so those are
/// honoured for it; https goes through a proxy as an end-to-end tunnel, so
/// the proxy never sees a token. Loopback destinations (a local deployment,
/// a test server) always go direct: a proxy could not reach this machine's
/// loopback anyway, and would see plain-http credentials in the clear.
pub(crate) fn client() -> Result<reqwest::Client, AuthError> {
    let mut builder = reqwest::Client::builder();
    if let Some(proxy) = proxy_except_loopback() {
        builder = builder.proxy(proxy);
    } else {
        builder = builder.no_proxy();
    }
    builder
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("coder-bridge/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| AuthError::other_from("cannot build the HTTP client", e))
}

/// The user's proxy settings from the environment, never applied to
/// loopback destinations. `None` when no proxy is configured.
fn proxy_except_loopback() -> Option<reqwest::Proxy> {
    let var = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
            .and_then(|v| Url::parse(v.trim()).ok())
    };
    let http = var(&[crate::env::HTTP_PROXY]);
    let https = var(crate::env::HTTPS_PROXY);
    let all = var(crate::env::ALL_PROXY);
    if http.is_none() && https.is_none() && all.is_none() {
        return None;
    }
    let user_no_proxy = crate::env::NO_PROXY
        .iter()
        .find_map(|n| std::env::var(n).ok())
        .unwrap_or_default();
    let no_proxy =
        reqwest::NoProxy::from_string(&format!("localhost,127.0.0.0/8,::1,{user_no_proxy}"));
    let proxy = reqwest::Proxy::custom(move |url| {
        if is_loopback(url) {
            return None;
        }
        match url.scheme() {
            "https" => https.clone().or_else(|| all.clone()),
            "http" => http.clone().or_else(|| all.clone()),
            _ => None,
        }
    });
    Some(proxy.no_proxy(no_proxy))
}

/// A header value carrying a secret, marked sensitive so that HTTP-layer
/// debugging never prints it.
pub(crate) fn sensitive_header(value: &Secret) -> Result<HeaderValue, AuthError> {
    let mut header = HeaderValue::from_str(value.expose())
        .map_err(|_| AuthError::other("the token contains invalid characters"))?;
    header.set_sensitive(true);
    Ok(header)
}

/// `oauth2`'s view of our reqwest client.
#[derive(Debug, Clone)]
pub(crate) struct OAuthHttp(pub reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp {
    type Error = HttpClientError<reqwest::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, mut request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            // The oauth2 crate puts client credentials in Basic auth.
            if let Some(value) = request.headers_mut().get_mut(AUTHORIZATION) {
                value.set_sensitive(true);
            }
            let request: reqwest::Request = request.try_into().map_err(Box::new)?;
            let response = self.0.execute(request).await.map_err(Box::new)?;
            let mut builder = http::Response::builder()
                .status(response.status())
                .version(response.version());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = response.bytes().await.map_err(Box::new)?;
            builder.body(body.to_vec()).map_err(HttpClientError::Http)
        })
    }
}

/// Turns an `oauth2` request failure into an [`AuthError`], keeping the
/// server's OAuth error code (`invalid_grant`, `invalid_client`, ...) so the
/// caller can branch on it.
pub(crate) fn token_error<RE, T>(
    url: &str,
    err: oauth2::RequestTokenError<RE, oauth2::StandardErrorResponse<T>>,
) -> AuthError
where
    RE: std::error::Error + 'static,
    T: oauth2::ErrorResponseType + std::fmt::Display,
{
    match err {
        oauth2::RequestTokenError::ServerResponse(resp) => AuthError::OAuth {
            error: resp.error().to_string(),
            description: resp.error_description().cloned(),
        },
        oauth2::RequestTokenError::Request(e) => AuthError::Unreachable {
            url: url.to_string(),
            reason: super::error_chain(&e),
        },
        oauth2::RequestTokenError::Parse(e, _body) => {
            AuthError::other_from(format!("unexpected answer from {url}"), e)
        }
        oauth2::RequestTokenError::Other(e) => AuthError::other_from(url.to_string(), e),
    }
}
