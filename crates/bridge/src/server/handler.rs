//! The MCP server agents talk to: every request is checked with the gate,
//! relayed upstream and recorded as a [`CallEvent`].

use std::{
    sync::{Arc, Mutex},
    time::{Instant, SystemTime},
};

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
        GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
        ListToolsResult, PaginatedRequestParams, ResultType, ServerCapabilities, ServerConfig,
    },
    service::{NotificationContext, Peer, RequestContext},
};
use serde::Serialize;

mod input_required;
mod measure;
mod upstream_meta;

use self::input_required::{before_input_required, input_required_unsupported};
use self::measure::{
    bind_to_approval, body_len, call_len, json_len, mark_complete, outcome_of, prompt_len,
};
use super::{guard::AgentId, limits, summary};
use crate::{
    consent::{AnsweredBy, ArgumentsDigest, digest::canonical_bytes},
    events::{CallEvent, ConsentDecision, EventSender, Outcome},
    gate::{CallGate, GateDecision, GateRequest, ToolLookup},
    relay::{CallOptions, ProgressSink, Relay, RelayError},
};

/// Agents with an open session, so list-changed notifications reach them.
pub(crate) type Sessions = Arc<Mutex<Vec<Peer<RoleServer>>>>;

/// One instance per agent session (rmcp's service factory clones it).
#[derive(Clone)]
pub struct RelayServer {
    pub(crate) relay: Relay,
    pub(crate) gate: Arc<dyn CallGate>,
    pub(crate) events: EventSender,
    pub(crate) sessions: Sessions,
    /// The agent, when the transport cannot say (the stdio shim serves one).
    pub(crate) fixed_agent: Option<AgentId>,
}

impl std::fmt::Debug for RelayServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayServer")
            .field("fixed_agent", &self.fixed_agent)
            .finish_non_exhaustive()
    }
}

/// What one request leaves in the activity record, filled in as it goes.
struct Record {
    started: Instant,
    agent: AgentId,
    client_name: Option<String>,
    method: &'static str,
    tool: Option<String>,
    arguments_summary: Option<String>,
    bytes_in: u64,
    consent: Option<ConsentDecision>,
    args_digest: Option<ArgumentsDigest>,
    answered_by: Option<AnsweredBy>,
}

impl RelayServer {
    /// A server for one fixed agent (the stdio shim), with no sessions registry.
    pub fn for_agent(
        relay: Relay,
        gate: Arc<dyn CallGate>,
        events: EventSender,
        agent: impl Into<AgentId>,
    ) -> Self {
        Self {
            relay,
            gate,
            events,
            sessions: Sessions::default(),
            fixed_agent: Some(agent.into()),
        }
    }

    fn begin<P: Serialize>(
        &self,
        context: &RequestContext<RoleServer>,
        method: &'static str,
        params: &P,
    ) -> Record {
        Record {
            started: Instant::now(),
            agent: self.agent(&context.extensions),
            client_name: client_name(context),
            method,
            tool: None,
            arguments_summary: None,
            // Over HTTP the body's length is known already; only the stdio
            // shim's requests are measured by serialising them.
            bytes_in: body_len(&context.extensions).unwrap_or_else(|| json_len(params)),
            consent: None,
            args_digest: None,
            answered_by: None,
        }
    }

    fn agent(&self, extensions: &rmcp::model::Extensions) -> AgentId {
        extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<AgentId>())
            .cloned()
            .or_else(|| self.fixed_agent.clone())
            .unwrap_or_else(|| AgentId::from("unknown"))
    }

    /// Records a finished request; `size` measures a successful answer.
    fn finish<R>(
        &self,
        record: Record,
        result: &Result<R, ErrorData>,
        outcome: Outcome,
        size: impl FnOnce(&R) -> u64,
    ) {
        let (error, bytes_out) = match result {
            Ok(r) => (None, size(r)),
            Err(e) => (Some(e.message.to_string()), json_len(e)),
        };
        self.finish_with(record, outcome, error, bytes_out);
    }

    fn finish_with(&self, record: Record, outcome: Outcome, error: Option<String>, bytes_out: u64) {
        let event = CallEvent {
            at: SystemTime::now(),
            agent: record.agent,
            client_name: record.client_name,
            method: record.method.to_owned(),
            tool: record.tool,
            arguments_summary: record.arguments_summary,
            outcome,
            error,
            latency: record.started.elapsed(),
            bytes_in: record.bytes_in,
            bytes_out,
            consent: record.consent,
            args_digest: record.args_digest.map(|d| d.to_string()),
            answered_by: record.answered_by,
        };
        // No subscriber is fine (nobody is watching); never block a call on it.
        let _ = self.events.send(event);
    }
}

/// What the client calls itself, bounded: it is the agent's to choose.
///
/// A 2026-07-28 agent has no handshake and names itself on every request
/// (`io.modelcontextprotocol/clientInfo` in `_meta`); rmcp's stand-in peer
/// info for such a request names rmcp, not the client, so the request's own
/// claim comes first. Session-era agents named themselves in `initialize`.
fn client_name(context: &RequestContext<RoleServer>) -> Option<String> {
    context
        .meta
        .client_info()
        .map(|i| i.name)
        .or_else(|| context.peer.peer_info().map(|p| p.client_info.name.clone()))
        .map(|name| limits::bounded_client_name(&name))
}

/// The refusal of a call whose tool name or arguments are out of bounds.
fn out_of_bounds(message: String) -> Result<CallToolResponse, ErrorData> {
    Err(ErrorData::invalid_params(message, None))
}

/// A failure the model should read (the call did not produce a result, but
/// the agent gets a tool result saying why rather than an opaque error).
fn tool_error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

impl ServerHandler for RelayServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_prompts()
                .enable_prompts_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("coder-bridge", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Tools of your Coder deployment, relayed by Coder Bridge with the signed-in user's session. State-changing tools may ask the user for consent first.",
        )
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let mut sessions = super::lock(&self.sessions);
        sessions.retain(|p| !p.is_transport_closed());
        sessions.push(context.peer);
    }

    async fn ping(&self, context: RequestContext<RoleServer>) -> Result<(), ErrorData> {
        // Answered locally: an agent's keep-alive says nothing about Coder,
        // and relaying it would turn every idle agent into upstream traffic.
        let _ = context;
        Ok(())
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let record = self.begin(&context, "tools/list", &request);
        let result = self
            .relay
            .list_tools()
            .await
            .map(|all| {
                let visible = all
                    .tools
                    .iter()
                    .filter(|t| self.gate.visible(&record.agent, t))
                    .cloned()
                    .collect();
                ListToolsResult::with_all_items(visible)
            })
            .map_err(|e| e.to_error_data());
        let outcome = outcome_of(&result);
        self.finish(record, &result, outcome, json_len);
        result
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // Refused before anything is recorded: a name that is not a tool
        // name is never stored, shown or echoed back.
        if let Err(message) = limits::check_tool_name(&request.name) {
            return out_of_bounds(message);
        }
        let mut record = self.begin(&context, "tools/call", &request);
        record.tool = Some(request.name.to_string());
        // The bytes the user approves are the bytes that go upstream: they
        // are serialised once here, measured and digested, and the call is
        // only relayed if what is sent still hashes to the approved digest.
        let args_bytes = canonical_bytes(request.arguments.as_ref());
        if let Err(message) = limits::check_arguments_size(args_bytes.len()) {
            let result = out_of_bounds(message);
            self.finish(record, &result, Outcome::Failed, call_len);
            return result;
        }
        let digest = ArgumentsDigest::of_bytes(&args_bytes);
        drop(args_bytes);
        record.args_digest = Some(digest.clone());
        record.arguments_summary = summary::summarize(request.arguments.as_ref());

        let tool_info = match self.relay.tool(&request.name).await {
            ToolLookup::Known(tool) => Some(tool),
            // Coder would reject it anyway: asking the user to approve a
            // call that cannot run would only teach them to click "allow".
            ToolLookup::NotListed => {
                let result = Err(ErrorData::invalid_params(
                    format!(
                        "unknown tool {}; call tools/list to see the tools of this deployment",
                        request.name
                    ),
                    None,
                ));
                self.finish(record, &result, Outcome::Failed, call_len);
                return result;
            }
            ToolLookup::ListUnavailable => None,
        };
        let deployment_host = self
            .relay
            .state()
            .deployment
            .and_then(|u| u.host_str().map(str::to_owned));
        let decision = self
            .gate
            .admit(GateRequest {
                agent: record.agent.clone(),
                client_name: record.client_name.clone(),
                tool: request.name.to_string(),
                arguments: request.arguments.clone(),
                digest: digest.clone(),
                deployment_host,
                tool_info,
            })
            .await;
        let approved = match decision {
            GateDecision::Allow(consent) => {
                record.consent = Some(consent);
                None
            }
            GateDecision::Approved {
                decision,
                digest,
                by,
            } => {
                record.consent = Some(decision);
                record.answered_by = Some(by);
                Some(digest)
            }
            GateDecision::Deny {
                decision,
                reason,
                by,
            } => {
                record.consent = Some(decision);
                record.answered_by = by;
                let outcome = if decision == ConsentDecision::TimedOut {
                    Outcome::TimedOut
                } else {
                    Outcome::Denied
                };
                let result = Ok(CallToolResponse::Complete(tool_error(reason)));
                self.finish(record, &result, outcome, call_len);
                return result;
            }
        };

        // The agent's `_meta` goes upstream minus hop-by-hop and
        // credential-like keys (see `upstream_meta`).
        let mut upstream = CallToolRequestParams::new(request.name.clone());
        upstream.meta = upstream_meta::forwarded(&context.meta, approved.is_some());
        upstream.arguments = request.arguments;
        upstream.input_responses = request.input_responses;
        upstream.request_state = request.request_state;
        if let Some(approved) = approved
            && let Err(refusal) = bind_to_approval(&upstream, &approved)
        {
            tracing::error!(tool = %upstream.name, "{refusal}");
            record.consent = Some(ConsentDecision::Denied);
            let result = Ok(CallToolResponse::Complete(tool_error(refusal)));
            self.finish(record, &result, Outcome::Denied, call_len);
            return result;
        }
        let progress = context.meta.get_progress_token().map(|token| ProgressSink {
            peer: context.peer.clone(),
            token,
        });
        let options = CallOptions {
            cancel: context.ct.clone(),
            progress,
        };
        let upstream_name = upstream.name.clone();
        let relayed = self.relay.call_tool(upstream, options).await;
        match relayed {
            Ok(CallToolResponse::InputRequired(_))
                if let Some(version) = before_input_required(&context) =>
            {
                let message =
                    input_required_unsupported(&format!("the call to {}", upstream_name), &version);
                let response = CallToolResponse::Complete(tool_error(message.clone()));
                let bytes_out = call_len(&response);
                self.finish_with(record, Outcome::Failed, Some(message), bytes_out);
                Ok(response)
            }
            Ok(mut response) => {
                mark_complete(&mut response);
                let outcome = match &response {
                    CallToolResponse::Complete(r) if r.is_error == Some(true) => Outcome::ToolError,
                    _ => Outcome::Ok,
                };
                let result = Ok(response);
                self.finish(record, &result, outcome, call_len);
                result
            }
            // The model must read these: it should not blindly retry a call
            // that may have run, nor think a tool is broken when Coder is down.
            Err(e @ (RelayError::Interrupted { .. } | RelayError::Unavailable { .. })) => {
                let response = CallToolResponse::Complete(tool_error(e.to_string()));
                let bytes_out = call_len(&response);
                self.finish_with(record, Outcome::Failed, Some(e.to_string()), bytes_out);
                Ok(response)
            }
            Err(e) => {
                let result = Err(e.to_error_data());
                self.finish(record, &result, Outcome::Failed, call_len);
                result
            }
        }
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let record = self.begin(&context, "prompts/list", &request);
        let result = self
            .relay
            .list_prompts()
            .await
            .map(|all| ListPromptsResult::with_all_items(all.prompts.clone()))
            .map_err(|e| e.to_error_data());
        let outcome = outcome_of(&result);
        self.finish(record, &result, outcome, json_len);
        result
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        if let Err(message) = limits::check_tool_name(&request.name) {
            return Err(ErrorData::invalid_params(
                message.replace("tool name", "prompt name"),
                None,
            ));
        }
        let mut record = self.begin(&context, "prompts/get", &request);
        record.tool = Some(request.name.clone());
        record.arguments_summary = summary::summarize(request.arguments.as_ref());
        let record_name = request.name.clone();
        let mut upstream = GetPromptRequestParams::new(request.name.clone());
        upstream.meta = upstream_meta::forwarded(&context.meta, false);
        upstream.arguments = request.arguments;
        upstream.input_responses = request.input_responses;
        upstream.request_state = request.request_state;
        let result = self
            .relay
            .get_prompt(upstream)
            .await
            .map_err(|e| e.to_error_data())
            .and_then(|response| match response {
                GetPromptResponse::InputRequired(_) => match before_input_required(&context) {
                    Some(version) => Err(ErrorData::invalid_request(
                        input_required_unsupported(
                            &format!("the prompt {}", record_name),
                            &version,
                        ),
                        None,
                    )),
                    None => Ok(response),
                },
                other => Ok(other),
            })
            .map(|mut response| {
                if let GetPromptResponse::Complete(r) = &mut response {
                    r.result_type.get_or_insert(ResultType::COMPLETE);
                }
                response
            });
        let outcome = outcome_of(&result);
        self.finish(record, &result, outcome, prompt_len);
        result
    }
}
