//! What the handler measures and checks about one message: sizes for the
//! activity record, the outcome, and that the arguments about to go
//! upstream are the approved ones.

use rmcp::{
    ErrorData,
    model::{CallToolRequestParams, CallToolResponse, GetPromptResponse, ResultType},
};
use serde::Serialize;

use crate::{consent::ArgumentsDigest, events::Outcome};

/// The size of `value` as JSON, counted while serialising into nothing: no
/// buffer is allocated or copied just to learn a number for the record.
pub(super) fn json_len<T: Serialize>(value: &T) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).map_or(0, |()| count.0)
}

/// `Content-Length` of the HTTP request that carried this message, if any.
pub(super) fn body_len(extensions: &rmcp::model::Extensions) -> Option<u64> {
    extensions
        .get::<axum::http::request::Parts>()?
        .headers
        .get(axum::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// `Ok` when the arguments about to go upstream are, byte for byte, the ones
/// the user approved (their digest is the approved one).
pub(super) fn bind_to_approval(
    upstream: &CallToolRequestParams,
    approved: &ArgumentsDigest,
) -> Result<(), String> {
    let sending = ArgumentsDigest::of(upstream.arguments.as_ref());
    if sending == *approved {
        Ok(())
    } else {
        Err(format!(
            "Coder Bridge refused the call: its arguments (digest {}) are not the ones the \
             user approved (digest {}).",
            sending.short(),
            approved.short()
        ))
    }
}

/// A result relayed from a pre-2026-07-28 upstream (every Coder release so
/// far) carries no `resultType`. Agents that negotiated 2026-07-28 with us
/// require `"complete"` on it; rmcp strips it again for older agents.
pub(super) fn mark_complete(response: &mut CallToolResponse) {
    if let CallToolResponse::Complete(r) = response {
        r.result_type.get_or_insert(ResultType::COMPLETE);
    }
}

pub(super) fn call_len(response: &CallToolResponse) -> u64 {
    match response {
        CallToolResponse::Complete(r) => json_len(r),
        CallToolResponse::InputRequired(r) => json_len(r),
        CallToolResponse::Task(r) => json_len(r),
        _ => 0,
    }
}

pub(super) fn prompt_len(response: &GetPromptResponse) -> u64 {
    match response {
        GetPromptResponse::Complete(r) => json_len(r),
        GetPromptResponse::InputRequired(r) => json_len(r),
        _ => 0,
    }
}

pub(super) fn outcome_of<T>(result: &Result<T, ErrorData>) -> Outcome {
    if result.is_ok() {
        Outcome::Ok
    } else {
        Outcome::Failed
    }
}
