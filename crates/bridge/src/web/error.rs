//! The control API's error answer: `{"error": {"code", "message"}}` with a
//! fitting status. Codes are stable; the UI branches on them.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error_code::ErrorCode;
use crate::supervisor::BridgeError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    #[error(
        "sign in to the control API: send the control token as a bearer token, or open the UI with `coder-bridge open`"
    )]
    Unauthorized,
    #[error("this endpoint needs the control token (Authorization: Bearer)")]
    BearerOnly,
    #[error("send the request body as JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Bridge(#[from] BridgeError),
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unauthorized | Self::BearerOnly => ErrorCode::Unauthorized,
            Self::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            Self::InvalidRequest(_) => ErrorCode::InvalidRequest,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Bridge(e) => e.code(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code().kind().status()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(code = %self.code(), error = %self, "control API request failed");
        }
        let body = json!({ "error": { "code": self.code(), "message": self.to_string() } });
        (status, Json(body)).into_response()
    }
}

/// Turns axum's body rejections (bad JSON, wrong type) into our shape.
impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(r: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::JsonRejection as R;
        match r {
            R::MissingJsonContentType(_) => Self::UnsupportedMediaType,
            other => Self::InvalidRequest(other.body_text()),
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(r: axum::extract::rejection::QueryRejection) -> Self {
        Self::InvalidRequest(r.body_text())
    }
}
