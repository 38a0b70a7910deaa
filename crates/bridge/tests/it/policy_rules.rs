//! Policy: defaults from annotations and the built-in table, overrides per
//! agent, persistence in `policy.json` and re-reading it when it changes.

use std::sync::Arc;

use bridge::policy::{Decision, Policy, Rule, Source};
use rmcp::model::{Tool, ToolAnnotations};

fn tool(name: &str, annotations: Option<ToolAnnotations>) -> Tool {
    let t = Tool::new(
        name.to_owned(),
        "test tool",
        Arc::new(serde_json::Map::new()),
    );
    match annotations {
        Some(a) => t.with_annotations(a),
        None => t,
    }
}

fn temp_policy() -> (tempfile::TempDir, Policy) {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = Policy::open(dir.path().join("policy.json")).expect("open empty policy");
    (dir, policy)
}

#[test]
fn annotations_decide_for_unknown_tools() {
    let (_dir, policy) = temp_policy();
    let read_only = tool("acme_list", Some(ToolAnnotations::new().read_only(true)));
    let destructive = tool(
        "acme_drop",
        Some(ToolAnnotations::new().read_only(false).destructive(true)),
    );
    let additive = tool("acme_add", Some(ToolAnnotations::new().destructive(false)));
    let title_only = tool(
        "acme_title",
        Some(ToolAnnotations::with_title("Only a title")),
    );

    let rule = |t: &Tool| policy.effective("cursor", &t.name, Some(t));
    assert_eq!(
        (rule(&read_only).decision, rule(&read_only).source),
        (Decision::Allow, Source::Annotation)
    );
    assert_eq!(
        (rule(&destructive).decision, rule(&destructive).source),
        (Decision::Ask, Source::Annotation)
    );
    assert_eq!(
        (rule(&additive).decision, rule(&additive).source),
        (Decision::Ask, Source::Annotation)
    );
    // A title says nothing about side effects: an unknown tool asks.
    assert_eq!(
        (rule(&title_only).decision, rule(&title_only).source),
        (Decision::Ask, Source::Default)
    );
    assert_eq!(
        policy.effective("cursor", "mystery", None),
        Rule {
            decision: Decision::Ask,
            source: Source::Default,
            irreversible: false,
            starts_workspace: false,
            destructive: false,
        }
    );
    // A destructive new tool asks with a warning; Coder's own tools keep the
    // table's facts instead.
    assert!(rule(&destructive).destructive);
    assert!(!rule(&additive).destructive && !rule(&read_only).destructive);
    let bash = tool(
        "coder_workspace_bash",
        Some(ToolAnnotations::new().read_only(false).destructive(true)),
    );
    assert!(
        !policy
            .effective("cursor", "coder_workspace_bash", Some(&bash))
            .destructive
    );
}

#[test]
fn builtin_table_covers_coder_tools_without_annotations() {
    let (_dir, policy) = temp_policy();
    let rule = |name: &str| policy.effective("claude-desktop", name, Some(&tool(name, None)));

    for name in [
        "coder_list_workspaces",
        "coder_get_authenticated_user",
        "coder_list_templates",
        "coder_get_task_logs",
    ] {
        assert_eq!(
            (rule(name).decision, rule(name).source),
            (Decision::Allow, Source::Builtin),
            "{name}"
        );
    }
    for name in [
        "coder_create_workspace",
        "coder_create_workspace_build",
        "coder_send_task_input",
    ] {
        assert_eq!(
            (rule(name).decision, rule(name).source),
            (Decision::Ask, Source::Builtin),
            "{name}"
        );
    }
    assert!(rule("coder_delete_template").irreversible);
    assert!(rule("coder_delete_task").irreversible);
    assert!(!rule("coder_create_template").irreversible);

    // Workspace-by-name tools start a stopped workspace, read-only or not.
    let bash = rule("coder_workspace_bash");
    assert_eq!(bash.decision, Decision::Ask);
    assert!(bash.starts_workspace);
    let ls = rule("coder_workspace_ls");
    assert_eq!(ls.decision, Decision::Allow);
    assert!(ls.starts_workspace);
    assert!(!rule("coder_list_workspaces").starts_workspace);
}

#[test]
fn build_with_delete_transition_is_irreversible() {
    let (_dir, policy) = temp_policy();
    let args = |transition: &str| {
        serde_json::json!({"workspace_id": "w", "transition": transition})
            .as_object()
            .cloned()
    };
    let name = "coder_create_workspace_build";
    assert!(
        policy
            .effective_call("cursor", name, None, args("delete").as_ref())
            .irreversible
    );
    assert!(
        !policy
            .effective_call("cursor", name, None, args("start").as_ref())
            .irreversible
    );
    assert!(!policy.effective("cursor", name, None).irreversible);
}

#[test]
fn annotations_cannot_loosen_what_the_table_knows() {
    let (_dir, policy) = temp_policy();
    // A deployment claiming bash is read-only still gets asked about it.
    let bash = tool(
        "coder_workspace_bash",
        Some(ToolAnnotations::new().read_only(true)),
    );
    let rule = policy.effective("cursor", "coder_workspace_bash", Some(&bash));
    assert_eq!(
        (rule.decision, rule.source),
        (Decision::Ask, Source::Builtin)
    );
    // Annotations can make a known tool stricter.
    let list = tool(
        "coder_list_workspaces",
        Some(ToolAnnotations::new().read_only(false)),
    );
    let rule = policy.effective("cursor", "coder_list_workspaces", Some(&list));
    assert_eq!(
        (rule.decision, rule.source),
        (Decision::Ask, Source::Annotation)
    );
}

#[test]
fn overrides_per_agent_win_over_overrides_for_all() {
    let (dir, policy) = temp_policy();
    policy
        .set_override(None, "coder_workspace_bash", Decision::Deny)
        .expect("set for all");
    policy
        .set_override(Some("cursor"), "coder_workspace_bash", Decision::Allow)
        .expect("set for cursor");
    policy
        .set_override(Some("zed"), "coder_list_workspaces", Decision::Deny)
        .expect("set for zed");

    let r = |agent: &str, tool: &str| policy.effective(agent, tool, None);
    assert_eq!(
        (
            r("cursor", "coder_workspace_bash").decision,
            r("cursor", "coder_workspace_bash").source
        ),
        (Decision::Allow, Source::Override)
    );
    assert_eq!(r("vscode", "coder_workspace_bash").decision, Decision::Deny);
    assert_eq!(r("zed", "coder_list_workspaces").decision, Decision::Deny);
    assert_eq!(
        (
            r("vscode", "coder_list_workspaces").decision,
            r("vscode", "coder_list_workspaces").source
        ),
        (Decision::Allow, Source::Builtin)
    );
    // The table's facts survive an override.
    assert!(r("cursor", "coder_workspace_bash").starts_workspace);

    // Persisted: a fresh open sees the same overrides.
    let reopened = Policy::open(dir.path().join("policy.json")).expect("reopen");
    assert_eq!(reopened.overrides(), policy.overrides());
    assert_eq!(
        reopened
            .effective("zed", "coder_list_workspaces", None)
            .decision,
        Decision::Deny
    );

    // Clearing an agent override falls back to the one for all agents.
    assert!(
        policy
            .clear_override(Some("cursor"), "coder_workspace_bash")
            .expect("clear")
    );
    assert!(
        !policy
            .clear_override(Some("cursor"), "coder_workspace_bash")
            .expect("clear again")
    );
    assert_eq!(r("cursor", "coder_workspace_bash").decision, Decision::Deny);
    assert!(!policy.overrides().agents.contains_key("cursor"));
}

/// Polls `read` until it returns `want` or a second has passed; returns the last value.
fn within_a_second(read: impl Fn() -> Decision, want: Decision) -> Decision {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let got = read();
        if got == want || std::time::Instant::now() >= deadline {
            return got;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn changes_on_disk_are_seen_by_a_running_policy() {
    let (dir, daemon) = temp_policy();
    let path = dir.path().join("policy.json");
    assert_eq!(
        daemon
            .effective("cursor", "coder_list_templates", None)
            .decision,
        Decision::Allow
    );

    // Another process (the CLI) changes the file.
    let cli = Policy::open(&path).expect("cli opens");
    cli.set_override(Some("cursor"), "coder_list_templates", Decision::Deny)
        .expect("cli sets");
    // The running policy checks the file at most every 250 ms: the change
    // must show within a second.
    assert_eq!(
        within_a_second(
            || daemon
                .effective("cursor", "coder_list_templates", None)
                .decision,
            Decision::Deny
        ),
        Decision::Deny
    );

    // A hand edit too, and the daemon's next write keeps the CLI's change.
    std::fs::write(&path, r#"{"version":1,"tools":{"coder_create_task":"allow"},"agents":{"cursor":{"coder_list_templates":"ask"}},"future_setting":true}"#)
        .expect("hand edit");
    assert_eq!(
        within_a_second(
            || daemon
                .effective("cursor", "coder_list_templates", None)
                .decision,
            Decision::Ask
        ),
        Decision::Ask
    );
    daemon
        .set_override(Some("zed"), "coder_delete_task", Decision::Deny)
        .expect("daemon sets");
    let text = std::fs::read_to_string(&path).expect("read back");
    let json: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(json["tools"]["coder_create_task"], "allow");
    assert_eq!(json["agents"]["zed"]["coder_delete_task"], "deny");
    assert_eq!(
        json["future_setting"], true,
        "unknown keys are kept: {text}"
    );
}

#[test]
fn a_broken_file_is_reported_and_never_overwritten() {
    let (dir, policy) = temp_policy();
    let path = dir.path().join("policy.json");
    policy
        .set_override(None, "coder_create_task", Decision::Deny)
        .expect("set");

    std::fs::write(&path, "{ not json").expect("break it");
    // The running policy keeps its last good state...
    assert_eq!(
        policy
            .effective("cursor", "coder_create_task", None)
            .decision,
        Decision::Deny
    );
    // ...refuses to write over the user's file...
    let err = policy
        .set_override(None, "coder_create_task", Decision::Allow)
        .expect_err("refuses");
    assert_eq!(err.code(), "policy_parse");
    assert_eq!(
        std::fs::read_to_string(&path).expect("still there"),
        "{ not json"
    );
    // ...and opening it fresh is a clear error.
    assert_eq!(
        Policy::open(&path).expect_err("broken").code(),
        "policy_parse"
    );
}

#[test]
fn decisions_parse_from_cli_words() {
    assert_eq!("allow".parse::<Decision>().expect("allow"), Decision::Allow);
    assert_eq!(" ASK ".parse::<Decision>().expect("ask"), Decision::Ask);
    assert_eq!("deny".parse::<Decision>().expect("deny"), Decision::Deny);
    assert_eq!(
        "maybe".parse::<Decision>().expect_err("bad").code(),
        "policy_invalid_decision"
    );
    let (_dir, policy) = temp_policy();
    assert_eq!(
        policy
            .set_override(Some(""), "x", Decision::Allow)
            .expect_err("empty")
            .code(),
        "policy_empty_name"
    );
}
