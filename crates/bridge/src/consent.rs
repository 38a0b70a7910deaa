//! The consent queue: calls that policy says to "ask" about wait here for the user.
//!
//! A waiting call is a [`ConsentRequest`] the faces (UI, tray, CLI) are pushed
//! over a broadcast channel; one of them answers with [`ConsentQueue::answer`].
//! Nobody answering in time denies the call; an agent that gives up (its
//! future is dropped) withdraws its request.

mod gate;
pub mod highlight;
pub mod redact;
mod types;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, oneshot};
use uuid::Uuid;

use crate::policy::{Decision, Policy, PolicyError, definition::DefinitionDigest};

pub use self::gate::PolicyGate;
pub use self::types::{
    Ask, ConsentAnswer, ConsentChange, ConsentError, ConsentOutcome, ConsentRequest, Resolution,
};
pub use crate::digest::{self, ArgumentsDigest};
pub use crate::face::{self, AnsweredBy, Face, FaceClaim};

/// How long a call waits for an answer unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Calls one agent may have waiting at once; beyond this they are refused at
/// once, so a runaway agent cannot bury the user in prompts.
pub const MAX_PENDING_PER_AGENT: usize = 16;

/// The arguments of all waiting calls together may take this many bytes
/// (each call's own arguments are bounded by the server); beyond it new
/// calls are refused rather than queued.
pub const MAX_PENDING_BYTES: usize = 16 * 1024 * 1024;

/// How many changes a slow face may lag behind before it must re-read `pending()`.
const CHANGES_CAPACITY: usize = 256;

/// The queue. Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct ConsentQueue {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    policy: Policy,
    timeout: Duration,
    pending: Mutex<HashMap<Uuid, Pending>>,
    changes: broadcast::Sender<ConsentChange>,
}

#[derive(Debug)]
struct Pending {
    request: ConsentRequest,
    /// The tool's definition the user is asked about: "allow always" is bound to it.
    definition: Option<DefinitionDigest>,
    reply: oneshot::Sender<(ConsentAnswer, AnsweredBy)>,
}

impl ConsentQueue {
    /// A queue whose "allow always" answers are remembered in `policy`.
    pub fn new(policy: Policy, timeout: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                policy,
                timeout,
                pending: Mutex::new(HashMap::new()),
                changes: broadcast::channel(CHANGES_CAPACITY).0,
            }),
        }
    }

    /// The time-out from [`crate::env::CONSENT_TIMEOUT`] (seconds), else the default.
    pub fn timeout_from_env() -> Duration {
        std::env::var(crate::env::CONSENT_TIMEOUT)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&s| s > 0)
            .map_or(DEFAULT_TIMEOUT, Duration::from_secs)
    }

    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// Changes from now on. After `Lagged`, re-read [`ConsentQueue::pending`].
    pub fn subscribe(&self) -> broadcast::Receiver<ConsentChange> {
        self.inner.changes.subscribe()
    }

    /// The requests waiting now, oldest first.
    pub fn pending(&self) -> Vec<ConsentRequest> {
        let mut list: Vec<_> = self.lock().values().map(|p| p.request.clone()).collect();
        list.sort_by_key(|r| r.created_at);
        list
    }

    /// Puts the call in the queue and waits for an answer or the time-out.
    /// Dropping the returned future withdraws the request.
    pub async fn ask(&self, ask: Ask) -> ConsentOutcome {
        let timeout = self.inner.timeout;
        let now = SystemTime::now();
        let marked =
            highlight::mark_arguments(ask.arguments.as_ref(), ask.deployment_host.as_deref());
        let arguments = ask.arguments.as_ref().map_or_else(
            || "{}".to_owned(),
            |a| serde_json::to_string_pretty(a).unwrap_or_default(),
        );
        let definition = ask.definition.clone();
        let request = ConsentRequest {
            id: Uuid::new_v4(),
            warnings: warnings(&ask),
            agent_name: crate::clients::agent(&ask.agent)
                .map_or_else(|_| ask.agent.to_string(), |a| a.display_name.to_owned()),
            arguments_bytes: digest::canonical_bytes(ask.arguments.as_ref()).len(),
            arguments,
            digest: ask.digest,
            fields: marked.fields,
            highlights: marked.highlights,
            agent: ask.agent,
            client_name: ask.client_name,
            tool: ask.tool,
            irreversible: ask.irreversible,
            starts_workspace: ask.starts_workspace,
            created_at: now,
            deadline: now + timeout,
        };
        let id = request.id;
        let digest = request.digest.clone();
        let (reply, mut answer) = oneshot::channel();
        {
            let mut pending = self.lock();
            let waiting = pending
                .values()
                .filter(|p| p.request.agent == request.agent)
                .count();
            if waiting >= MAX_PENDING_PER_AGENT {
                tracing::warn!(agent = %request.agent, waiting, "too many calls waiting for consent; refusing");
                return ConsentOutcome::TooManyPending;
            }
            let queued: usize = pending.values().map(|p| p.request.arguments_bytes).sum();
            if queued + request.arguments_bytes > MAX_PENDING_BYTES {
                tracing::warn!(agent = %request.agent, queued, "the consent queue is full; refusing");
                return ConsentOutcome::QueueFull;
            }
            pending.insert(
                id,
                Pending {
                    definition: definition.clone(),
                    request: request.clone(),
                    reply,
                },
            );
        }
        tracing::info!(%id, agent = %request.agent, tool = %request.tool, "call waits for consent");
        let _ = self
            .inner
            .changes
            .send(ConsentChange::RequestAdded { request });
        let mut guard = Withdraw {
            queue: self,
            id,
            armed: true,
        };

        let answered = tokio::time::timeout(timeout, &mut answer).await;
        guard.armed = false;
        let learn = |(answer, by)| outcome_of(answer, by, digest.clone());
        match answered {
            Ok(Ok(answer)) => learn(answer),
            // The sender is only dropped unanswered if the entry vanished,
            // which `answer` never does without replying: treat as denied.
            Ok(Err(_)) => ConsentOutcome::Denied {
                by: AnsweredBy::in_process(),
            },
            Err(_) => {
                let mut pending = self.lock();
                if pending.remove(&id).is_some() {
                    drop(pending);
                    tracing::info!(%id, "consent request timed out");
                    self.resolved(id, Resolution::TimedOut);
                    ConsentOutcome::TimedOut { after: timeout }
                } else {
                    // Answered in the same instant the time ran out: `answer`
                    // replies under the lock, so the reply is already here.
                    drop(pending);
                    match answer.try_recv() {
                        Ok(answer) => learn(answer),
                        Err(_) => ConsentOutcome::TimedOut { after: timeout },
                    }
                }
            }
        }
    }

    /// Answers a pending request from code in this process (no face).
    pub async fn answer(&self, id: Uuid, answer: ConsentAnswer) -> Result<(), ConsentError> {
        self.answer_by(id, answer, AnsweredBy::in_process(), None)
            .await
    }

    /// Answers a pending request on behalf of `by`. When `seen` is given it
    /// must be the request's digest: an answer is for the arguments the user
    /// looked at, never for others. "Allow always" is saved in the policy
    /// first; if that fails the request stays pending and the error is returned.
    pub async fn answer_by(
        &self,
        id: Uuid,
        answer: ConsentAnswer,
        by: AnsweredBy,
        seen: Option<&ArgumentsDigest>,
    ) -> Result<(), ConsentError> {
        let (agent, tool, definition) = {
            let pending = self.lock();
            let entry = pending.get(&id).ok_or(ConsentError::NotFound(id))?;
            if let Some(seen) = seen
                && *seen != entry.request.digest
            {
                return Err(ConsentError::DigestMismatch {
                    id,
                    seen: seen.to_string(),
                    actual: entry.request.digest.to_string(),
                });
            }
            (
                entry.request.agent.clone(),
                entry.request.tool.clone(),
                entry.definition.clone(),
            )
        };
        if answer == ConsentAnswer::AllowAlways {
            let policy = self.inner.policy.clone();
            let setter = by.clone();
            tokio::task::spawn_blocking(move || {
                policy.set_override_for_definition(
                    Some(&agent),
                    &tool,
                    Decision::Allow,
                    &setter,
                    definition.as_ref(),
                )
            })
            .await
            .map_err(|e| {
                ConsentError::Persist(PolicyError::Io {
                    path: self.inner.policy.path().to_owned(),
                    error: std::io::Error::other(e),
                })
            })??;
        }
        let request = {
            let mut pending = self.lock();
            let entry = pending.remove(&id).ok_or(ConsentError::NotFound(id))?;
            // Reply while holding the lock (see the time-out branch in `ask`).
            let _ = entry.reply.send((answer, by.clone()));
            entry.request
        };
        tracing::info!(%id, agent = %request.agent, tool = %request.tool, ?answer, by = %by.describe(), "consent answered");
        self.resolved_by(id, resolution_of(answer), Some(by));
        Ok(())
    }

    fn resolved(&self, id: Uuid, resolution: Resolution) {
        self.resolved_by(id, resolution, None);
    }

    fn resolved_by(&self, id: Uuid, resolution: Resolution, by: Option<AnsweredBy>) {
        let _ = self
            .inner
            .changes
            .send(ConsentChange::RequestResolved { id, resolution, by });
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Pending>> {
        // Every update is a single insert/remove, so a poisoned map is still consistent.
        self.inner
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Withdraws the request if the waiting future is dropped before it finished.
struct Withdraw<'a> {
    queue: &'a ConsentQueue,
    id: Uuid,
    armed: bool,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let removed = self.queue.lock().remove(&self.id).is_some();
        if removed {
            tracing::info!(id = %self.id, "consent request withdrawn: the call was cancelled");
            self.queue.resolved(self.id, Resolution::Withdrawn);
        }
    }
}

fn outcome_of(answer: ConsentAnswer, by: AnsweredBy, digest: ArgumentsDigest) -> ConsentOutcome {
    match answer {
        ConsentAnswer::AllowOnce | ConsentAnswer::AllowAlways => ConsentOutcome::Allowed {
            always: answer == ConsentAnswer::AllowAlways,
            digest,
            by,
        },
        ConsentAnswer::Deny => ConsentOutcome::Denied { by },
    }
}

fn resolution_of(answer: ConsentAnswer) -> Resolution {
    match answer {
        ConsentAnswer::AllowOnce => Resolution::AllowedOnce,
        ConsentAnswer::AllowAlways => Resolution::AllowedAlways,
        ConsentAnswer::Deny => Resolution::Denied,
    }
}

fn warnings(ask: &Ask) -> Vec<String> {
    let mut out = ask.notes.clone();
    if ask.irreversible {
        out.push("This cannot be undone.".to_owned());
    }
    if ask.starts_workspace {
        let workspace = ask
            .arguments
            .as_ref()
            .and_then(|a| a.get("workspace"))
            .and_then(|w| w.as_str())
            .map(|w| w.chars().take(80).collect::<String>());
        out.push(match workspace {
            Some(name) => format!("If workspace \"{name}\" is stopped, this starts it."),
            None => "If the workspace is stopped, this starts it.".to_owned(),
        });
    }
    out
}

/// "2 minutes", "90 seconds": for the reason an agent is given.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if secs >= 60 && secs.is_multiple_of(60) {
        plural(secs / 60, "minute")
    } else if secs >= 1 {
        plural(secs, "second")
    } else {
        format!("{} ms", d.as_millis())
    }
}
