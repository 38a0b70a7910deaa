//! The call-path measurements: interleaved latency, throughput with many
//! sessions, memory over many calls, and the shim's start-up.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use futures::future::try_join_all;
use tokio::process::Command;

use crate::clients::{self, Client};
use crate::drivers::Driver;
use crate::procs::{self, Mem};

/// Calls per path before anything is recorded: connections, caches and the
/// relay's upstream session are warm when the clock starts.
const WARMUP: usize = 50;

/// One way an agent reaches Coder, as the latency comparison drives it.
#[derive(Debug)]
pub enum Path<'a> {
    /// An rmcp client in this process (over HTTP, or a child's stdio).
    Rmcp(&'a Client),
    /// Another client library in a driver process.
    Driver(&'a mut Driver),
}

impl Path<'_> {
    /// `n` sequential calls; each one's wall time.
    async fn calls(&mut self, n: usize) -> anyhow::Result<Vec<Duration>> {
        match self {
            Path::Rmcp(client) => {
                let mut took = Vec::with_capacity(n);
                for _ in 0..n {
                    took.push(clients::call(client).await?);
                }
                Ok(took)
            }
            Path::Driver(driver) => driver.calls(n).await,
        }
    }
}

/// `calls` sequential calls per path, in `rounds` rounds; each round runs
/// every path in turn (starting with a different one each round), so a
/// slow moment of the machine is shared rather than blamed on one path.
/// Returns each path's sorted latencies.
pub async fn latency(
    paths: &mut [Path<'_>],
    calls: usize,
    rounds: usize,
) -> anyhow::Result<Vec<Vec<Duration>>> {
    for path in paths.iter_mut() {
        path.calls(WARMUP).await?;
    }
    let rounds = rounds.max(1);
    let per_round = calls.div_ceil(rounds);
    let mut samples = vec![Vec::with_capacity(per_round * rounds); paths.len()];
    for round in 0..rounds {
        for k in 0..paths.len() {
            let i = (round + k) % paths.len();
            samples[i].extend(paths[i].calls(per_round).await?);
        }
    }
    for s in &mut samples {
        s.sort_unstable();
    }
    Ok(samples)
}

/// Sequential GETs of `url` over one kept-alive connection, `gap` apart:
/// the cost of a bare HTTP exchange on loopback, the floor of any extra
/// hop. With a gap the server has gone idle before each request, as between
/// calls to a distant Coder. Sorted.
pub async fn bare_http(url: &str, gets: usize, gap: Duration) -> anyhow::Result<Vec<Duration>> {
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .context("an HTTP client")?;
    let mut samples = Vec::with_capacity(gets);
    for i in 0..WARMUP + gets {
        if !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
        let started = Instant::now();
        let response = tokio::time::timeout(clients::STEP_TIMEOUT, http.get(url).send())
            .await
            .context("GET timed out")?
            .context("GET failed")?
            .error_for_status()?;
        response.bytes().await.context("reading the answer")?;
        if i >= WARMUP {
            samples.push(started.elapsed());
        }
    }
    samples.sort_unstable();
    Ok(samples)
}

/// Opens `n` sessions with `connect`, all at once.
pub async fn sessions<F, Fut>(n: usize, connect: F) -> anyhow::Result<Vec<Client>>
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<Client>>,
{
    try_join_all((0..n).map(|_| connect())).await
}

pub async fn close_all(clients: Vec<Client>) {
    futures::future::join_all(clients.into_iter().map(clients::close)).await;
}

/// Slices each throughput run is cut into: direct and bridged take turns
/// (starting with a different one each slice), so a build or a noisy
/// neighbour slows both rather than one.
const THROUGHPUT_SLICES: u32 = 4;

/// What [`throughput_pair`] measured.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    /// Calls per second, direct to Coder.
    pub direct: f64,
    /// Calls per second through the daemon.
    pub bridged: f64,
    /// Calls that went through the daemon, warm-up included.
    pub bridged_calls: u64,
}

/// Calls per second of two sets of sessions (direct, bridged), each set
/// calling in a loop for `duration` in total, the two sets taking turns.
pub async fn throughput_pair(
    direct: Vec<Client>,
    bridged: Vec<Client>,
    duration: Duration,
) -> anyhow::Result<Throughput> {
    let direct: Vec<Arc<Client>> = direct.into_iter().map(Arc::new).collect();
    let bridged: Vec<Arc<Client>> = bridged.into_iter().map(Arc::new).collect();
    let bridged_len = bridged.len() as u64;
    // A short untimed burst so every session is warm.
    for set in [&direct, &bridged] {
        try_join_all(set.iter().map(|c| clients::call(c))).await?;
    }
    let slice = duration / THROUGHPUT_SLICES;
    let (mut done, mut took) = ([0u64; 2], [Duration::ZERO; 2]);
    for k in 0..THROUGHPUT_SLICES as usize {
        for turn in 0..2 {
            let i = (k + turn) % 2;
            let set = if i == 0 { &direct } else { &bridged };
            let (calls, elapsed) = calls_for(set, slice).await?;
            done[i] += calls;
            took[i] += elapsed;
        }
    }
    for set in [direct, bridged] {
        close_all(set.into_iter().filter_map(Arc::into_inner).collect()).await;
    }
    let rate = |i: usize| done[i] as f64 / took[i].as_secs_f64();
    Ok(Throughput {
        direct: rate(0),
        bridged: rate(1),
        // The warm-up burst went through the daemon too.
        bridged_calls: done[1] + bridged_len,
    })
}

/// Every session calls in a loop for `duration`: calls completed and the
/// time they took (until the last one in flight finished).
async fn calls_for(clients: &[Arc<Client>], duration: Duration) -> anyhow::Result<(u64, Duration)> {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let workers = clients.iter().map(|c| {
        let c = c.clone();
        let done = done.clone();
        tokio::spawn(async move {
            while Instant::now() < deadline {
                clients::call(&c).await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        })
    });
    for r in try_join_all(workers)
        .await
        .context("a session task panicked")?
    {
        r?;
    }
    Ok((done.load(Ordering::Relaxed), started.elapsed()))
}

/// `total` calls spread over `clients`; returns when all are done.
pub async fn run_calls(clients: &[Arc<Client>], total: u64) -> anyhow::Result<()> {
    let left = Arc::new(AtomicU64::new(total));
    let workers = clients.iter().map(|c| {
        let c = c.clone();
        let left = left.clone();
        tokio::spawn(async move {
            // Take a ticket per call so exactly `total` calls are made.
            while left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
            {
                clients::call(&c).await?;
            }
            anyhow::Ok(())
        })
    });
    for r in try_join_all(workers)
        .await
        .context("a session task panicked")?
    {
        r?;
    }
    Ok(())
}

/// The daemon's memory after `first` calls and after `total` calls.
#[derive(Debug)]
pub struct Soak {
    pub after_first: Mem,
    pub at_end: Mem,
    pub calls_per_sec: f64,
}

pub async fn soak(
    clients: Vec<Client>,
    daemon_pid: u32,
    first: u64,
    total: u64,
) -> anyhow::Result<Soak> {
    let clients: Vec<Arc<Client>> = clients.into_iter().map(Arc::new).collect();
    let started = Instant::now();
    run_calls(&clients, first.min(total)).await?;
    let after_first = procs::mem(daemon_pid)?;
    run_calls(&clients, total.saturating_sub(first)).await?;
    let calls_per_sec = total as f64 / started.elapsed().as_secs_f64();
    let at_end = procs::mem(daemon_pid)?;
    close_all(clients.into_iter().filter_map(Arc::into_inner).collect()).await;
    Ok(Soak {
        after_first,
        at_end,
        calls_per_sec,
    })
}

/// The shim's start-up, as an agent sees it: spawn → initialize reply →
/// tools/list reply. Times of each run and the largest peak RSS seen.
pub async fn shim_start(
    command: impl Fn() -> Command,
    runs: usize,
) -> anyhow::Result<(Vec<Duration>, Mem)> {
    let mut times = Vec::with_capacity(runs);
    let mut peak = Mem::default();
    for _ in 0..runs {
        let started = Instant::now();
        let (client, pid) = clients::child(command()).await?;
        let tools = tokio::time::timeout(clients::STEP_TIMEOUT, client.list_tools(None))
            .await
            .context("tools/list through the shim timed out")?
            .context("tools/list through the shim failed")?;
        times.push(started.elapsed());
        anyhow::ensure!(!tools.tools.is_empty(), "the shim listed no tools");
        let m = procs::mem(pid)?;
        peak.hwm_kib = peak.hwm_kib.max(m.hwm_kib);
        peak.rss_kib = peak.rss_kib.max(m.rss_kib);
        clients::close(client).await;
    }
    Ok((times, peak))
}
