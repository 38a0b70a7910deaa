//! The same latency comparison against a deployment that is not on
//! loopback: the simulated Coder (in this process) delays every request, as
//! the network to a real Coder does, and a second daemon is signed in to it.
//! The ratio to direct is what an agent would feel.

use std::time::Duration;

use anyhow::Context;
use coder_sim::{Sim, SimConfig};

use crate::{
    clients::{self, Connections},
    measure, procs,
    report::{Report, Unit, added, ms, percentile, targets},
};

/// Returns the p50 of direct and of bridged calls.
pub async fn compare(
    bins: &procs::Binaries,
    delay: Duration,
    calls: usize,
    rounds: usize,
    report: &mut Report,
) -> anyhow::Result<(Duration, Duration)> {
    eprintln!("latency with {delay:?} added by the deployment: {calls} calls per path…");
    let sim = Sim::start(SimConfig::default())
        .await
        .context("cannot start the simulated Coder")?;
    sim.faults().set_latency(delay);
    let home = procs::Home::new()?;
    let (url, token) = (sim.url().to_string(), sim.session_token());
    procs::login(bins, &home, &url, &token).await?;
    let client_token = home
        .client_tokens()?
        .issue("cursor")
        .context("issuing a client token")?;
    let daemon = procs::start_daemon(bins, &home).await?;
    let direct = clients::http(sim.mcp_url().as_str(), &token, Connections::KeepAlive).await?;
    let via_daemon = clients::http(
        &daemon.mcp_url,
        client_token.expose(),
        Connections::KeepAlive,
    )
    .await?;
    let lat = measure::latency(
        &mut [
            measure::Path::Rmcp(&direct),
            measure::Path::Rmcp(&via_daemon),
        ],
        calls,
        rounds,
    )
    .await?;
    let label = format!("{} ms deployment", delay.as_millis());
    let (d50, d99) = (percentile(&lat[0], 50.0), percentile(&lat[0], 99.0));
    let (b50, b99) = (percentile(&lat[1], 50.0), percentile(&lat[1], 99.0));
    report.info(
        format!("{label}: direct p50 / p99"),
        format!("{} / {}", Unit::Ms.show(ms(d50)), Unit::Ms.show(ms(d99))),
    );
    report.info(
        format!("{label}: daemon (HTTP) p50 / p99"),
        format!("{} / {}", Unit::Ms.show(ms(b50)), Unit::Ms.show(ms(b99))),
    );
    report.info(
        format!("{label}: daemon added per call, p50 / p99"),
        format!("{} / {}", added(b50, d50), added(b99, d99)),
    );
    report.at_most(
        &format!("{label}: daemon p50 ratio to direct"),
        b50.as_secs_f64() / d50.as_secs_f64(),
        targets::P50_RATIO,
        Unit::Ratio,
    );
    report.at_most(
        &format!("{label}: daemon p99 ratio to direct"),
        b99.as_secs_f64() / d99.as_secs_f64(),
        targets::P99_RATIO,
        Unit::Ratio,
    );
    clients::close(direct).await;
    clients::close(via_daemon).await;
    drop(daemon);
    sim.shutdown().await;
    Ok((d50, b50))
}
