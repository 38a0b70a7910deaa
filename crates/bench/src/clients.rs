//! The agent side: rmcp clients over streamable HTTP (direct to Coder, or
//! to the daemon with a client token) and over a child process's stdio (the
//! shim, or `mcp-remote`).

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use rmcp::{
    RoleClient, ServiceExt,
    model::{CallToolRequestParams, ClientConfig},
    service::RunningService,
    transport::{
        StreamableHttpClientTransport, TokioChildProcess,
        streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use tokio::process::Command;

/// The tool every measurement calls: read-only and cheap, so what is
/// measured is the path, not the tool.
pub const TOOL: &str = "coder_get_authenticated_user";

/// No single step of the benchmark may hang it.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);

pub type Client = RunningService<RoleClient, ClientConfig>;

/// How an agent's HTTP client treats its connections. Both kinds are out
/// there, and they cost a server differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connections {
    /// Reused between calls: the TypeScript SDK's `fetch` (Claude Desktop,
    /// Cursor, VS Code, Claude Code) and our own stdio shim.
    KeepAlive,
    /// A new TCP connection for every call: rmcp's default client turns
    /// pooling off.
    PerCall,
}

impl Connections {
    pub fn describe(self) -> &'static str {
        match self {
            Connections::KeepAlive => "keep-alive",
            Connections::PerCall => "connection-per-call",
        }
    }
}

/// Connects over streamable HTTP with `Authorization: Bearer <token>`.
pub async fn http(url: &str, token: &str, connections: Connections) -> anyhow::Result<Client> {
    let config = StreamableHttpClientTransportConfig::with_uri(url).auth_header(token);
    let transport = match connections {
        Connections::KeepAlive => StreamableHttpClientTransport::with_client(
            reqwest::Client::builder()
                .tcp_nodelay(true)
                .build()
                .context("cannot build an HTTP client")?,
            config,
        ),
        Connections::PerCall => StreamableHttpClientTransport::from_config(config),
    };
    tokio::time::timeout(STEP_TIMEOUT, ClientConfig::default().serve(transport))
        .await
        .with_context(|| format!("no MCP session with {url} in time"))?
        .with_context(|| format!("cannot start an MCP session with {url}"))
}

/// Spawns `cmd` and speaks MCP on its stdin/stdout. Returns the client and
/// the child's pid (for its memory).
pub async fn child(mut cmd: Command) -> anyhow::Result<(Client, u32)> {
    cmd.kill_on_drop(true);
    let (transport, _stderr) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .context("cannot spawn the stdio server")?;
    let pid = transport.id().context("the stdio server exited at once")?;
    let client = tokio::time::timeout(STEP_TIMEOUT, ClientConfig::default().serve(transport))
        .await
        .context("no MCP session on stdio in time")?
        .context("cannot start an MCP session on stdio")?;
    Ok((client, pid))
}

/// One `tools/call` of [`TOOL`]; its wall time. A tool error is a failure:
/// a fast error must not pass for a fast call.
pub async fn call(client: &Client) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let result = tokio::time::timeout(
        STEP_TIMEOUT,
        client.call_tool(CallToolRequestParams::new(TOOL)),
    )
    .await
    .context("tools/call timed out")?
    .context("tools/call failed")?;
    let took = started.elapsed();
    if result.is_error == Some(true) {
        bail!("{TOOL} returned a tool error: {:?}", result.content);
    }
    Ok(took)
}

/// Ends a session politely (and the child, for stdio clients).
pub async fn close(client: Client) {
    let _ = tokio::time::timeout(Duration::from_secs(5), client.cancel()).await;
}

/// `mcp-remote` from npm when `npx --no-install` resolves it in `dir`.
pub async fn mcp_remote_installed(dir: &std::path::Path) -> bool {
    let mut npx = Command::new("npx");
    npx.args(["--no-install", "mcp-remote", "--help"])
        .current_dir(dir);
    succeeds(npx).await
}

/// Whether `command` runs to success within 30 s, its output discarded.
pub async fn succeeds(mut command: Command) -> bool {
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .status();
    matches!(
        tokio::time::timeout(Duration::from_secs(30), status).await,
        Ok(Ok(s)) if s.success()
    )
}

/// The command that runs `mcp-remote` against Coder's MCP URL with the
/// session token, as its users configure it.
pub fn mcp_remote_command(dir: &std::path::Path, mcp_url: &str, token: &str) -> Command {
    let mut cmd = Command::new("npx");
    cmd.args([
        "--no-install",
        "mcp-remote",
        mcp_url,
        "--allow-http",
        "--transport",
        "http-only",
        "--header",
        &format!("Authorization:Bearer {token}"),
    ])
    .current_dir(dir);
    cmd
}
