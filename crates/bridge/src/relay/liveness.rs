//! Is Coder answering at all?
//!
//! A paused or wedged Coder (SIGSTOP, a frozen VM, a black-holed network)
//! accepts TCP connections — the kernel does that — and then never answers,
//! so a relayed request would wait forever. A fixed per-call timeout is the
//! wrong cure: Coder's workspace bash tool legitimately runs for minutes.
//! Instead, while any relayed request has been waiting longer than
//! [`SUSPECT_AFTER`], the relay asks the deployment a cheap, independent
//! question on a fresh connection (`GET /api/v2/buildinfo`, which needs no
//! token). A healthy Coder answers it at once even while it runs a long
//! tool; two unanswered probes in a row mean Coder is not responding: every
//! waiting request is failed with a clear error and new ones fail fast.
//! Probing continues while it is down; the first answer marks it healthy
//! again, and the relay reconnects on a fresh upstream connection.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use tokio::{
    sync::{Notify, watch},
    time::Instant,
};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::{
    backoff::jittered,
    types::{LivenessOptions, RelayError},
    upstream::lock,
};

/// How long a request may wait before the relay checks that Coder is still
/// there. Short enough that a frozen Coder is reported within about ten
/// seconds (this plus two probe time-outs), long enough that ordinary quick
/// calls never cause a probe.
pub const SUSPECT_AFTER: Duration = Duration::from_secs(4);
/// A probe is one small unauthenticated GET that Coder answers from memory;
/// two seconds is generous even across continents, yet keeps detection fast.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Between probes while a long call runs against a healthy Coder: often
/// enough to notice a freeze within a few seconds, rare enough to cost
/// nothing (one tiny request a second, only while something waits).
pub const PROBE_EVERY: Duration = Duration::from_secs(1);
/// Between probes after a failed one or while Coder is down (jittered
/// ±25 %): the first answer after a resume is seen within half a second, so
/// calls work again within a second of recovery.
pub const PROBE_EVERY_DOWN: Duration = Duration::from_millis(375);
/// Unanswered probes in a row before Coder is declared not responding: one
/// lost probe (a dropped SYN, a reset pooled socket) is not an outage.
pub const FAILURES_TO_DECLARE: u32 = 2;
/// While Coder is down and no agent has asked for anything for this long,
/// probing slows to [`PROBE_EVERY_IDLE`] (a laptop offline for hours should
/// not poll four times a second). A new request probes at once anyway.
pub const FAST_PROBING_FOR: Duration = Duration::from_secs(60);
pub const PROBE_EVERY_IDLE: Duration = Duration::from_secs(5);

/// Coder is not responding: since when, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    /// When the first unanswered probe of the streak was sent.
    pub since: SystemTime,
    /// The deployment that stopped answering (its access URL).
    pub deployment: String,
    /// Why the last probe failed (time-out, refused, …).
    pub reason: String,
}

impl Outage {
    /// "Coder at <url> is not responding (since <time>)".
    pub fn describe(&self) -> String {
        let since = time::OffsetDateTime::from(self.since)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| "a moment ago".into());
        format!(
            "Coder at {} is not responding (since {since}: {})",
            self.deployment, self.reason
        )
    }

    /// For a request that did not (certainly) reach Coder: nothing ran.
    pub fn unavailable(&self) -> RelayError {
        RelayError::Unavailable {
            reason: self.describe(),
        }
    }

    /// For a `tools/call` that was handed to Coder: it may have run.
    pub fn interrupted(&self) -> RelayError {
        RelayError::Interrupted {
            reason: format!("Coder stopped responding: {}", self.describe()),
        }
    }
}

/// What the prober knows, published to every waiting request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    /// `Some` while Coder is declared not responding.
    pub outage: Option<Outage>,
    /// How many times Coder was declared not responding: a connection made
    /// before the latest outage may be wedged and is replaced.
    pub outages: u64,
    /// Probes completed so far; a request that needs a fresh verdict waits
    /// for this to move.
    pub probes: u64,
}

/// Liveness of the one upstream deployment. Owned by the relay.
pub(crate) struct Liveness {
    options: LivenessOptions,
    /// Its own client without a connection pool: every probe opens a fresh
    /// connection, so a wedged pooled socket neither fails nor passes it.
    /// Built on the first probe: a relay that never probes (the stdio
    /// shim's, to the local daemon) never loads TLS roots for it.
    http: OnceLock<reqwest::Client>,
    /// `<access url>/api/v2/buildinfo` once the deployment is known.
    target: Mutex<Option<(Url, String)>>,
    /// Start times of the requests waiting on Coder right now, by ticket.
    waiting: Mutex<BTreeMap<u64, Instant>>,
    tickets: AtomicU64,
    health: watch::Sender<Health>,
    /// Wakes the prober to look again (a request started, or one needs a
    /// fresh verdict: then `probe_now` is set).
    wake: Notify,
    probe_now: AtomicBool,
    last_demand: Mutex<Instant>,
    started: AtomicBool,
    stop: CancellationToken,
}

impl std::fmt::Debug for Liveness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Liveness")
            .field("health", &*self.health.borrow())
            .finish_non_exhaustive()
    }
}

/// Registers a request as waiting on Coder; removes it when dropped.
pub(crate) struct Waiting {
    liveness: Arc<Liveness>,
    ticket: u64,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        lock(&self.liveness.waiting).remove(&self.ticket);
    }
}

impl Liveness {
    /// `stop` ends the prober (the relay shuts down or is dropped).
    pub fn new(options: LivenessOptions, stop: CancellationToken) -> Arc<Self> {
        Arc::new(Self {
            options,
            http: OnceLock::new(),
            target: Mutex::new(None),
            waiting: Mutex::new(BTreeMap::new()),
            tickets: AtomicU64::new(0),
            health: watch::channel(Health::default()).0,
            wake: Notify::new(),
            probe_now: AtomicBool::new(false),
            last_demand: Mutex::new(Instant::now()),
            started: AtomicBool::new(false),
            stop,
        })
    }

    /// The deployment to probe: `GET <access url>/api/v2/buildinfo`.
    pub fn set_deployment(&self, access_url: &Url) {
        let mut base = access_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        if let Ok(url) = base.join("api/v2/buildinfo") {
            let target = Some((url, access_url.to_string()));
            let mut current = lock(&self.target);
            if *current != target {
                *current = target;
                drop(current);
                // Requests may already be waiting for this deployment.
                self.wake.notify_one();
            }
        }
    }

    pub fn health(&self) -> Health {
        self.health.borrow().clone()
    }

    /// Starts the prober once; `on_change` hears every declared outage and
    /// recovery.
    pub fn ensure_prober(self: &Arc<Self>, on_change: impl Fn(&Health) + Send + Sync + 'static) {
        if !self.options.enabled || self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        tokio::spawn(self.clone().run(on_change));
    }

    /// Marks a request as waiting on Coder until the guard drops.
    pub fn track(self: &Arc<Self>) -> Waiting {
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        let was_idle = {
            let mut waiting = lock(&self.waiting);
            waiting.insert(ticket, Instant::now());
            waiting.len() == 1
        };
        // Only the oldest waiting request sets the prober's schedule, and a
        // newcomer is the oldest only when nothing else waits: waking the
        // prober for every request would cost a task switch per call.
        if was_idle {
            self.wake.notify_one();
        }
        Waiting {
            liveness: self.clone(),
            ticket,
        }
    }

    /// Lets a new request through unless Coder is declared not responding.
    /// Then it asks for a probe at once and waits for its verdict (at most a
    /// probe time-out), so a request made right after Coder resumes works
    /// and one made while it is still down fails within seconds.
    pub async fn admit(&self) -> Result<(), Outage> {
        let mut rx = self.health.subscribe();
        let seen = {
            let health = rx.borrow_and_update();
            if health.outage.is_none() {
                return Ok(());
            }
            health.probes
        };
        *lock(&self.last_demand) = Instant::now();
        self.probe_now.store(true, Ordering::Release);
        self.wake.notify_one();
        let verdict = tokio::time::timeout(
            self.options.probe_timeout + Duration::from_millis(500),
            rx.wait_for(|h| h.outage.is_none() || h.probes > seen),
        )
        .await;
        let outage = match verdict {
            Ok(Ok(health)) => health.outage.clone(),
            _ => self.health.borrow().outage.clone(),
        };
        match outage {
            None => Ok(()),
            Some(outage) => Err(outage),
        }
    }

    /// Resolves when Coder is declared not responding (never, when liveness
    /// checks are off).
    pub async fn went_down(&self) -> Outage {
        if !self.options.enabled {
            return std::future::pending().await;
        }
        let mut rx = self.health.subscribe();
        let outage = rx
            .wait_for(|h| h.outage.is_some())
            .await
            .ok()
            .and_then(|health| health.outage.clone());
        match outage {
            Some(outage) => outage,
            // The relay is gone; nothing will ever be declared.
            None => std::future::pending().await,
        }
    }

    /// When the next probe is due, or `None` when nothing calls for one.
    fn next_probe(&self, failures: u32, last: Option<Instant>) -> Option<Instant> {
        lock(&self.target).as_ref()?;
        let now = Instant::now();
        let after = |interval: Duration| last.map_or(now, |l| l + jittered(interval));
        if self.health.borrow().outage.is_some() {
            let idle = lock(&self.last_demand).elapsed() > FAST_PROBING_FOR;
            return Some(after(if idle {
                PROBE_EVERY_IDLE
            } else {
                self.options.probe_every_down
            }));
        }
        let oldest = self.oldest_waiting()?;
        if failures > 0 {
            return Some(after(self.options.probe_every_down));
        }
        Some((oldest + self.options.suspect_after).max(after(self.options.probe_every)))
    }

    /// When the longest-waiting request started. Tickets grow with time, so
    /// the first one is the oldest.
    fn oldest_waiting(&self) -> Option<Instant> {
        lock(&self.waiting).first_key_value().map(|(_, at)| *at)
    }

    /// Whether a probe is still called for once its time has come: the
    /// request that set the schedule may have finished meanwhile, and under
    /// a steady stream of quick calls no probe is needed at all.
    fn still_wanted(&self, failures: u32) -> bool {
        if self.health.borrow().outage.is_some() {
            return true;
        }
        match self.oldest_waiting() {
            None => false,
            Some(_) if failures > 0 => true,
            Some(oldest) => oldest + self.options.suspect_after <= Instant::now(),
        }
    }

    async fn run(self: Arc<Self>, on_change: impl Fn(&Health) + Send + Sync + 'static) {
        let mut failures = 0u32;
        let mut first_failure: Option<SystemTime> = None;
        let mut last: Option<Instant> = None;
        loop {
            let due = self.next_probe(failures, last);
            if due.is_none() {
                // Nothing waits any more: a half-seen suspicion is moot.
                failures = 0;
                first_failure = None;
            }
            let sleep = async {
                match due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = self.stop.cancelled() => return,
                () = self.wake.notified() => {
                    if !self.probe_now.swap(false, Ordering::AcqRel) {
                        continue; // look again at what is waiting
                    }
                }
                () = sleep => {
                    if !self.still_wanted(failures) {
                        continue;
                    }
                }
            }
            self.probe_now.store(false, Ordering::Release);
            let Some((url, deployment)) = lock(&self.target).clone() else {
                continue;
            };
            let started = SystemTime::now();
            last = Some(Instant::now());
            let result = self.probe(&url).await;
            // Only this task writes the health, so a copy edited and then
            // published loses nothing. `on_change` hears a change before the
            // waiting requests do: the relay's status already says "not
            // responding" when they fail, and "reconnecting" before a
            // request admitted after a recovery can report "connected".
            let mut next = self.health.borrow().clone();
            next.probes += 1;
            let mut changed = false;
            match result {
                Ok(()) => {
                    failures = 0;
                    first_failure = None;
                    if next.outage.take().is_some() {
                        tracing::info!(%deployment, "Coder answers again");
                        changed = true;
                    }
                }
                Err(reason) => {
                    failures += 1;
                    let since = *first_failure.get_or_insert(started);
                    if let Some(outage) = &mut next.outage {
                        outage.reason = reason;
                    } else if failures >= self.options.failures_to_declare {
                        tracing::warn!(%deployment, "Coder is not responding: {reason}");
                        next.outage = Some(Outage {
                            since,
                            deployment,
                            reason,
                        });
                        next.outages += 1;
                        changed = true;
                        // The requests just failed were demand: probe fast
                        // for a while so the recovery shows in the status.
                        *lock(&self.last_demand) = Instant::now();
                    } else {
                        tracing::debug!(%deployment, "a liveness probe failed: {reason}");
                    }
                }
            }
            if changed {
                on_change(&next);
            }
            self.health.send_replace(next);
        }
    }

    /// One probe: any HTTP answer means Coder's server is alive, except the
    /// gateway errors a proxy in front of a dead Coder sends.
    async fn probe(&self, url: &Url) -> Result<(), String> {
        let http = self.http.get_or_init(|| {
            reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .tcp_nodelay(true)
                .timeout(self.options.probe_timeout)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("coder-bridge/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default()
        });
        match http.get(url.clone()).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                if matches!(status, 502..=504) {
                    Err(format!("it answered {status}"))
                } else {
                    Ok(())
                }
            }
            Err(e) if e.is_timeout() => Err(format!(
                "no answer within {} s",
                self.options.probe_timeout.as_secs_f32()
            )),
            Err(e) if e.is_connect() => Err("connection refused or unreachable".into()),
            Err(e) => Err(format!("the probe failed: {e}")),
        }
    }
}

#[cfg(test)]
mod tests;
