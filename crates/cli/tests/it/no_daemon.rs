//! `policy`, `activity` and `consent` as a user runs them with no daemon:
//! the policy file and the activity database are used directly, and the
//! commands that need the daemon say how to start it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use bridge::activity::{ActivityConfig, ActivityStore};
use bridge::events::{CallEvent, ConsentDecision, Outcome};
use bridge::policy::{Decision, Source};
use bridge::supervisor::{ActivityView, PolicyView};

use crate::support::BIN;

struct Home {
    dir: tempfile::TempDir,
    /// A port nothing listens on, so no daemon of the real user is found.
    port: u16,
}

impl Home {
    fn new() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Self {
            dir: tempfile::tempdir().expect("temp home"),
            port,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn config(&self) -> PathBuf {
        self.path().join("config/coder-bridge")
    }

    fn run(&self, args: &[&str]) -> Output {
        let p = self.path();
        Command::new(BIN)
            .args(args)
            .env("HOME", p)
            .env("XDG_CONFIG_HOME", p.join("config"))
            .env("XDG_DATA_HOME", p.join("data"))
            .env("XDG_STATE_HOME", p.join("state"))
            .env("XDG_RUNTIME_DIR", p.join("run"))
            .env("CODER_BRIDGE_SECRET_STORE", "file")
            .env("CODER_BRIDGE_PORT", self.port.to_string())
            .output()
            .expect("run coder-bridge")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }
}

#[test]
fn policy_set_show_and_clear_without_a_daemon() {
    let home = Home::new();
    let out = home.ok(&[
        "policy",
        "set",
        "coder_workspace_bash",
        "deny",
        "--agent",
        "cursor",
    ]);
    assert!(
        out.contains("coder_workspace_bash: deny for cursor"),
        "{out}"
    );
    home.ok(&["policy", "set", "coder_list_templates", "ask"]);

    let file: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(home.config().join("policy.json")).expect("policy.json written"),
    )
    .expect("valid JSON");
    assert_eq!(file["agents"]["cursor"]["coder_workspace_bash"], "deny");
    assert_eq!(file["tools"]["coder_list_templates"], "ask");

    let view: PolicyView =
        serde_json::from_str(&home.ok(&["policy", "--json"])).expect("JSON view");
    let bash = view
        .tools
        .iter()
        .find(|t| t.tool == "coder_workspace_bash")
        .expect("bash listed");
    assert_eq!(
        (bash.default, bash.source),
        (Decision::Ask, Source::Builtin)
    );
    assert!(bash.starts_workspace);
    assert_eq!(bash.overrides.get("cursor"), Some(&Decision::Deny));
    let templates = view
        .tools
        .iter()
        .find(|t| t.tool == "coder_list_templates")
        .expect("listed");
    assert_eq!(templates.overrides.get("*"), Some(&Decision::Ask));
    assert!(
        view.tools
            .iter()
            .any(|t| t.tool == "coder_delete_template" && t.irreversible)
    );

    let text = home.ok(&["policy", "--agent", "cursor"]);
    let line = text
        .lines()
        .find(|l| l.starts_with("coder_workspace_bash"))
        .expect("bash line");
    assert!(
        line.contains("deny") && line.contains("override for cursor"),
        "{line}"
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("coder_list_templates"))
        .expect("templates line");
    assert!(
        line.contains("ask") && line.contains("every agent"),
        "{line}"
    );

    home.ok(&[
        "policy",
        "clear",
        "coder_workspace_bash",
        "--agent",
        "cursor",
    ]);
    let view: PolicyView =
        serde_json::from_str(&home.ok(&["policy", "--json"])).expect("JSON view");
    let bash = view
        .tools
        .iter()
        .find(|t| t.tool == "coder_workspace_bash")
        .expect("bash listed");
    assert!(bash.overrides.is_empty(), "{:?}", bash.overrides);

    let bad = home.run(&["policy", "set", "coder_workspace_bash", "maybe"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("allow, ask or deny"));
}

#[tokio::test]
async fn activity_reads_the_database_without_a_daemon() {
    let home = Home::new();
    assert!(home.ok(&["activity"]).contains("No calls recorded yet"));

    let store = ActivityStore::open(
        home.path().join("data/coder-bridge/activity.db"),
        ActivityConfig::default(),
    )
    .expect("open store");
    for (i, agent) in ["cursor", "zed", "cursor"].into_iter().enumerate() {
        store.record(CallEvent {
            at: SystemTime::now(),
            agent: agent.into(),
            client_name: None,
            method: "tools/call".to_owned(),
            tool: Some("coder_list_workspaces".to_owned()),
            arguments_summary: Some(format!("{{\"n\":{i}}}")),
            outcome: if i == 2 { Outcome::Denied } else { Outcome::Ok },
            error: None,
            latency: Duration::from_millis(12),
            bytes_in: 10,
            bytes_out: 20,
            consent: Some(if i == 2 {
                ConsentDecision::Denied
            } else {
                ConsentDecision::Allowed
            }),
            args_digest: None,
            answered_by: None,
        });
    }
    store.flush().await.expect("flush");
    store.shutdown().await;

    // The store is shut down: the command opens the file on its own.
    let out = home.ok(&["activity", "--json", "--agent", "cursor"]);
    let rows: Vec<ActivityView> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.agent == "cursor"));
    assert_eq!(
        rows[1].outcome,
        Outcome::Denied,
        "oldest first, newest last"
    );
    assert_eq!(rows[0].arguments_summary.as_deref(), Some("{\"n\":0}"));

    let text = home.ok(&["activity", "--outcome", "denied"]);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("denied") && text.contains("coder_list_workspaces"),
        "{text}"
    );
}

#[test]
fn commands_that_need_the_daemon_say_how_to_start_it() {
    let home = Home::new();
    for args in [
        &["consent"][..],
        &["consent", "allow", "0a1b"],
        &["activity", "--follow"],
    ] {
        let out = home.run(args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("coder-bridge serve"), "{args:?}: {stderr}");
    }
}
