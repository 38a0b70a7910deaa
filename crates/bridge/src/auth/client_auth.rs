//! How Coder Bridge authenticates its OAuth2 client at the token and
//! revocation endpoints: `client_secret_basic`, `client_secret_post`, or
//! none (a public client, which sends only its `client_id`).
//!
//! Servers read RFC 6749 §2.3.1 differently: some want the credentials only
//! in the `Authorization: Basic` header, some also insist on `client_id` in
//! the form (the MCP Python SDK), some accept only the form. So the method
//! comes from what the registration says, else from the server's metadata;
//! `client_id` is always in the form too (RFC 6749 lets any client send its
//! identifier there); and a refusal of the client's authentication is
//! retried once with the other secret-based method before giving up.

use std::future::Future;

use oauth2::AuthType;
use serde::{Deserialize, Serialize};

use super::AuthError;
use crate::secret::Secret;

/// RFC 7591 `token_endpoint_auth_method` values we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    ClientSecretBasic,
    ClientSecretPost,
    None,
}

impl ClientAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuth::ClientSecretBasic => "client_secret_basic",
            ClientAuth::ClientSecretPost => "client_secret_post",
            ClientAuth::None => "none",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "client_secret_basic" => Some(ClientAuth::ClientSecretBasic),
            "client_secret_post" => Some(ClientAuth::ClientSecretPost),
            "none" => Some(ClientAuth::None),
            _ => None,
        }
    }

    /// The method to use: without a secret there is only `none`; with one,
    /// what the registration said, else what the server lists (RFC 8414's
    /// default is `client_secret_basic`, which every Coder release takes).
    pub fn choose(registered: Option<ClientAuth>, supported: &[String], has_secret: bool) -> Self {
        if !has_secret {
            return ClientAuth::None;
        }
        if let Some(method) = registered.filter(|m| *m != ClientAuth::None) {
            return method;
        }
        let lists = |m: ClientAuth| supported.iter().any(|s| s == m.as_str());
        if supported.is_empty() || lists(ClientAuth::ClientSecretBasic) {
            ClientAuth::ClientSecretBasic
        } else if lists(ClientAuth::ClientSecretPost) {
            ClientAuth::ClientSecretPost
        } else {
            ClientAuth::ClientSecretBasic
        }
    }

    /// The one other method worth trying after a refusal.
    pub fn fallback(self) -> Option<Self> {
        match self {
            ClientAuth::ClientSecretBasic => Some(ClientAuth::ClientSecretPost),
            ClientAuth::ClientSecretPost => Some(ClientAuth::ClientSecretBasic),
            ClientAuth::None => None,
        }
    }

    /// How the `oauth2` crate should send the credentials. With no secret
    /// it sends `client_id` in the form either way.
    pub(crate) fn auth_type(self) -> AuthType {
        match self {
            ClientAuth::ClientSecretBasic => AuthType::BasicAuth,
            ClientAuth::ClientSecretPost | ClientAuth::None => AuthType::RequestBody,
        }
    }

    /// Whether `client_id` must be added to the form by hand: the `oauth2`
    /// crate leaves it out when it uses the Basic header.
    pub(crate) fn needs_form_client_id(self, has_secret: bool) -> bool {
        self == ClientAuth::ClientSecretBasic && has_secret
    }

    /// Adds this method's credentials to a hand-built request (revocation).
    pub(crate) fn apply(
        self,
        request: reqwest::RequestBuilder,
        form: &mut Vec<(&'static str, String)>,
        client_id: &str,
        secret: Option<&Secret>,
    ) -> reqwest::RequestBuilder {
        form.push(("client_id", client_id.to_string()));
        match (self, secret) {
            (ClientAuth::ClientSecretBasic, Some(secret)) => {
                // RFC 6749 §2.3.1: each part form-urlencoded before Basic.
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                request.basic_auth(enc(client_id), Some(enc(secret.expose())))
            }
            (ClientAuth::ClientSecretPost, Some(secret)) => {
                form.push(("client_secret", secret.expose().to_string()));
                request
            }
            _ => request,
        }
    }
}

/// The server refused the client's authentication (not the grant).
pub(crate) fn is_client_auth_refusal(err: &AuthError) -> bool {
    matches!(err, AuthError::OAuth { error, .. } if error == "invalid_client" || error == "unauthorized_client")
}

/// Whether a refusal says the client does not exist at all (as opposed to
/// "wrong method", "missing field" or "bad secret"): only then may a
/// registration be discarded. Servers word it differently; these are the
/// wordings of Coder and the MCP Python SDK, and the plain-English ones.
pub(crate) fn says_client_unknown(err: &AuthError) -> bool {
    let AuthError::OAuth {
        description: Some(description),
        ..
    } = err
    else {
        return false;
    };
    let text = description.to_ascii_lowercase();
    [
        "unknown client",
        "client not found",
        "invalid client_id",
        "no such client",
        "client does not exist",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// Runs `attempt` with `first`; when the server refuses the client's
/// authentication and another method exists, logs it and tries once more
/// with that one. Returns the result and the method that produced it.
pub(crate) async fn with_fallback<T, F, Fut>(
    first: ClientAuth,
    endpoint: &str,
    mut attempt: F,
) -> (Result<T, AuthError>, ClientAuth)
where
    F: FnMut(ClientAuth) -> Fut,
    Fut: Future<Output = Result<T, AuthError>>,
{
    match attempt(first).await {
        Err(err) if is_client_auth_refusal(&err) => match first.fallback() {
            Some(next) => {
                tracing::info!(
                    endpoint,
                    refused = first.as_str(),
                    retrying_with = next.as_str(),
                    error = %err,
                    "the OAuth2 server refused the client authentication; trying once with the other method"
                );
                (attempt(next).await, next)
            }
            None => (Err(err), first),
        },
        other => (other, first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_method_follows_the_registration_then_the_metadata() {
        use ClientAuth::*;
        assert_eq!(
            ClientAuth::choose(Option::None, &[], true),
            ClientSecretBasic
        );
        assert_eq!(ClientAuth::choose(Option::None, &[], false), None);
        let post_only = list(&["client_secret_post", "none"]);
        assert_eq!(
            ClientAuth::choose(Option::None, &post_only, true),
            ClientSecretPost
        );
        let both = list(&["client_secret_post", "client_secret_basic"]);
        assert_eq!(
            ClientAuth::choose(Option::None, &both, true),
            ClientSecretBasic
        );
        assert_eq!(
            ClientAuth::choose(Some(ClientSecretPost), &both, true),
            ClientSecretPost
        );
        assert_eq!(
            ClientAuth::choose(Some(ClientSecretBasic), &both, false),
            None
        );
        assert_eq!(ClientSecretBasic.fallback(), Some(ClientSecretPost));
        assert_eq!(None.fallback(), Option::None);
    }

    #[test]
    fn only_an_unknown_client_is_forgotten() {
        let refusal = |d: &str| AuthError::OAuth {
            error: "invalid_client".into(),
            description: Some(d.into()),
        };
        assert!(says_client_unknown(&refusal("unknown client")));
        assert!(says_client_unknown(&refusal("Invalid client_id")));
        assert!(!says_client_unknown(&refusal("Missing client_id")));
        assert!(!says_client_unknown(&refusal("Client secret is required")));
        assert!(!says_client_unknown(&AuthError::OAuth {
            error: "invalid_client".into(),
            description: Option::None,
        }));
    }

    #[tokio::test]
    async fn a_refused_method_is_retried_once_with_the_other() {
        let refused = || AuthError::OAuth {
            error: "invalid_client".into(),
            description: Some("Missing client_id".into()),
        };
        let mut tried = Vec::new();
        let (result, used) = with_fallback(ClientAuth::ClientSecretBasic, "t", |m| {
            tried.push(m);
            let outcome = if m == ClientAuth::ClientSecretPost {
                Ok(1)
            } else {
                Err(refused())
            };
            async move { outcome }
        })
        .await;
        assert_eq!(result.unwrap(), 1);
        assert_eq!(used, ClientAuth::ClientSecretPost);
        assert_eq!(tried.len(), 2);

        let mut count = 0;
        let (result, _) = with_fallback(ClientAuth::ClientSecretBasic, "t", |_| {
            count += 1;
            let err = refused();
            async move { Err::<(), _>(err) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(count, 2, "only once more");
    }
}
