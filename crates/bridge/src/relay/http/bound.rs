//! Tokens that know where they may go.
//!
//! A credential leaves this machine only as a [`ClearedToken`], and the only
//! way to make one is [`clear`], which checks the session the token belongs
//! to against the URI the request is about to go to. The first token of a
//! request and a token renewed after a 401 take the same path, so a session
//! that changed deployment while a request was in flight (the user signed in
//! elsewhere) cannot hand its token to the old deployment's URL.

use url::Url;

use super::UpstreamHttpError;
use crate::auth::UpstreamSession;

/// Where a connection's tokens may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Coder's MCP endpoint: the URI must be the token's own deployment's
    /// MCP URL, exactly.
    CoderMcp,
    /// A fixed endpoint (the stdio shim's local daemon): the URI must be on
    /// the token's origin (scheme, host and port).
    SameOrigin,
}

/// A bearer token cleared for one request URI.
pub(super) struct ClearedToken(String);

impl ClearedToken {
    /// The token, for the request it was cleared for.
    pub(super) fn into_bearer(self) -> String {
        self.0
    }
}

/// The session's token, if `uri` is where that session's tokens belong.
pub(super) fn clear(
    session: &UpstreamSession,
    uri: &str,
    audience: Audience,
) -> Result<ClearedToken, UpstreamHttpError> {
    let Ok(target) = Url::parse(uri) else {
        return Err(UpstreamHttpError::DeploymentChanged);
    };
    let belongs = match audience {
        Audience::CoderMcp => session.mcp_url() == target,
        Audience::SameOrigin => session.access_url.origin() == target.origin(),
    };
    if !belongs {
        tracing::info!("not sending a token to a URL of another deployment");
        return Err(UpstreamHttpError::DeploymentChanged);
    }
    Ok(ClearedToken(session.access_token.expose().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn session(access_url: &str) -> UpstreamSession {
        UpstreamSession {
            access_url: access_url.parse().unwrap(),
            access_token: Secret::new("tok"),
            expires_at: None,
        }
    }

    #[test]
    fn a_coder_token_goes_only_to_its_own_mcp_url() {
        let a = session("https://a.example/");
        let to_a = "https://a.example/api/experimental/mcp/http";
        assert_eq!(
            clear(&a, to_a, Audience::CoderMcp).unwrap().into_bearer(),
            "tok"
        );
        for elsewhere in [
            "https://b.example/api/experimental/mcp/http",
            "http://a.example/api/experimental/mcp/http",
            "https://a.example:8443/api/experimental/mcp/http",
            "https://a.example/other",
            "not a url",
        ] {
            assert!(
                clear(&a, elsewhere, Audience::CoderMcp).is_err(),
                "{elsewhere}"
            );
        }
        // A deployment under a path owns only its own MCP URL.
        let sub = session("https://a.example/coder/");
        assert!(clear(&sub, to_a, Audience::CoderMcp).is_err());
        assert!(
            clear(
                &sub,
                "https://a.example/coder/api/experimental/mcp/http",
                Audience::CoderMcp
            )
            .is_ok()
        );
    }

    #[test]
    fn a_daemon_token_goes_only_to_its_origin() {
        let daemon = session("http://127.0.0.1:7331/");
        assert!(clear(&daemon, "http://127.0.0.1:7331/mcp", Audience::SameOrigin).is_ok());
        assert!(clear(&daemon, "http://127.0.0.1:7332/mcp", Audience::SameOrigin).is_err());
        assert!(clear(&daemon, "http://localhost:7331/mcp", Audience::SameOrigin).is_err());
    }
}
