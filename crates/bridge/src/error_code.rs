//! The stable names of failures every face branches on: the control API's
//! `{"error": {"code"}}`, the `code` in an MCP error's `data`, a sign-in
//! attempt's `code`, and the CLI's exit status. One enum, so a code cannot
//! be misspelt on one side, and its HTTP class is decided in one place.
//!
//! The strings are a contract (`docs/control-api.md`, the UI): a variant's
//! name never changes once released.

use serde::{Deserialize, Serialize};

/// How bad an error is, in HTTP terms, so every face words it the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller asked for something malformed (400).
    Invalid,
    /// No credential, or not the right one (401).
    Unauthorized,
    /// A request from somewhere it may not come from (403).
    Forbidden,
    /// The thing asked about does not exist (404).
    NotFound,
    /// The request is fine but the state of things refuses it (409).
    Conflict,
    /// The body is not what the endpoint reads (415).
    UnsupportedMediaType,
    /// Coder or the user's session is the problem (502 / 401-like).
    Upstream,
    /// Our fault (500).
    Internal,
    /// Not now (503).
    Unavailable,
}

impl ErrorKind {
    /// The HTTP status the control API answers with.
    pub fn status(self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Self::Invalid => S::BAD_REQUEST,
            Self::Unauthorized => S::UNAUTHORIZED,
            Self::Forbidden => S::FORBIDDEN,
            Self::NotFound => S::NOT_FOUND,
            Self::Conflict => S::CONFLICT,
            Self::UnsupportedMediaType => S::UNSUPPORTED_MEDIA_TYPE,
            Self::Upstream => S::BAD_GATEWAY,
            Self::Internal => S::INTERNAL_SERVER_ERROR,
            Self::Unavailable => S::SERVICE_UNAVAILABLE,
        }
    }
}

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $text:literal, $kind:ident; )*) => {
        /// A stable failure code; serialises as its `snake_case` text.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* #[serde(rename = $text)] $variant, )*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as the wire carries it (`signed_out`).
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text,)* }
            }

            /// Its HTTP class.
            pub fn kind(self) -> ErrorKind {
                match self { $(Self::$variant => ErrorKind::$kind,)* }
            }
        }
    };
}

error_codes! {
    // The control API's own.
    /// No control token or dashboard session.
    Unauthorized = "unauthorized", Unauthorized;
    /// `Host` is not the daemon's loopback authority (DNS rebinding).
    ForbiddenHost = "forbidden_host", Forbidden;
    /// `Origin` is another site's.
    ForbiddenOrigin = "forbidden_origin", Forbidden;
    /// A state-changing request whose body is not declared JSON.
    UnsupportedMediaType = "unsupported_media_type", UnsupportedMediaType;
    InvalidRequest = "invalid_request", Invalid;
    NotFound = "not_found", NotFound;
    UnknownAgent = "unknown_agent", NotFound;
    /// An agent's config file cannot be parsed; it is left alone.
    ConfigUnparseable = "config_unparseable", Conflict;
    Conflict = "conflict", Conflict;
    /// The consent answer was for other arguments than the waiting call's.
    ConsentDigestMismatch = "consent_digest_mismatch", Conflict;
    DemoUnavailable = "demo_unavailable", Invalid;
    ShuttingDown = "shutting_down", Unavailable;
    Internal = "internal", Internal;

    // The auth room's (a failed sign-in, a relayed call that needs one).
    SignedOut = "signed_out", Upstream;
    SessionExpired = "session_expired", Upstream;
    Unreachable = "unreachable", Upstream;
    NotCoder = "not_coder", Invalid;
    OauthDisabled = "oauth_disabled", Upstream;
    RegistrationUnavailable = "registration_unavailable", Upstream;
    RegistrationRejected = "registration_rejected", Upstream;
    InsecureHttp = "insecure_http", Upstream;
    IssuerMismatch = "issuer_mismatch", Upstream;
    ResourceMismatch = "resource_mismatch", Upstream;
    ClientRejected = "client_rejected", Upstream;
    AccessDenied = "access_denied", Upstream;
    TimedOut = "timed_out", Upstream;
    InvalidToken = "invalid_token", Upstream;
    OauthError = "oauth_error", Upstream;
    /// The keychain or the secrets file cannot be written.
    Storage = "storage", Internal;
    CallbackUnavailable = "callback_unavailable", Internal;
    AuthError = "auth_error", Upstream;
    /// A sign-in replaced by a newer one, or a call its agent cancelled.
    Cancelled = "cancelled", Upstream;

    // Starting the daemon.
    PortInUse = "port_in_use", Internal;
    BindFailed = "bind_failed", Internal;
    Misconfigured = "misconfigured", Internal;
    ProofKeyUnwritable = "proof_key_unwritable", Internal;

    // A relayed MCP call's (`data.code` of the JSON-RPC error).
    SignInRequired = "sign_in_required", Upstream;
    UpstreamError = "upstream_error", Upstream;
    /// The call may have run: it was not sent again.
    CallInterrupted = "call_interrupted", Upstream;
    UpstreamUnavailable = "upstream_unavailable", Upstream;
    UpstreamForbidden = "upstream_forbidden", Upstream;
    UpstreamProtocol = "upstream_protocol", Upstream;
}

impl ErrorCode {
    /// The CLI's exit status for a command that failed with this code.
    /// `docs/CLI.md` promises non-zero for every failure and, for
    /// `coder-bridge status`, 1 when signed out; scripts test for that, so
    /// every code maps to 1 until a command documents a finer status.
    pub fn exit_status(self) -> u8 {
        1
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ErrorCode {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or(())
    }
}

/// Tests and callers that hold the wire text compare it directly.
impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_its_text_and_parses_back() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::from(code.as_str()));
            assert_eq!(serde_json::from_value::<ErrorCode>(json).unwrap(), *code);
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(*code));
        }
        let mut texts: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), ErrorCode::ALL.len(), "every text is unique");
    }

    #[test]
    fn kinds_decide_the_status() {
        assert_eq!(ErrorCode::UnknownAgent.kind().status(), 404);
        assert_eq!(ErrorCode::ConsentDigestMismatch.kind().status(), 409);
        assert_eq!(ErrorCode::ShuttingDown.kind().status(), 503);
        assert_eq!(ErrorCode::SignedOut.kind().status(), 502);
        assert_eq!(ErrorCode::Storage.kind().status(), 500);
        assert_eq!(ErrorCode::NotCoder.kind().status(), 400);
        assert_eq!(ErrorCode::ForbiddenOrigin.kind().status(), 403);
    }
}
