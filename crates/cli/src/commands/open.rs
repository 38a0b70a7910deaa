//! `coder-bridge open`: the dashboard in the default browser.
//!
//! The browser gets a one-time ticket URL, never the control token: the
//! page trades the ticket for a session it keeps in `sessionStorage`, so
//! what stays in the address bar and the history is worthless to anyone else.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use reqwest::Method;
use serde::Deserialize;

use crate::control::Control;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the one-time URL instead of opening a browser (valid for 60 s, once)
    #[arg(long)]
    print: bool,
}

#[derive(Debug, Deserialize)]
struct Ticket {
    url: String,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let control = Control::require().await?;
    let ticket: Ticket = control
        .send(Method::POST, "/api/tickets", &serde_json::json!({}))
        .await?;
    if args.print {
        println!("{}", ticket.url);
        return Ok(ExitCode::SUCCESS);
    }
    let url = url::Url::parse(&ticket.url).context("the daemon answered an invalid URL")?;
    println!("Opening the Coder Bridge dashboard in your browser.");
    if let Err(err) = bridge::auth::open_browser(&url) {
        // The link is printed only to a person at a terminal: output that
        // goes to a file or a log could be redeemed by whoever reads it.
        if std::io::stdout().is_terminal() {
            eprintln!(
                "Could not open a browser ({err}). Open this link within 60 seconds instead:"
            );
            println!("{url}");
        } else {
            anyhow::bail!(
                "could not open a browser ({err}); run `coder-bridge open --print` to get a one-time link"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
