//! Throughput: many sessions calling at once, direct and through the daemon
//! taking turns, and what the daemon's own CPU time says it could do.

use std::time::Duration;

use crate::{
    clients::{self, Connections},
    measure, procs,
    report::{Report, Unit, targets},
};

/// Where the sessions connect, and how.
pub struct Endpoints<'a> {
    pub direct_url: &'a str,
    pub direct_token: &'a str,
    pub daemon_url: &'a str,
    pub daemon_token: &'a str,
    pub daemon_pid: u32,
}

/// One throughput run of `n` sessions per path; the 64-session run of
/// keep-alive agents carries the target.
pub async fn run(
    report: &mut Report,
    at: &Endpoints<'_>,
    n: usize,
    connections: Connections,
    secs: Duration,
) -> anyhow::Result<()> {
    let kind = connections.describe();
    eprintln!("throughput: {n} {kind} session(s), {secs:?} each path, interleaved…");
    let direct = measure::sessions(n, || {
        clients::http(at.direct_url, at.direct_token, connections)
    });
    let bridged = measure::sessions(n, || {
        clients::http(at.daemon_url, at.daemon_token, connections)
    });
    let (direct, bridged) = (direct.await?, bridged.await?);
    // The daemon only works in the bridged slices, so its CPU time over the
    // whole run is the cost of the calls relayed in them.
    let cpu_before = procs::cpu_time(at.daemon_pid)?;
    let run = measure::throughput_pair(direct, bridged, secs).await?;
    let cpu = procs::cpu_time(at.daemon_pid)?.saturating_sub(cpu_before);

    let label = format!("throughput, {n} {kind} session(s)");
    // Direct is the ceiling of this machine: the simulator and the clients
    // alone fill its cores; bridged calls share them with the daemon.
    report.info(
        format!("{label}: direct (this machine's ceiling)"),
        Unit::PerSec.show(run.direct),
    );
    let name = format!("{label}: through the daemon");
    if n == 64 && connections == Connections::KeepAlive {
        report.at_least(&name, run.bridged, targets::CALLS_PER_SEC_64, Unit::PerSec);
    } else {
        report.info(name, Unit::PerSec.show(run.bridged));
    }
    let share = run.bridged / run.direct;
    if n == 64 && connections == Connections::KeepAlive {
        let name = format!("{label}: daemon / direct");
        report.at_least(&name, share, targets::THROUGHPUT_RATIO_64, Unit::Ratio);
    } else {
        report.info(format!("{label}: daemon / direct"), Unit::Ratio.show(share));
    }
    if n == 64 && run.bridged_calls > 0 {
        // The rate above shares the cores with the agents and the simulator;
        // this is what the daemon itself spends, and so what it could relay
        // with the machine's cores to itself.
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let per_call = cpu.as_secs_f64() / run.bridged_calls as f64;
        let name = format!("{label}: daemon CPU per relayed call");
        if connections == Connections::KeepAlive {
            report.at_most(
                &name,
                per_call * 1000.0,
                targets::DAEMON_CPU_PER_CALL_MS,
                Unit::Ms,
            );
        } else {
            report.info(name, Unit::Ms.show(per_call * 1000.0));
        }
        report.info(
            format!("{label}: daemon alone on the {cores} cores (cores ÷ CPU per call)"),
            Unit::PerSec.show(cores as f64 / per_call),
        );
    }
    Ok(())
}
