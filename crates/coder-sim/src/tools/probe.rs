//! Simulator-only probe tools (not Coder's): switched on with
//! [`crate::SimConfig::probe_tools`], to check that a relay passes the parts
//! of MCP 2026-07-28 Coder's own tools do not use yet — a tool `title`,
//! `icons`, an `outputSchema` with `structuredContent`, and a multi
//! round-trip request (SEP-2322) that answers `resultType: "input_required"`.
//!
//! Their names start with `sim_probe_` and their descriptions say what they
//! are, so nobody mistakes them for a deployment's tools.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Icon, InputRequest,
    InputRequests, InputRequiredResult, JsonObject, Tool, ToolAnnotations,
};
use serde_json::{Value, json};

use super::tool_error;

/// A tool with every optional part of a tool definition filled in.
pub const RICH: &str = "sim_probe_rich_result";
/// A tool that needs the user's confirmation through the agent first.
pub const CONFIRM: &str = "sim_probe_confirm";
/// A tool whose `region` argument may also be asked for in a header.
pub const REGIONAL: &str = "sim_probe_regional";

/// The state the confirm tool hands out and expects back; a real server
/// would seal it, the probe only checks it came back unchanged.
const CONFIRM_STATE: &str = "sim-probe-confirm/round-1";

fn object(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

/// The probe tools' definitions. `describe` may replace a description (see
/// [`crate::Faults::redefine_tool`]); `param_header` adds the `x-mcp-header`
/// annotation to the regional tool.
pub(crate) fn tools(
    describe: impl Fn(&str, &'static str) -> String,
    param_header: bool,
) -> Vec<Tool> {
    let mut rich = Tool::new(
        RICH,
        describe(
            RICH,
            "[simulator probe] Report the deployment's health as structured content.",
        ),
        object(json!({
            "type": "object",
            "properties": {"verbose": {"type": "boolean", "description": "Include details."}},
        })),
    );
    rich.title = Some("Deployment health (probe)".into());
    let mut icon = Icon::new("https://coder.example/icons/health.svg");
    icon.mime_type = Some("image/svg+xml".into());
    icon.sizes = Some(vec!["any".into()]);
    rich.icons = Some(vec![icon]);
    rich.output_schema = Some(object(json!({
        "type": "object",
        "properties": {
            "healthy": {"type": "boolean"},
            "workspaces": {"type": "integer", "minimum": 0},
            "regions": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["healthy", "workspaces"],
    })));
    rich.annotations = Some(
        ToolAnnotations::new()
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(false),
    );

    let mut confirm = Tool::new(
        CONFIRM,
        describe(
            CONFIRM,
            "[simulator probe] Ask the user to confirm through the agent (input_required), then report the answer.",
        ),
        object(json!({
            "type": "object",
            "properties": {"action": {"type": "string"}},
            "required": ["action"],
        })),
    );
    confirm.annotations = Some(
        ToolAnnotations::new()
            .read_only(false)
            .destructive(true)
            .idempotent(false),
    );
    let mut region = json!({"type": "string", "description": "Where to look."});
    if param_header {
        region["x-mcp-header"] = json!("Region");
    }
    let mut regional = Tool::new(
        REGIONAL,
        describe(
            REGIONAL,
            "[simulator probe] Name the region a request was routed to.",
        ),
        object(json!({
            "type": "object",
            "properties": {"region": region},
            "required": ["region"],
        })),
    );
    regional.annotations = Some(ToolAnnotations::new().read_only(true));
    vec![rich, confirm, regional]
}

/// Runs a probe tool; `None` when `request` names none of them.
pub(crate) fn call(request: &CallToolRequestParams) -> Option<CallToolResponse> {
    match request.name.as_ref() {
        RICH => Some(rich_result().into()),
        CONFIRM => Some(confirm(request)),
        REGIONAL => {
            let region = request
                .arguments
                .as_ref()
                .and_then(|a| a.get("region"))
                .and_then(Value::as_str)
                .unwrap_or("none");
            Some(
                CallToolResult::success(vec![ContentBlock::text(format!("region: {region}"))])
                    .into(),
            )
        }
        _ => None,
    }
}

fn rich_result() -> CallToolResult {
    let structured = json!({"healthy": true, "workspaces": 2, "regions": ["eu-west", "us-east"]});
    let mut result = CallToolResult::structured(structured);
    result.content = vec![ContentBlock::text("2 workspaces, all healthy")];
    result
}

fn confirm(request: &CallToolRequestParams) -> CallToolResponse {
    let action = request
        .arguments
        .as_ref()
        .and_then(|a| a.get("action"))
        .and_then(Value::as_str)
        .unwrap_or("the action");
    let Some(responses) = &request.input_responses else {
        return ask_to_confirm(action).into();
    };
    if request.request_state.as_deref() != Some(CONFIRM_STATE) {
        return tool_error("requestState did not come back unchanged").into();
    }
    let answer = responses.get("confirm");
    let confirmed = answer
        .and_then(|a| a.get("content"))
        .and_then(|c| c.get("confirmed"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let accepted = answer
        .and_then(|a| a.get("action"))
        .and_then(Value::as_str)
        .is_some_and(|a| a == "accept");
    let text = if accepted && confirmed {
        format!("confirmed: {action}")
    } else {
        format!("not confirmed: {action}")
    };
    CallToolResult::success(vec![ContentBlock::text(text)]).into()
}

fn ask_to_confirm(action: &str) -> InputRequiredResult {
    // Written as the wire JSON and read back through the model type, so
    // what the simulator sends is what the schema defines.
    let elicit = json!({
        "method": "elicitation/create",
        "params": {
            "mode": "form",
            "message": format!("Confirm: {action}?"),
            "requestedSchema": {
                "type": "object",
                "properties": {"confirmed": {"type": "boolean"}},
                "required": ["confirmed"],
            },
        },
    });
    let mut requests = InputRequests::new();
    match serde_json::from_value::<InputRequest>(elicit) {
        Ok(request) => {
            requests.insert("confirm".to_owned(), request);
        }
        Err(e) => tracing::error!("probe elicitation does not parse: {e}"),
    }
    InputRequiredResult::new(Some(requests), Some(CONFIRM_STATE.to_owned()))
}

/// `POST /sim/probe/redefine {"tool": …, "description": …}`: serve a new
/// description for a tool (any tool, Coder's too), as an upgraded deployment
/// would. Only routed when the probe tools are on: it is a test control.
pub(crate) async fn redefine(
    axum::extract::State(shared): axum::extract::State<Arc<crate::state::Shared>>,
    axum::Json(body): axum::Json<Redefine>,
) -> http::StatusCode {
    shared.faults.redefine_tool(&body.tool, &body.description);
    http::StatusCode::NO_CONTENT
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct Redefine {
    tool: String,
    description: String,
}
