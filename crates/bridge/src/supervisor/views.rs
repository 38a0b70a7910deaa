//! What the faces are shown: the shapes of `docs/control-api.md`. No type
//! here can hold a Coder token (none of them has a `Secret` field), so a
//! serialised view cannot leak one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::activity::{ActivityRow, GroupStats, Stats};
use crate::auth::SecretBackend;
use crate::consent::{ConsentRequest, Resolution};
use crate::events::{CallEvent, ConsentDecision, Outcome};
use crate::policy::{Decision, Source};
use crate::relay::RelayStatus;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserView {
    pub username: String,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelayView {
    /// `connected`, `connecting`, `signed_out` or `error`.
    pub state: RelayStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /api/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    pub signed_in: bool,
    pub deployment: Option<String>,
    pub user: Option<UserView>,
    /// Milliseconds since the Unix epoch.
    pub expires_at: Option<u64>,
    pub storage_backend: Option<SecretBackend>,
    pub relay: RelayView,
    pub endpoint: String,
    pub version: String,
    pub demo: bool,
    /// The stored session ended and could not be renewed: sign in again.
    pub session_expired: bool,
    /// The built-in demo deployment can be started (`POST /api/signin {demo: true}`).
    pub demo_available: bool,
    /// "Pause relay" is on: every tool call is refused until it is resumed.
    pub paused: bool,
    /// A browser sign-in is under way (started by the user or, for an
    /// agent that needs Coder, by the bridge itself).
    #[serde(default)]
    pub signing_in: bool,
    /// Signed out: the deployment last signed in to, where a sign-in goes.
    #[serde(default)]
    pub last_deployment: Option<String>,
    /// Calls are relayed but not recorded right now (a full disk, a locked
    /// or read-only database): the cause, the file and what to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_problem: Option<String>,
}

/// One agent in `GET /api/agents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentView {
    pub name: String,
    pub display_name: String,
    pub installed: bool,
    pub configured: bool,
    pub up_to_date: bool,
    pub config_path: String,
    pub problems: Vec<String>,
}

/// `GET /api/agents/{name}/entry`: what to paste by hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentEntry {
    pub name: String,
    pub servers_key: String,
    pub entry_name: String,
    pub entry: serde_json::Value,
    pub snippet: String,
    /// The agent has no client token yet: `POST` the same address to issue
    /// one (a `GET` never does).
    #[serde(default)]
    pub needs_token: bool,
}

/// `POST /api/agents/{name}/configure`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigureView {
    pub config_path: String,
    pub diff: String,
    pub changed: bool,
    pub applied: bool,
}

/// `POST /api/agents/{name}/unconfigure`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnconfigureView {
    pub config_path: String,
    pub removed: bool,
    /// The agent's client token existed and was revoked.
    pub revoked: bool,
}

/// One tool in `GET /api/policy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolPolicyView {
    pub tool: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub default: Decision,
    pub source: Source,
    pub irreversible: bool,
    pub starts_workspace: bool,
    /// `"*"` for every agent, else the agent's name.
    pub overrides: BTreeMap<String, Decision>,
    /// Who set each of `overrides` and when, keyed the same way (overrides
    /// older than this record have none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set_by: BTreeMap<String, crate::policy::SetBy>,
    /// New to this release, destructive, or changed since it was allowed.
    #[serde(flatten)]
    pub news: ToolNews,
}

/// What the Policy page flags about a tool's definition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolNews {
    /// Served by the deployment and not one Coder Bridge has a built-in rule
    /// for (Coder added it after this release): its default comes from its
    /// annotations.
    #[serde(default)]
    pub new: bool,
    /// A new tool annotated `destructiveHint`: its prompt carries a warning.
    #[serde(default)]
    pub destructive: bool,
    /// Its description or input schema changed after it was allowed always,
    /// and the "allow" was reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<crate::policy::store::DefinitionChange>,
}

/// `GET /api/policy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyView {
    pub agents: Vec<String>,
    pub tools: Vec<ToolPolicyView>,
}

/// One row of `GET /api/activity`, and the `call` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub at: u64,
    pub agent: crate::agent_id::AgentId,
    pub client_name: Option<String>,
    pub method: String,
    pub tool: Option<String>,
    pub arguments_summary: Option<String>,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub latency_ms: f64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub consent: Option<ConsentDecision>,
    /// SHA-256 of the arguments as sent upstream; match it with the prompt's.
    #[serde(default)]
    pub args_digest: Option<String>,
    /// Who answered the prompt (or changed the policy).
    #[serde(default)]
    pub answered_by: Option<crate::consent::AnsweredBy>,
}

impl From<ActivityRow> for ActivityView {
    fn from(r: ActivityRow) -> Self {
        Self {
            id: Some(r.id),
            at: u64::try_from(r.at_ms).unwrap_or(0),
            agent: r.agent.into(),
            client_name: r.client_name,
            method: r.method,
            tool: r.tool,
            arguments_summary: r.args_summary,
            outcome: r.outcome,
            error: r.error,
            latency_ms: r.latency_ms,
            bytes_in: u64::try_from(r.bytes_in).unwrap_or(0),
            bytes_out: u64::try_from(r.bytes_out).unwrap_or(0),
            consent: r.consent,
            args_digest: r.args_digest,
            answered_by: r.answered_by,
        }
    }
}

impl From<&CallEvent> for ActivityView {
    fn from(e: &CallEvent) -> Self {
        Self {
            id: None,
            at: crate::epoch::millis(e.at),
            agent: e.agent.clone(),
            client_name: e.client_name.clone(),
            method: e.method.clone(),
            tool: e.tool.clone(),
            arguments_summary: e.arguments_summary.clone(),
            outcome: e.outcome,
            error: e.error.clone(),
            latency_ms: e.latency.as_secs_f64() * 1000.0,
            bytes_in: e.bytes_in,
            bytes_out: e.bytes_out,
            consent: e.consent,
            args_digest: e.args_digest.clone(),
            answered_by: e.answered_by.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStatsView {
    pub key: String,
    pub calls: u64,
    pub errors: u64,
    pub denied: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
}

impl From<GroupStats> for GroupStatsView {
    fn from(g: GroupStats) -> Self {
        Self {
            key: g.name,
            calls: g.calls,
            errors: g.errors,
            denied: g.denied,
            p50_ms: g.p50_ms,
            p95_ms: g.p95_ms,
        }
    }
}

/// `GET /api/activity/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsView {
    pub window_secs: u64,
    pub calls: u64,
    pub errors: u64,
    pub denied: u64,
    pub by_tool: Vec<GroupStatsView>,
    pub by_agent: Vec<GroupStatsView>,
}

impl StatsView {
    pub(crate) fn new(window_secs: u64, s: Stats) -> Self {
        Self {
            window_secs,
            calls: s.calls,
            errors: s.errors,
            denied: s.denied,
            by_tool: s.per_tool.into_iter().map(Into::into).collect(),
            by_agent: s.per_agent.into_iter().map(Into::into).collect(),
        }
    }
}

/// State of one sign-in attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInState {
    Waiting,
    Done,
    Failed,
}

/// `GET /api/signin/{id}` and the `signin` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignInView {
    pub attempt_id: Uuid,
    pub state: SignInState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error's stable code (`access_denied`, `timed_out`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<crate::error_code::ErrorCode>,
}

/// `POST /api/signin`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignInStarted {
    pub attempt_id: Uuid,
    /// The page to open; `None` when the sign-in needed no browser (session token).
    pub authorize_url: Option<String>,
    pub state: SignInState,
}

/// The `consent` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsentEventView {
    /// `added` or `resolved`.
    pub kind: String,
    pub id: Uuid,
    /// The request, when it is known (always for `added`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<ConsentRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<Resolution>,
    /// Who answered (`resolved` by a person only). Answers given with the
    /// control token could come from any process of the user: faces show them apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<crate::consent::AnsweredBy>,
}
