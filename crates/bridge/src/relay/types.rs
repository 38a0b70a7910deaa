//! The relay's public vocabulary: errors with stable codes, connection
//! state, options.

use std::time::Duration;

use rmcp::model::{ErrorCode, ErrorData};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::ProgressSink;

/// JSON-RPC error code: not signed in to Coder, or the session could not be renewed.
pub const SIGN_IN_REQUIRED: ErrorCode = ErrorCode(-32001);
/// JSON-RPC error code: Coder could not be reached (nothing was run).
pub const UPSTREAM_UNAVAILABLE: ErrorCode = ErrorCode(-32003);
/// JSON-RPC error code: the connection dropped while a call was in flight.
pub const CALL_INTERRUPTED: ErrorCode = ErrorCode(-32004);
/// JSON-RPC error code: Coder refused the token for its MCP endpoint (403).
pub const UPSTREAM_FORBIDDEN: ErrorCode = ErrorCode(-32005);

/// What went wrong with a relayed request. `code()` is stable.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// Only the user can fix this, by signing in (tray or `coder-bridge login`).
    #[error("{message}")]
    SignInRequired {
        /// The auth room's error code (`signed_out`, `session_expired`, ...).
        auth_code: crate::error_code::ErrorCode,
        message: String,
    },
    /// Coder answered with a JSON-RPC error; passed through as is.
    #[error("Coder answered with an error: {}", .0.message)]
    Upstream(ErrorData),
    /// The call may or may not have run upstream; it was not re-sent.
    #[error(
        "the connection to Coder dropped while the call was in flight; it may or may not have run. Check its effect before calling it again ({reason})"
    )]
    Interrupted { reason: String },
    /// Coder could not be reached in time; the request did not run.
    #[error("Coder is unreachable, the request was not run: {reason}")]
    Unavailable { reason: String },
    /// Coder refused the token for this resource (HTTP 403).
    #[error(
        "Coder refused the bridge's token (403 Forbidden): {detail}. Sign in again with `coder-bridge login <deployment-url>`"
    )]
    Forbidden { detail: String },
    /// The agent cancelled the request.
    #[error("the request was cancelled")]
    Cancelled,
    /// The upstream answered something that is not a valid reply.
    #[error("unexpected reply from Coder: {0}")]
    Protocol(String),
}

impl RelayError {
    pub fn code(&self) -> crate::error_code::ErrorCode {
        use crate::error_code::ErrorCode as C;
        match self {
            RelayError::SignInRequired { .. } => C::SignInRequired,
            RelayError::Upstream(_) => C::UpstreamError,
            RelayError::Interrupted { .. } => C::CallInterrupted,
            RelayError::Unavailable { .. } => C::UpstreamUnavailable,
            RelayError::Forbidden { .. } => C::UpstreamForbidden,
            RelayError::Cancelled => C::Cancelled,
            RelayError::Protocol(_) => C::UpstreamProtocol,
        }
    }

    /// The JSON-RPC error an agent receives.
    pub fn to_error_data(&self) -> ErrorData {
        let data = |extra: serde_json::Value| {
            let mut obj = serde_json::json!({ "code": self.code() });
            if let (Some(o), serde_json::Value::Object(e)) = (obj.as_object_mut(), extra) {
                o.extend(e);
            }
            Some(obj)
        };
        match self {
            RelayError::Upstream(e) => e.clone(),
            RelayError::SignInRequired { auth_code, .. } => ErrorData::new(
                SIGN_IN_REQUIRED,
                self.to_string(),
                data(serde_json::json!({
                    "auth": auth_code,
                    "signIn": "open the Coder Bridge tray menu, or run `coder-bridge login <deployment-url>`",
                })),
            ),
            RelayError::Interrupted { .. } => ErrorData::new(
                CALL_INTERRUPTED,
                self.to_string(),
                data(serde_json::json!({})),
            ),
            RelayError::Unavailable { .. } => ErrorData::new(
                UPSTREAM_UNAVAILABLE,
                self.to_string(),
                data(serde_json::json!({})),
            ),
            RelayError::Forbidden { .. } => ErrorData::new(
                UPSTREAM_FORBIDDEN,
                self.to_string(),
                data(serde_json::json!({})),
            ),
            RelayError::Cancelled => ErrorData::new(
                // Agents cancelled the request themselves; they rarely look
                // at the answer, but it must still be a well-formed error.
                ErrorCode::INTERNAL_ERROR,
                self.to_string(),
                data(serde_json::json!({})),
            ),
            RelayError::Protocol(_) => ErrorData::internal_error(self.to_string(), None),
        }
    }
}

/// The relay's connection state, for `/healthz`, `status` and the UI
/// (serialised as [`RelayStatus::as_str`] says).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelayStatus {
    /// Not connected yet, or reconnecting.
    Connecting,
    Connected,
    /// Not signed in, or the session ended and could not be renewed.
    SignedOut,
    /// The last attempt failed; the next request tries again.
    Error,
}

impl RelayStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RelayStatus::Connecting => "connecting",
            RelayStatus::Connected => "connected",
            RelayStatus::SignedOut => "signed_out",
            RelayStatus::Error => "error",
        }
    }
}

/// A snapshot of the relay's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayState {
    pub status: RelayStatus,
    /// The deployment's access URL, once known.
    pub deployment: Option<Url>,
    /// Why the last attempt failed (no secrets).
    pub detail: Option<String>,
}

/// Which URL the relay connects to.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// `<access url>/api/experimental/mcp/http` of the signed-in deployment.
    CoderMcp,
    /// A fixed MCP URL (the stdio shim talking to the local daemon).
    Fixed(Url),
}

/// Tunables; the defaults suit the daemon.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    pub endpoint: Endpoint,
    /// How long a request may keep retrying (reconnects included) before the
    /// agent gets "unreachable".
    pub retry_window: Duration,
    /// Longest pause between reconnect attempts.
    pub backoff_cap: Duration,
    /// Time limit for one attempt at an idempotent request (list, get, ping).
    pub request_timeout: Duration,
    /// Time limit for the initialize handshake.
    pub connect_timeout: Duration,
    /// When to suspect that Coder stopped answering, and how to check.
    pub liveness: LivenessOptions,
}

/// The relay's check that Coder still answers while requests wait on it
/// (see `relay/liveness.rs`). The defaults are the constants there.
#[derive(Debug, Clone)]
pub struct LivenessOptions {
    /// Off: requests wait as long as their own limits allow.
    pub enabled: bool,
    /// A request waiting this long makes the relay probe the deployment.
    pub suspect_after: Duration,
    /// Time limit for one probe.
    pub probe_timeout: Duration,
    /// Between probes while a long request runs and Coder answers.
    pub probe_every: Duration,
    /// Between probes after a failed one and while Coder is down.
    pub probe_every_down: Duration,
    /// Failed probes in a row that declare Coder not responding.
    pub failures_to_declare: u32,
}

impl Default for LivenessOptions {
    fn default() -> Self {
        use super::liveness as l;
        Self {
            enabled: true,
            suspect_after: l::SUSPECT_AFTER,
            probe_timeout: l::PROBE_TIMEOUT,
            probe_every: l::PROBE_EVERY,
            probe_every_down: l::PROBE_EVERY_DOWN,
            failures_to_declare: l::FAILURES_TO_DECLARE,
        }
    }
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            endpoint: Endpoint::CoderMcp,
            retry_window: Duration::from_secs(20),
            backoff_cap: Duration::from_secs(2),
            // Lists, gets and pings have no side effects and Coder answers
            // them from memory: a short limit, then a retry.
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(15),
            liveness: LivenessOptions::default(),
        }
    }
}

/// Per-call options for [`Relay::call_tool`].
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Cancelled when the agent cancels; the relay then cancels upstream.
    pub cancel: CancellationToken,
    /// Where upstream progress notifications for this call go.
    pub progress: Option<ProgressSink>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthError;

    #[test]
    fn sign_in_required_is_a_stable_json_rpc_error_with_the_fix() {
        let auth = AuthError::SignedOut;
        let e = RelayError::SignInRequired {
            auth_code: auth.code(),
            message: auth.to_string(),
        };
        let data = e.to_error_data();
        assert_eq!(data.code, SIGN_IN_REQUIRED);
        assert!(
            data.message.contains("coder-bridge login"),
            "{}",
            data.message
        );
        let extra = data.data.expect("data");
        assert_eq!(extra["code"], "sign_in_required");
        assert_eq!(extra["auth"], "signed_out");
    }

    #[test]
    fn each_failure_has_its_own_code() {
        let cases = [
            (
                RelayError::Interrupted { reason: "x".into() },
                CALL_INTERRUPTED,
                "call_interrupted",
            ),
            (
                RelayError::Unavailable { reason: "x".into() },
                UPSTREAM_UNAVAILABLE,
                "upstream_unavailable",
            ),
            (
                RelayError::Forbidden { detail: "x".into() },
                UPSTREAM_FORBIDDEN,
                "upstream_forbidden",
            ),
        ];
        for (error, code, name) in cases {
            assert_eq!(error.code(), name);
            assert_eq!(error.to_error_data().code, code);
        }
        assert!(
            RelayError::Interrupted { reason: "x".into() }
                .to_string()
                .contains("may or may not have run")
        );
        // Upstream errors pass through untouched.
        let upstream = ErrorData::invalid_params("bad", None);
        assert_eq!(
            RelayError::Upstream(upstream.clone()).to_error_data(),
            upstream
        );
    }
}
