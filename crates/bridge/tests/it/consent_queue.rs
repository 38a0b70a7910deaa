//! Consent: ask → allow once / allow always / deny / time-out, withdrawal
//! when the waiting call is dropped, and denied tools hidden from the list.

use std::sync::Arc;
use std::time::Duration;

use bridge::consent::{
    AnsweredBy, ArgumentsDigest, ConsentAnswer, ConsentChange, ConsentQueue, ConsentRequest, Face,
    FaceClaim, PolicyGate, Resolution,
};
use bridge::events::ConsentDecision;
use bridge::gate::{CallGate, GateDecision, GateRequest};
use bridge::policy::{Decision, Policy, Source};
use rmcp::model::Tool;
use tokio::sync::broadcast;
use tokio::time::timeout;

const BOUND: Duration = Duration::from_secs(10);

struct Fixture {
    dir: tempfile::TempDir,
    gate: Arc<PolicyGate>,
    changes: broadcast::Receiver<ConsentChange>,
}

fn fixture(wait: Duration) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = Policy::open(dir.path().join("policy.json")).expect("policy");
    let queue = ConsentQueue::new(policy.clone(), wait);
    let changes = queue.subscribe();
    Fixture {
        dir,
        gate: Arc::new(PolicyGate::new(policy, queue)),
        changes,
    }
}

fn bash_call(agent: &str) -> GateRequest {
    let arguments = serde_json::json!({
        "workspace": "dev",
        "command": "export CODER_SESSION_TOKEN=abcdEFGH12-abcdefghijklmnopqrstuv && make",
        "api_token": "hunter2",
    })
    .as_object()
    .cloned();
    GateRequest {
        agent: agent.into(),
        client_name: Some("Cursor".to_owned()),
        tool: "coder_workspace_bash".to_owned(),
        digest: ArgumentsDigest::of(arguments.as_ref()),
        arguments,
        deployment_host: Some("coder.example.com".to_owned()),
        tool_info: None,
    }
}

/// `request` with other arguments, its digest following them.
fn with_arguments(request: GateRequest, arguments: serde_json::Value) -> GateRequest {
    let arguments = arguments.as_object().cloned();
    GateRequest {
        digest: ArgumentsDigest::of(arguments.as_ref()),
        arguments,
        ..request
    }
}

async fn next_added(changes: &mut broadcast::Receiver<ConsentChange>) -> ConsentRequest {
    loop {
        match timeout(BOUND, changes.recv())
            .await
            .expect("a change in time")
            .expect("channel open")
        {
            ConsentChange::RequestAdded { request } => return request,
            ConsentChange::RequestResolved { .. } => {}
        }
    }
}

async fn next_resolved(changes: &mut broadcast::Receiver<ConsentChange>) -> Resolution {
    loop {
        match timeout(BOUND, changes.recv())
            .await
            .expect("a change in time")
            .expect("channel open")
        {
            ConsentChange::RequestResolved { resolution, .. } => return resolution,
            ConsentChange::RequestAdded { .. } => {}
        }
    }
}

#[tokio::test]
async fn allow_once_lets_one_call_through_and_asks_again() {
    let mut f = fixture(Duration::from_secs(60));
    let gate = f.gate.clone();
    let call = tokio::spawn(async move { gate.admit(bash_call("cursor")).await });

    let request = next_added(&mut f.changes).await;
    assert_eq!(
        (request.agent.as_str(), request.tool.as_str()),
        ("cursor", "coder_workspace_bash")
    );
    assert_eq!(request.client_name.as_deref(), Some("Cursor"));
    assert!(request.starts_workspace && !request.irreversible);
    assert!(
        request
            .warnings
            .iter()
            .any(|w| w.contains("\"dev\"") && w.contains("starts it")),
        "{:?}",
        request.warnings
    );
    // The prompt shows exactly what will run: nothing masked, nothing cut.
    assert!(
        request.arguments.contains("\"workspace\": \"dev\""),
        "{}",
        request.arguments
    );
    let field = |path: &str| {
        request
            .fields
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.value.clone())
    };
    assert_eq!(
        field("/command").as_deref(),
        Some("export CODER_SESSION_TOKEN=abcdEFGH12-abcdefghijklmnopqrstuv && make")
    );
    assert_eq!(field("/api_token").as_deref(), Some("hunter2"));
    assert_eq!(request.agent_name, "Cursor", "the agent's display name");
    assert_eq!(request.digest, bash_call("cursor").digest);
    assert!(request.deadline > request.created_at);
    assert_eq!(f.gate.queue().pending(), vec![request.clone()]);

    f.gate
        .queue()
        .answer(request.id, ConsentAnswer::AllowOnce)
        .await
        .expect("answer");
    let decision = timeout(BOUND, call).await.expect("in time").expect("task");
    assert_eq!(
        decision,
        GateDecision::Approved {
            decision: ConsentDecision::AllowedOnce,
            digest: request.digest.clone(),
            by: AnsweredBy::in_process(),
        }
    );
    assert_eq!(next_resolved(&mut f.changes).await, Resolution::AllowedOnce);
    assert!(f.gate.queue().pending().is_empty());

    // Once means once: the next call waits again.
    let gate = f.gate.clone();
    let again = tokio::spawn(async move { gate.admit(bash_call("cursor")).await });
    let second = next_added(&mut f.changes).await;
    assert_ne!(second.id, request.id);
    f.gate
        .queue()
        .answer(second.id, ConsentAnswer::Deny)
        .await
        .expect("deny");
    let decision = timeout(BOUND, again).await.expect("in time").expect("task");
    let GateDecision::Deny {
        decision, reason, ..
    } = decision
    else {
        panic!("expected a denial, got {decision:?}")
    };
    assert_eq!(decision, ConsentDecision::Denied);
    assert!(reason.contains("denied"), "{reason}");
    assert_eq!(next_resolved(&mut f.changes).await, Resolution::Denied);
}

#[tokio::test]
async fn allow_always_is_remembered_across_a_reopen() {
    let mut f = fixture(Duration::from_secs(60));
    let gate = f.gate.clone();
    let call = tokio::spawn(async move { gate.admit(bash_call("cursor")).await });
    let request = next_added(&mut f.changes).await;
    f.gate
        .queue()
        .answer(request.id, ConsentAnswer::AllowAlways)
        .await
        .expect("answer");
    assert!(matches!(
        timeout(BOUND, call).await.expect("in time").expect("task"),
        GateDecision::Approved {
            decision: ConsentDecision::AllowedAlways,
            ..
        }
    ));
    assert_eq!(
        next_resolved(&mut f.changes).await,
        Resolution::AllowedAlways
    );

    // The same agent is no longer asked; another agent still is.
    let decision = timeout(BOUND, f.gate.admit(bash_call("cursor")))
        .await
        .expect("no prompt");
    assert_eq!(decision, GateDecision::Allow(ConsentDecision::Allowed));
    let reopened = Policy::open(f.dir.path().join("policy.json")).expect("reopen");
    let rule = reopened.effective("cursor", "coder_workspace_bash", None);
    assert_eq!(
        (rule.decision, rule.source),
        (Decision::Allow, Source::Override)
    );
    assert_eq!(
        reopened
            .effective("zed", "coder_workspace_bash", None)
            .decision,
        Decision::Ask
    );
}

#[tokio::test(start_paused = true)]
async fn unanswered_calls_time_out_with_a_reason() {
    let mut f = fixture(bridge::consent::DEFAULT_TIMEOUT);
    let started = tokio::time::Instant::now();
    let decision = f.gate.admit(bash_call("cursor")).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(120) && waited < Duration::from_secs(121),
        "{waited:?}"
    );
    let GateDecision::Deny {
        decision, reason, ..
    } = decision
    else {
        panic!("expected a denial, got {decision:?}")
    };
    assert_eq!(decision, ConsentDecision::TimedOut);
    assert!(reason.contains("not approved within 2 minutes"), "{reason}");
    let added = next_added(&mut f.changes).await;
    assert_eq!(next_resolved(&mut f.changes).await, Resolution::TimedOut);
    assert!(f.gate.queue().pending().is_empty());
    let late = f
        .gate
        .queue()
        .answer(added.id, ConsentAnswer::AllowOnce)
        .await
        .expect_err("too late");
    assert_eq!(late.code(), "consent_not_found");
}

#[tokio::test]
async fn a_cancelled_call_withdraws_its_request() {
    let mut f = fixture(Duration::from_secs(60));
    let gate = f.gate.clone();
    let call = tokio::spawn(async move { gate.admit(bash_call("cursor")).await });
    let request = next_added(&mut f.changes).await;
    call.abort();
    assert_eq!(next_resolved(&mut f.changes).await, Resolution::Withdrawn);
    assert!(f.gate.queue().pending().is_empty());
    let err = f
        .gate
        .queue()
        .answer(request.id, ConsentAnswer::AllowOnce)
        .await
        .expect_err("gone");
    assert_eq!(err.code(), "consent_not_found");
}

#[tokio::test]
async fn denied_tools_are_hidden_and_refused_without_asking() {
    let f = fixture(Duration::from_secs(60));
    let policy = f.gate.policy();
    policy
        .set_override(Some("cursor"), "coder_workspace_bash", Decision::Deny)
        .expect("deny");
    let bash = Tool::new(
        "coder_workspace_bash",
        "run a command",
        Arc::new(serde_json::Map::new()),
    );
    assert!(!f.gate.visible("cursor", &bash));
    assert!(f.gate.visible("zed", &bash));

    let decision = timeout(BOUND, f.gate.admit(bash_call("cursor")))
        .await
        .expect("no prompt");
    let GateDecision::Deny {
        decision, reason, ..
    } = decision
    else {
        panic!("expected a denial, got {decision:?}")
    };
    assert_eq!(decision, ConsentDecision::DeniedByPolicy);
    assert!(reason.contains("coder_workspace_bash"), "{reason}");
    assert!(f.gate.queue().pending().is_empty());

    // Read-only tools go straight through.
    let list = GateRequest {
        tool: "coder_list_workspaces".to_owned(),
        ..with_arguments(bash_call("cursor"), serde_json::Value::Null)
    };
    assert_eq!(
        f.gate.admit(list).await,
        GateDecision::Allow(ConsentDecision::Allowed)
    );
}

#[tokio::test]
async fn irreversible_calls_are_flagged_in_the_prompt() {
    let mut f = fixture(Duration::from_secs(60));
    let gate = f.gate.clone();
    let call = tokio::spawn(async move {
        gate.admit(GateRequest {
            tool: "coder_create_workspace_build".to_owned(),
            ..with_arguments(
                bash_call("claude-code"),
                serde_json::json!({"workspace_id": "w1", "transition": "delete"}),
            )
        })
        .await
    });
    let request = next_added(&mut f.changes).await;
    assert!(request.irreversible && !request.starts_workspace);
    assert!(
        request
            .warnings
            .iter()
            .any(|w| w.contains("cannot be undone")),
        "{:?}",
        request.warnings
    );
    f.gate
        .queue()
        .answer(request.id, "deny".parse().expect("cli word"))
        .await
        .expect("deny");
    assert!(matches!(
        timeout(BOUND, call).await.expect("in time").expect("task"),
        GateDecision::Deny { .. }
    ));
}

#[tokio::test]
async fn one_agent_cannot_bury_the_user_in_prompts() {
    let mut f = fixture(Duration::from_secs(60));
    let max = bridge::consent::MAX_PENDING_PER_AGENT;
    let mut waiting = Vec::new();
    for _ in 0..max {
        let gate = f.gate.clone();
        waiting.push(tokio::spawn(async move {
            gate.admit(bash_call("cursor")).await
        }));
        next_added(&mut f.changes).await;
    }
    let refused = timeout(BOUND, f.gate.admit(bash_call("cursor")))
        .await
        .expect("refused at once");
    let GateDecision::Deny {
        decision, reason, ..
    } = refused
    else {
        panic!("expected a refusal, got {refused:?}")
    };
    assert_eq!(decision, ConsentDecision::DeniedByPolicy);
    assert!(reason.contains("already wait"), "{reason}");
    assert_eq!(f.gate.queue().pending().len(), max);

    // Another agent is not affected.
    let gate = f.gate.clone();
    let other = tokio::spawn(async move { gate.admit(bash_call("zed")).await });
    let request = next_added(&mut f.changes).await;
    assert_eq!(request.agent, "zed");
    other.abort();
    for task in &waiting {
        task.abort();
    }
    for _ in 0..=max {
        assert_eq!(next_resolved(&mut f.changes).await, Resolution::Withdrawn);
    }
    assert!(f.gate.queue().pending().is_empty());
}

#[tokio::test]
async fn an_answer_for_other_arguments_is_refused_and_the_call_keeps_waiting() {
    let mut f = fixture(Duration::from_secs(60));
    let gate = f.gate.clone();
    let call = tokio::spawn(async move { gate.admit(bash_call("cursor")).await });
    let request = next_added(&mut f.changes).await;

    // The user looked at other arguments (say, an earlier request's).
    let other =
        ArgumentsDigest::of(serde_json::json!({"workspace": "dev", "command": "ls"}).as_object());
    let by = AnsweredBy::session(Face::Web, "1a2b3c4d");
    let err = f
        .gate
        .queue()
        .answer_by(
            request.id,
            ConsentAnswer::AllowOnce,
            by.clone(),
            Some(&other),
        )
        .await
        .expect_err("a digest that is not the request's");
    assert_eq!(err.code(), "consent_digest_mismatch");
    assert_eq!(f.gate.queue().pending().len(), 1, "still waiting");
    assert!(!call.is_finished());

    // The right digest is accepted, and the call learns who answered.
    f.gate
        .queue()
        .answer_by(
            request.id,
            ConsentAnswer::AllowOnce,
            by.clone(),
            Some(&request.digest),
        )
        .await
        .expect("answer");
    let GateDecision::Approved {
        digest,
        by: answered,
        ..
    } = timeout(BOUND, call).await.expect("in time").expect("task")
    else {
        panic!("expected an approval")
    };
    assert_eq!((digest, answered), (request.digest, by));
}

#[tokio::test]
async fn allow_always_records_who_set_the_override() {
    let mut f = fixture(Duration::from_secs(60));
    let gate = f.gate.clone();
    let call = tokio::spawn(async move { gate.admit(bash_call("cursor")).await });
    let request = next_added(&mut f.changes).await;
    let by = AnsweredBy::control_token(Some(FaceClaim::this_cli_process()));
    f.gate
        .queue()
        .answer_by(request.id, ConsentAnswer::AllowAlways, by.clone(), None)
        .await
        .expect("answer");
    timeout(BOUND, call).await.expect("in time").expect("task");
    let resolved_by = loop {
        match timeout(BOUND, f.changes.recv())
            .await
            .expect("change")
            .expect("open")
        {
            ConsentChange::RequestResolved { by, .. } => break by,
            ConsentChange::RequestAdded { .. } => {}
        }
    };
    assert_eq!(resolved_by.as_ref(), Some(&by));
    let overrides = Policy::open(f.dir.path().join("policy.json"))
        .expect("reopen")
        .overrides();
    let set = overrides
        .set_by
        .get("cursor/coder_workspace_bash")
        .expect("who set it is on disk");
    assert_eq!(set.by, by);
    assert_eq!(set.by.pid, Some(std::process::id()));
    assert!(set.by.claimed && set.at_ms > 0);
}

#[test]
fn answers_parse_from_cli_words() {
    assert_eq!(
        "allow".parse::<ConsentAnswer>().expect("allow"),
        ConsentAnswer::AllowOnce
    );
    assert_eq!(
        "always".parse::<ConsentAnswer>().expect("always"),
        ConsentAnswer::AllowAlways
    );
    assert_eq!(
        "allow-always"
            .parse::<ConsentAnswer>()
            .expect("allow-always"),
        ConsentAnswer::AllowAlways
    );
    assert_eq!(
        "deny".parse::<ConsentAnswer>().expect("deny"),
        ConsentAnswer::Deny
    );
    assert_eq!(
        "nope".parse::<ConsentAnswer>().expect_err("bad").code(),
        "consent_invalid_answer"
    );
    assert_eq!(
        bridge::consent::human_duration(Duration::from_secs(90)),
        "90 seconds"
    );
    assert_eq!(
        bridge::consent::human_duration(Duration::from_secs(60)),
        "1 minute"
    );
}
