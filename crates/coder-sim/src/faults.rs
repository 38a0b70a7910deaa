//! Run-time switches and counters shared by every request handler.
//!
//! Faults let a test break the deployment in the ways a real network and a
//! real Coder break (slow, 503, connection reset, tokens that expire early);
//! counters let it assert what a client really did (how many refreshes, how
//! many tool calls actually ran).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::store::Store;

/// What the connection layer should do with one MCP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Pass,
    /// Answer 503 Service Unavailable without reaching the handler.
    Fail,
    /// Close the TCP connection without writing any response.
    Drop,
}

#[derive(Debug, Default)]
struct EveryNth {
    every: Option<u64>,
    seen: u64,
}

impl EveryNth {
    fn set(&mut self, every: Option<u64>) {
        // Count from the moment the fault is armed so tests are deterministic
        // regardless of how many requests came before.
        self.every = every.filter(|n| *n > 0);
        self.seen = 0;
    }
    fn hit(&mut self) -> bool {
        let Some(every) = self.every else {
            return false;
        };
        self.seen += 1;
        self.seen.is_multiple_of(every)
    }
}

#[derive(Debug, Default)]
struct Rules {
    fail: EveryNth,
    drop: EveryNth,
    drop_next: u64,
}

/// Run-time fault injection and switches. Thread-safe; reach it through
/// [`crate::Sim::faults`]. 503s and dropped connections apply to requests on
/// the MCP endpoint only; latency applies to every request.
#[derive(Debug)]
pub struct Faults {
    latency_ms: AtomicU64,
    rules: Mutex<Rules>,
    provider_enabled: AtomicBool,
    dcr_enabled: AtomicBool,
    tampering: Mutex<Tampering>,
    /// Tool descriptions replaced at run time, by tool name.
    redefined: Mutex<BTreeMap<String, String>>,
    /// The regional probe tool asks for its `region` in a header too.
    probe_param_header: AtomicBool,
    store: Arc<Store>,
}

/// What an attacker who can alter discovery or the browser's redirect would
/// put there instead of the real values; `None` serves the real one.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tampering {
    /// `issuer` in the authorization-server metadata.
    pub(crate) issuer: Option<String>,
    /// `resource` in the protected-resource metadata.
    pub(crate) resource: Option<String>,
    /// `iss` on the authorization response (sent even when RFC 9207 is off).
    pub(crate) callback_iss: Option<String>,
}

impl Faults {
    pub(crate) fn new(store: Arc<Store>, provider_enabled: bool, dcr_enabled: bool) -> Self {
        Self {
            latency_ms: AtomicU64::new(0),
            rules: Mutex::new(Rules::default()),
            provider_enabled: AtomicBool::new(provider_enabled),
            dcr_enabled: AtomicBool::new(dcr_enabled),
            tampering: Mutex::new(Tampering::default()),
            redefined: Mutex::new(BTreeMap::new()),
            probe_param_header: AtomicBool::new(false),
            store,
        }
    }

    /// Delay every HTTP request by `latency` before it is handled.
    pub fn set_latency(&self, latency: Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.latency_ms.store(ms, Ordering::SeqCst);
    }

    /// Answer every Nth MCP request (counted from now) with 503; `None` stops.
    pub fn fail_every_nth(&self, every: Option<u64>) {
        self.rules().fail.set(every);
    }

    /// Drop the connection on every Nth MCP request (counted from now).
    pub fn drop_every_nth(&self, every: Option<u64>) {
        self.rules().drop.set(every);
    }

    /// Drop the connection on each of the next `count` MCP requests.
    pub fn drop_next(&self, count: u64) {
        self.rules().drop_next = count;
    }

    /// Make every OAuth2 access token issued so far expire now. Refresh
    /// tokens stay valid, so a client can recover by refreshing.
    pub fn expire_all_tokens(&self) {
        self.store.expire_oauth_access_tokens();
    }

    /// `CODER_OAUTH2_PROVIDER_ENABLE`: off → OAuth2 and MCP routes answer 404.
    pub fn set_provider_enabled(&self, enabled: bool) {
        self.provider_enabled.store(enabled, Ordering::SeqCst);
    }

    /// Dynamic client registration on or off (also changes discovery).
    pub fn set_dcr_enabled(&self, enabled: bool) {
        self.dcr_enabled.store(enabled, Ordering::SeqCst);
    }

    /// Serve this `issuer` in the authorization-server metadata (a
    /// discovery answer steered to another server); `None` restores it.
    pub fn set_metadata_issuer(&self, issuer: Option<&str>) {
        self.tamper().issuer = issuer.map(str::to_owned);
    }

    /// Serve this `resource` in the protected-resource metadata.
    pub fn set_metadata_resource(&self, resource: Option<&str>) {
        self.tamper().resource = resource.map(str::to_owned);
    }

    /// Put this `iss` on authorization responses (a mix-up: an answer that
    /// claims to come from another authorization server).
    pub fn set_callback_iss(&self, iss: Option<&str>) {
        self.tamper().callback_iss = iss.map(str::to_owned);
    }

    /// Serve `description` for `tool` from now on, as a deployment upgraded
    /// to a release that changed what the tool does would.
    pub fn redefine_tool(&self, tool: &str, description: &str) {
        self.redefined
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tool.to_owned(), description.to_owned());
    }

    /// From now on the regional probe tool's schema marks `region` with
    /// `x-mcp-header` (SEP-2243), so a client whose tool list predates it
    /// sends no `Mcp-Param-Region` header and is answered `HeaderMismatch`.
    pub fn set_probe_param_header(&self, on: bool) {
        self.probe_param_header.store(on, Ordering::SeqCst);
    }

    pub(crate) fn probe_param_header(&self) -> bool {
        self.probe_param_header.load(Ordering::SeqCst)
    }

    /// The description to serve for `tool`: the replaced one, else `original`.
    pub(crate) fn description_of(&self, tool: &str, original: &str) -> String {
        self.redefined
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(tool)
            .cloned()
            .unwrap_or_else(|| original.to_owned())
    }

    pub(crate) fn tampering(&self) -> Tampering {
        self.tamper().clone()
    }

    fn tamper(&self) -> std::sync::MutexGuard<'_, Tampering> {
        self.tampering.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn provider_enabled(&self) -> bool {
        self.provider_enabled.load(Ordering::SeqCst)
    }

    pub fn dcr_enabled(&self) -> bool {
        self.dcr_enabled.load(Ordering::SeqCst)
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.load(Ordering::SeqCst))
    }

    /// Decides the fate of one MCP request. Drops win over 503s so that
    /// `drop_next` is exact even while a 503 rule is armed.
    pub(crate) fn judge_mcp_request(&self) -> Verdict {
        let mut rules = self.rules();
        if rules.drop_next > 0 {
            rules.drop_next -= 1;
            return Verdict::Drop;
        }
        if rules.drop.hit() {
            return Verdict::Drop;
        }
        if rules.fail.hit() {
            return Verdict::Fail;
        }
        Verdict::Pass
    }

    fn rules(&self) -> std::sync::MutexGuard<'_, Rules> {
        // A panic while holding this lock cannot leave the rules half-updated
        // in a way that matters, so a poisoned lock is simply reused.
        self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One call to `POST /oauth2/revoke`, as a test sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub client_id: String,
    pub token_type_hint: Option<String>,
    /// Whether the token named a live key or refresh token that is now gone.
    pub revoked: bool,
}

/// A snapshot of what clients have done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Successful dynamic client registrations.
    pub registrations: u64,
    /// Authorization codes issued.
    pub authorizations: u64,
    /// Successful authorization-code exchanges.
    pub token_grants: u64,
    /// Successful refresh-token grants.
    pub refreshes: u64,
    /// Refresh-token grants that were refused (reused, expired, unknown).
    pub failed_refreshes: u64,
    /// HTTP requests that reached the MCP endpoint, including faulted ones.
    pub mcp_requests: u64,
    /// Tool calls that really executed (not those stopped by a fault or by
    /// authentication), by tool name.
    pub calls_by_tool: BTreeMap<String, u64>,
    pub revocations: Vec<Revocation>,
    /// The last call of each tool as it arrived, by tool name.
    pub last_calls: BTreeMap<String, SeenCall>,
}

/// What a tool call carried besides its arguments, as the simulator saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeenCall {
    /// The request's `_meta`, as JSON (an empty object when there was none).
    pub meta: serde_json::Value,
    /// The `Mcp-Method` and `Mcp-Name` headers of the HTTP request.
    pub mcp_method: Option<String>,
    pub mcp_name: Option<String>,
}

/// The live counters behind [`Counters`].
#[derive(Debug, Default)]
pub(crate) struct CounterCells {
    pub registrations: AtomicU64,
    pub authorizations: AtomicU64,
    pub token_grants: AtomicU64,
    pub refreshes: AtomicU64,
    pub failed_refreshes: AtomicU64,
    pub mcp_requests: AtomicU64,
    calls_by_tool: Mutex<BTreeMap<String, u64>>,
    revocations: Mutex<Vec<Revocation>>,
    last_calls: Mutex<BTreeMap<String, SeenCall>>,
}

impl CounterCells {
    pub fn bump(cell: &AtomicU64) {
        cell.fetch_add(1, Ordering::SeqCst);
    }

    pub fn tool_called(&self, tool: &str) {
        let mut calls = self.calls_by_tool.lock().unwrap_or_else(|e| e.into_inner());
        *calls.entry(tool.to_owned()).or_default() += 1;
    }

    pub fn call_seen(&self, tool: &str, seen: SeenCall) {
        self.last_calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tool.to_owned(), seen);
    }

    pub fn revoked(&self, revocation: Revocation) {
        self.revocations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(revocation);
    }

    pub fn snapshot(&self) -> Counters {
        Counters {
            registrations: self.registrations.load(Ordering::SeqCst),
            authorizations: self.authorizations.load(Ordering::SeqCst),
            token_grants: self.token_grants.load(Ordering::SeqCst),
            refreshes: self.refreshes.load(Ordering::SeqCst),
            failed_refreshes: self.failed_refreshes.load(Ordering::SeqCst),
            mcp_requests: self.mcp_requests.load(Ordering::SeqCst),
            calls_by_tool: self
                .calls_by_tool
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            revocations: self
                .revocations
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            last_calls: self
                .last_calls
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}
