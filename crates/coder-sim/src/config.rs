//! How a simulated deployment behaves: which Coder release it imitates and
//! which switches tests flip before it starts.

use std::time::Duration;

/// Which generation of Coder's remote MCP endpoint to imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Era {
    /// Newest Coder (modelcontextprotocol/go-sdk): no `Mcp-Session-Id`,
    /// GET/DELETE answer 405, replies are plain `application/json`.
    #[default]
    Stateless,
    /// Older Coder (mark3labs/mcp-go): session-based streamable HTTP whose
    /// replies arrive as SSE, with a keep-alive heartbeat.
    Sessions,
}

/// How `redirect_uri` on an authorization request is matched against the
/// URIs an app registered. Coder changed this twice; both behaviours matter
/// to a client that registers a loopback callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedirectMode {
    /// Older Coder: only the FIRST registered URI counts; scheme, host and
    /// port must be equal and the requested path must start with its path.
    Legacy,
    /// Newest Coder (coder/coder#29013): exact match against any registered
    /// URI, except that loopback `http` URIs match on any port.
    #[default]
    LoopbackAnyPort,
}

/// An OAuth2 app that exists from start-up, with fixed credentials, so a test
/// can restart the simulator on the same port and keep using the same app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSpec {
    pub name: String,
    pub client_id: String,
    /// `None` makes it a public client (`token_endpoint_auth_method=none`).
    pub client_secret: Option<String>,
    pub redirect_uris: Vec<String>,
}

/// Everything a simulated deployment can be told before it starts. The
/// run-time switches (faults, provider and DCR toggles) live in
/// [`crate::Faults`]; these fields only give them their initial values.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub era: Era,
    /// Dynamic client registration: off by default, as on newest Coder.
    pub dcr_enabled: bool,
    /// `CODER_OAUTH2_PROVIDER_ENABLE`: off makes the OAuth2 and MCP routes 404.
    pub provider_enabled: bool,
    pub redirect_mode: RedirectMode,
    /// Skip the HTML consent page: `GET /oauth2/authorize` redirects at once.
    pub auto_approve: bool,
    /// Lifetime of OAuth2 access tokens (Coder: the session duration, 24 h).
    pub access_token_lifetime: Duration,
    /// Lifetime of OAuth2 refresh tokens.
    pub refresh_token_lifetime: Duration,
    /// MCP tool annotations (readOnlyHint, …); older Coder sent none.
    pub annotations: bool,
    /// Public clients (`token_endpoint_auth_method=none`), as on 2026 builds.
    /// Off imitates older Coder: discovery omits `none`, and a dynamic
    /// registration asking for it still gets (and must use) a secret.
    pub public_clients: bool,
    /// The demo user's Coder session token. Fixed by default so it stays
    /// valid across a restart on the same port.
    pub session_token: String,
    /// Apps registered at start-up with fixed credentials.
    pub apps: Vec<AppSpec>,
    /// What `GET /api/v2/buildinfo` reports.
    pub version: String,
    /// RFC 9207: advertise `authorization_response_iss_parameter_supported`
    /// and add `iss` to every authorization response. Coder does not (its
    /// callback carries only `code` and `state`), so this is off by default;
    /// it lets tests exercise a client's mix-up defence.
    pub iss_parameter: bool,
    /// The host name in the access URL (Coder's `CODER_ACCESS_URL`), when
    /// it is not the address the simulator listens on: e.g. a name that
    /// only a proxy resolves, to stand in for a deployment on another host.
    pub access_host: Option<String>,
    /// Accept Client ID Metadata Documents (SEP-991): advertise
    /// `client_id_metadata_document_supported` and take the URL of a
    /// document the simulator hosts as a `client_id`. Not a Coder feature.
    pub client_metadata_documents: bool,
    /// Also serve the simulator's probe tools (`sim_probe_*`, not Coder's):
    /// a tool with title, icons and output schema, and one that answers
    /// `input_required`; and `POST /sim/probe/redefine` to change a tool's
    /// description at run time.
    pub probe_tools: bool,
}

/// The demo user's session token unless a config says otherwise. Shaped like
/// a Coder API key: a 10-character id, a dash, a 22-character secret.
pub const DEMO_SESSION_TOKEN: &str = "demo0token-CoderSimDemoSession001";

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            era: Era::Stateless,
            dcr_enabled: false,
            provider_enabled: true,
            redirect_mode: RedirectMode::LoopbackAnyPort,
            auto_approve: false,
            access_token_lifetime: Duration::from_secs(24 * 60 * 60),
            refresh_token_lifetime: Duration::from_secs(30 * 24 * 60 * 60),
            annotations: true,
            public_clients: true,
            session_token: DEMO_SESSION_TOKEN.to_owned(),
            apps: Vec::new(),
            version: "v2.29.0-sim".to_owned(),
            iss_parameter: false,
            access_host: None,
            client_metadata_documents: false,
            probe_tools: false,
        }
    }
}

impl SimConfig {
    pub fn era(mut self, era: Era) -> Self {
        self.era = era;
        self
    }
    pub fn dcr(mut self, enabled: bool) -> Self {
        self.dcr_enabled = enabled;
        self
    }
    pub fn redirect_mode(mut self, mode: RedirectMode) -> Self {
        self.redirect_mode = mode;
        self
    }
    pub fn auto_approve(mut self, auto_approve: bool) -> Self {
        self.auto_approve = auto_approve;
        self
    }
    pub fn access_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.access_token_lifetime = lifetime;
        self
    }
    pub fn public_clients(mut self, public_clients: bool) -> Self {
        self.public_clients = public_clients;
        self
    }
    pub fn annotations(mut self, annotations: bool) -> Self {
        self.annotations = annotations;
        self
    }
    pub fn iss_parameter(mut self, iss_parameter: bool) -> Self {
        self.iss_parameter = iss_parameter;
        self
    }
    pub fn access_host(mut self, host: impl Into<String>) -> Self {
        self.access_host = Some(host.into());
        self
    }
    pub fn client_metadata_documents(mut self, enabled: bool) -> Self {
        self.client_metadata_documents = enabled;
        self
    }
    pub fn probe_tools(mut self, enabled: bool) -> Self {
        self.probe_tools = enabled;
        self
    }
    pub fn with_app(mut self, app: AppSpec) -> Self {
        self.apps.push(app);
        self
    }
}

/// Parses a lifetime such as `90`, `5s`, `10m`, `24h` or `7d` (bare numbers
/// are seconds). Used by the binary's flags.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 30s, 10m or 24h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        "ms" => return Ok(Duration::from_millis(n)),
        _ => return Err(format!("unknown duration unit {unit:?} in {text:?}")),
    };
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_token_has_coder_api_key_shape() {
        let (id, secret) = DEMO_SESSION_TOKEN.split_once('-').expect("dash");
        assert_eq!(id.len(), 10);
        assert_eq!(secret.len(), 22);
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5x").is_err());
    }
}
