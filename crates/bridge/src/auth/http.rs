//! The HTTP client the auth room uses, and its bridge to the `oauth2` crate.
//!
//! `oauth2` 5 ships an integration for reqwest 0.12; the workspace uses 0.13,
//! so [`OAuthHttp`] implements `oauth2::AsyncHttpClient` over our client.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use http::header::{AUTHORIZATION, HeaderValue};
use oauth2::{HttpClientError, HttpRequest, HttpResponse};

use super::AuthError;
use crate::secret::Secret;

/// Header Coder reads a session token from (besides `Authorization: Bearer`).
pub(crate) const SESSION_TOKEN_HEADER: &str = "Coder-Session-Token";

/// A client for discovery, registration, token and user requests.
///
/// Redirects are not followed: an OAuth endpoint that redirects is either
/// misconfigured or trying to bounce credentials elsewhere.
pub(crate) fn client() -> Result<reqwest::Client, AuthError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("coder-bridge/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| AuthError::Other(format!("cannot build the HTTP client: {e}")))
}

/// A header value carrying a secret, marked sensitive so that HTTP-layer
/// debugging never prints it.
pub(crate) fn sensitive_header(value: &Secret) -> Result<HeaderValue, AuthError> {
    let mut header = HeaderValue::from_str(value.expose())
        .map_err(|_| AuthError::Other("the token contains invalid characters".into()))?;
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
            AuthError::Other(format!("unexpected answer from {url}: {e}"))
        }
        oauth2::RequestTokenError::Other(e) => AuthError::Other(format!("{url}: {e}")),
    }
}
