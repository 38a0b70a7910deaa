//! Multi-round-trip requests (SEP-2322) and agents that cannot take them:
//! an `input_required` answer only means something on MCP 2026-07-28.

use rmcp::{RoleServer, model::ProtocolVersion, service::RequestContext};

/// The negotiated protocol is older than 2026-07-28, which has no
/// multi-round-trip requests (SEP-2322).
pub(super) fn before_input_required(context: &RequestContext<RoleServer>) -> Option<String> {
    let version = context.protocol_version()?;
    (version.as_str() < ProtocolVersion::V_2026_07_28.as_str()).then(|| version.to_string())
}

/// What an agent on an older protocol is told when Coder asks for more input.
pub(super) fn input_required_unsupported(what: &str, version: &str) -> String {
    format!(
        "Coder needs more input to complete {what} (it answered `input_required`, a \
         multi-round-trip request of MCP 2026-07-28), but this agent's connection uses MCP \
         {version}, which cannot carry it. Coder did not complete the request. Use an agent \
         that speaks MCP 2026-07-28, or do this in Coder directly."
    )
}
