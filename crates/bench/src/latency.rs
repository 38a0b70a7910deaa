//! The loopback latency comparison: every way an agent reaches Coder,
//! interleaved in one run. Direct to Coder and through the daemon with an
//! rmcp client, through the stdio shim, through mcp-remote, and with the
//! official TypeScript and Python SDK clients in both protocol eras, each
//! against Coder directly and through the daemon.

use std::time::Duration;

use anyhow::Context;

use crate::{
    clients::{self, Connections},
    drivers::{Driver, Era, Interpreters, Library},
    measure::{self, Path},
    procs,
    report::{Report, Unit, added, mib, ms, percentile, targets},
};

/// Everything the comparison connects to.
pub struct Setup<'a> {
    pub bins: &'a procs::Binaries,
    pub home: &'a procs::Home,
    pub sim: &'a procs::SimProc,
    pub daemon: &'a procs::DaemonProc,
    /// The daemon's client token for HTTP agents.
    pub http_token: &'a str,
    pub repo_dir: &'a std::path::Path,
    pub interpreters: &'a Interpreters,
    pub mcp_remote: bool,
    pub calls: usize,
    pub rounds: usize,
}

/// What later notes refer to.
#[derive(Debug, Clone, Copy)]
pub struct Loopback {
    /// rmcp client, p50: direct, and through the daemon over HTTP.
    pub direct: Duration,
    pub via_daemon: Duration,
    /// One bare HTTP exchange with the daemon, p50.
    pub hop: Duration,
}

/// One client library in one era, direct and through the daemon.
struct LibraryPair {
    library: Library,
    era: Era,
    direct: Driver,
    via_daemon: Driver,
}

pub async fn compare(at: &Setup<'_>, report: &mut Report) -> anyhow::Result<Loopback> {
    eprintln!("latency: {} calls per path…", at.calls);
    let sim = at.sim;
    let direct = clients::http(&sim.mcp_url, &sim.session_token, Connections::KeepAlive).await?;
    let via_daemon =
        clients::http(&at.daemon.mcp_url, at.http_token, Connections::KeepAlive).await?;
    let (via_shim, shim_pid) = clients::child(procs::shim_command(
        at.bins,
        at.home,
        "claude-desktop",
        at.daemon.port,
    ))
    .await?;
    let remote = if !at.mcp_remote || !clients::mcp_remote_installed(at.repo_dir).await {
        report.info("mcp-remote", "not installed");
        None
    } else {
        let mut cmd = clients::mcp_remote_command(at.repo_dir, &sim.mcp_url, &sim.session_token);
        at.home.apply(&mut cmd);
        Some(
            clients::child(cmd)
                .await
                .context("mcp-remote did not start")?,
        )
    };
    let mut pairs = Vec::new();
    for library in Library::ALL {
        if let Some(why) = at.interpreters.missing(library) {
            report.info(library.describe(), format!("not measured: {why}"));
            continue;
        }
        for era in Era::ALL {
            let connect = |url: &str, token: &str| {
                let (url, token) = (url.to_owned(), token.to_owned());
                async move { at.interpreters.connect(library, era, &url, &token).await }
            };
            pairs.push(LibraryPair {
                library,
                era,
                direct: connect(&sim.mcp_url, &sim.session_token).await?,
                via_daemon: connect(&at.daemon.mcp_url, at.http_token).await?,
            });
        }
    }

    let mut paths = vec![
        Path::Rmcp(&direct),
        Path::Rmcp(&via_daemon),
        Path::Rmcp(&via_shim),
    ];
    if let Some((c, _)) = &remote {
        paths.push(Path::Rmcp(c));
    }
    let first_pair = paths.len();
    for pair in &mut pairs {
        paths.push(Path::Driver(&mut pair.direct));
        paths.push(Path::Driver(&mut pair.via_daemon));
    }
    let lat = measure::latency(&mut paths, at.calls, at.rounds).await?;
    drop(paths);

    let (d50, d99) = (percentile(&lat[0], 50.0), percentile(&lat[0], 99.0));
    report.info(
        "direct to Coder (rmcp client): p50 / p99",
        format!("{} / {}", Unit::Ms.show(ms(d50)), Unit::Ms.show(ms(d99))),
    );
    let names = [
        "daemon (HTTP, rmcp client)",
        "stdio shim",
        "mcp-remote (stdio)",
    ];
    let mut shim_added = Duration::ZERO;
    for (name, s) in names.iter().zip(&lat[1..first_pair]) {
        let (a, b) = (percentile(s, 50.0), percentile(s, 99.0));
        if name.starts_with("stdio shim") {
            shim_added = a.saturating_sub(d50);
        }
        let ratio_target = !name.starts_with("mcp-remote");
        compared(report, name, (a, b), (d50, d99), ratio_target);
    }
    for (pair, s) in pairs.iter().zip(lat[first_pair..].chunks(2)) {
        let (p50, p99) = (percentile(&s[0], 50.0), percentile(&s[0], 99.0));
        let (b50, b99) = (percentile(&s[1], 50.0), percentile(&s[1], 99.0));
        let name = format!(
            "{} ({}, protocol {})",
            pair.library.describe(),
            pair.era.describe(),
            pair.via_daemon.protocol.as_deref().unwrap_or("?"),
        );
        report.info(
            format!("{name}: direct p50 / p99"),
            format!("{} / {}", Unit::Ms.show(ms(p50)), Unit::Ms.show(ms(p99))),
        );
        report.info(
            format!("{name}: through the daemon p50 / p99"),
            format!("{} / {}", Unit::Ms.show(ms(b50)), Unit::Ms.show(ms(b99))),
        );
        report.info(
            format!("{name}: added per call, p50 / p99"),
            format!("{} / {}", added(b50, p50), added(b99, p99)),
        );
        report.at_most(
            &format!("{name}: added p50"),
            ms(b50) - ms(p50),
            targets::ADDED_P50_MS,
            Unit::Ms,
        );
        report.info(
            format!("{name}: p50 ratio to direct"),
            Unit::Ratio.show(b50.as_secs_f64() / p50.as_secs_f64()),
        );
        report.at_most(
            &format!("{name}: p99 ratio to direct"),
            b99.as_secs_f64() / p99.as_secs_f64(),
            targets::P99_RATIO,
            Unit::Ratio,
        );
        report.at_most(
            &format!("{name}: added p50 beyond the stdio shim's"),
            ms(b50) - ms(p50) - ms(shim_added),
            targets::BEYOND_SHIM_MS,
            Unit::Ms,
        );
    }

    // The floor of any extra hop: one bare HTTP exchange with the daemon.
    let healthz = format!("http://127.0.0.1:{}/healthz", at.daemon.port);
    let hop = measure::bare_http(&healthz, 1000, Duration::ZERO).await?;
    let hop50 = percentile(&hop, 50.0);
    report.info(
        "one bare loopback HTTP exchange (daemon GET /healthz): p50 / p99",
        format!(
            "{} / {}",
            Unit::Ms.show(ms(hop50)),
            Unit::Ms.show(ms(percentile(&hop, 99.0)))
        ),
    );

    let shim_mem = procs::mem(shim_pid)?;
    report.at_most(
        &format!("stdio shim peak RSS (after {} calls)", at.calls + 50),
        mib(shim_mem.hwm_kib),
        targets::SHIM_RSS_MIB,
        Unit::MiB,
    );
    report.info(
        "stdio shim RSS: its own (RssAnon; the rest is shared code)",
        Unit::MiB.show(mib(shim_mem.anon_kib)),
    );
    if let Some((c, pid)) = remote {
        // mcp-remote runs under npx: the node process is a child of it, so
        // the figure is the whole process tree's.
        let m = procs::tree_mem(pid);
        report.info(
            "mcp-remote peak RSS (npx + node)",
            Unit::MiB.show(mib(m.hwm_kib)),
        );
        clients::close(c).await;
    }
    for c in [direct, via_daemon, via_shim] {
        clients::close(c).await;
    }
    drop(pairs);
    Ok(Loopback {
        direct: d50,
        via_daemon: percentile(&lat[1], 50.0),
        hop: hop50,
    })
}

/// p50 / p99 of a path, what it adds to `direct`'s, and (with
/// `ratio_target`) its ratios judged against issue #9's targets.
fn compared(
    report: &mut Report,
    name: &str,
    (a, b): (Duration, Duration),
    (d50, d99): (Duration, Duration),
    ratio_target: bool,
) {
    report.info(
        format!("{name}: p50 / p99"),
        format!("{} / {}", Unit::Ms.show(ms(a)), Unit::Ms.show(ms(b))),
    );
    report.info(
        format!("{name}: added per call, p50 / p99"),
        format!("{} / {}", added(a, d50), added(b, d99)),
    );
    let r50 = a.as_secs_f64() / d50.as_secs_f64();
    let r99 = b.as_secs_f64() / d99.as_secs_f64();
    if ratio_target {
        report.at_most(
            &format!("{name}: p50 ratio to direct"),
            r50,
            targets::P50_RATIO,
            Unit::Ratio,
        );
        report.at_most(
            &format!("{name}: p99 ratio to direct"),
            r99,
            targets::P99_RATIO,
            Unit::Ratio,
        );
    } else {
        report.info(
            format!("{name}: p50 / p99 ratio to direct"),
            format!("{} / {}", Unit::Ratio.show(r50), Unit::Ratio.show(r99)),
        );
    }
}
