//! `coder-bridge login <url>`: OAuth2 in the browser, with a pre-registered
//! client, or with a session token from stdin.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use bridge::auth::{AuthManager, PreRegisteredClient, SignIn, SignInOptions, open_browser};
use bridge::secret::Secret;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The deployment's access URL, e.g. https://coder.example.com.
    /// Default: the deployment signed in to last
    pub deployment: Option<String>,
    /// Sign in with a Coder session token instead of the browser. With no
    /// value (the safe way) the token is read from stdin.
    #[arg(long, num_args = 0..=1, default_missing_value = "-", value_name = "TOKEN")]
    pub token: Option<String>,
    /// Client ID of an OAuth2 app a Coder admin created for Coder Bridge
    #[arg(long, conflicts_with = "token")]
    pub client_id: Option<String>,
    /// Secret of that OAuth2 app; `-` reads it from stdin. Also taken from
    /// CODER_BRIDGE_CLIENT_SECRET (a value here is visible to other processes)
    #[arg(long, requires = "client_id", value_name = "S")]
    pub client_secret: Option<String>,
    /// Port for the sign-in callback on 127.0.0.1 (when the OAuth2 app's
    /// callback URL names one). Default: the registration's, else a free one.
    #[arg(long, value_name = "PORT")]
    pub callback_port: Option<u16>,
    /// Give up on the browser sign-in after this many seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
    /// Print the sign-in URL but do not open a browser
    #[arg(long)]
    pub no_browser: bool,
    /// Allow a plain http:// deployment on another host (tokens and the
    /// client secret cross the network unencrypted). Remembered for it.
    #[arg(long)]
    pub allow_http: bool,
    /// Sign in with this https URL of a client metadata document your
    /// organisation hosts as the OAuth2 client ID, where the server accepts
    /// that (default: $CODER_BRIDGE_CLIENT_METADATA_URL)
    #[arg(long, value_name = "URL", conflicts_with_all = ["token", "client_id"])]
    pub client_metadata_url: Option<String>,
}

pub async fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    let manager = AuthManager::load_default();
    let deployment = match args.deployment.take() {
        Some(url) => url,
        None => last_deployment(&manager)?,
    };
    warn_if_plain_http(&deployment, args.allow_http);
    let account = match &args.token {
        Some(value) => {
            let token = if value == "-" {
                read_from_stdin("Paste a Coder session token (from `coder tokens create`)")?
            } else {
                eprintln!(
                    "warning: a token on the command line is visible to other local users; prefer `--token` with the token on stdin"
                );
                Secret::new(value.clone())
            };
            manager
                .sign_in_with_session_token(&deployment, token, args.allow_http)
                .await
                .context("session-token sign-in failed")?
        }
        None => browser_sign_in(&manager, &args, deployment).await?,
    };
    let status = manager.status().await;
    println!(
        "Signed in to {} as {}{}.",
        account.deployment,
        account.user.username,
        if account.user.email.is_empty() {
            String::new()
        } else {
            format!(" <{}>", account.user.email)
        }
    );
    if let Some(store) = status.secret_store_description {
        println!("Secrets are stored in the {store}.");
    }
    Ok(ExitCode::SUCCESS)
}

/// `--allow-http` for a deployment that really is plain http elsewhere: say
/// loudly what that means, on the terminal and in the log.
fn warn_if_plain_http(deployment: &str, allow_http: bool) {
    let Ok(url) = bridge::auth::normalize_deployment(deployment) else {
        return;
    };
    if allow_http && bridge::auth::is_plain_http_remote(&url) {
        eprintln!(
            "WARNING: --allow-http: {url} is plain http. Your Coder tokens and the OAuth2 client secret will cross the network unencrypted, readable and replayable by anyone on the path. Use this only on a network you trust; this choice is remembered for {url}."
        );
        tracing::warn!(deployment = %url, "signing in over plain http (--allow-http)");
    }
}

/// The deployment of the current or last sign-in, for a bare `login`.
fn last_deployment(manager: &AuthManager) -> anyhow::Result<String> {
    let last = manager
        .sign_in_target()
        .context("cannot read the last sign-in")?;
    match last {
        Some(last) => {
            eprintln!("Signing in to {} (the last deployment).", last.deployment);
            Ok(last.deployment.to_string())
        }
        None => anyhow::bail!(
            "no deployment given and none signed in to before: run `coder-bridge login <deployment-url>`, e.g. `coder-bridge login https://coder.example.com`"
        ),
    }
}

/// A secret from stdin: one line typed at a terminal (after `prompt`), or
/// everything piped in.
fn read_from_stdin(prompt: &str) -> anyhow::Result<Secret> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{prompt} and press Enter: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        stdin.read_line(&mut line).context("cannot read stdin")?;
        return Ok(Secret::new(line.trim().to_string()));
    }
    let mut all = String::new();
    stdin
        .read_to_string(&mut all)
        .context("cannot read the secret from stdin")?;
    Ok(Secret::new(all.trim().to_string()))
}

/// The OAuth2 app's secret: `--client-secret -` (stdin), a value on the
/// command line (with a warning: `ps` and the shell's history show it), or
/// `CODER_BRIDGE_CLIENT_SECRET`.
fn client_secret(args: &Args) -> anyhow::Result<Option<Secret>> {
    match args.client_secret.as_deref() {
        Some("-") => read_from_stdin("Paste the OAuth2 app's client secret").map(Some),
        Some(value) => {
            eprintln!(
                "warning: a client secret on the command line is visible to other processes and kept in shell history; prefer `--client-secret -` (stdin) or {}",
                bridge::env::CLIENT_SECRET
            );
            Ok(Some(Secret::new(value)))
        }
        None => Ok(std::env::var(bridge::env::CLIENT_SECRET)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| Secret::new(v.trim()))),
    }
}

async fn browser_sign_in(
    manager: &AuthManager,
    args: &Args,
    deployment: String,
) -> anyhow::Result<bridge::auth::Account> {
    let mut options = SignInOptions::new(deployment);
    options.timeout = Duration::from_secs(args.timeout.max(1));
    options.callback_port = args.callback_port;
    options.allow_http = args.allow_http;
    if let Some(text) = &args.client_metadata_url {
        options.client_metadata_url = Some(
            text.parse()
                .with_context(|| format!("--client-metadata-url {text:?} is not a URL"))?,
        );
    }
    options.client = match &args.client_id {
        Some(id) => Some(PreRegisteredClient {
            client_id: id.clone(),
            client_secret: client_secret(args)?,
        }),
        None => None,
    };
    let sign_in = SignIn::start(manager, options)
        .await
        .context("cannot start the sign-in")?;
    let url = sign_in.authorize_url().clone();
    eprintln!(
        "To sign in to {}, open this page in your browser:\n\n  {url}\n",
        sign_in.deployment()
    );
    if !args.no_browser
        && let Err(e) = open_browser(&url)
    {
        eprintln!("Could not open a browser ({e}); open the page above yourself.");
    }
    let progress = tokio::spawn(show_progress(sign_in.timeout()));
    let result = sign_in.finish().await;
    progress.abort();
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    result.context("sign-in failed")
}

/// A live "waiting" line on a terminal; one line otherwise (logs, CI).
async fn show_progress(timeout: Duration) {
    let started = Instant::now();
    let total = timeout.as_secs();
    if !std::io::stderr().is_terminal() {
        eprintln!("Waiting for the sign-in to finish in the browser (up to {total} s)...");
        return;
    }
    let frames = ['|', '/', '-', '\\'];
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    for i in 0usize.. {
        tick.tick().await;
        let left = total.saturating_sub(started.elapsed().as_secs());
        eprint!(
            "\r{} Waiting for the sign-in in the browser... {}:{:02} left ",
            frames[i % frames.len()],
            left / 60,
            left % 60
        );
        let _ = std::io::stderr().flush();
    }
}
