//! What the commands print on stderr besides their answer: nothing but
//! warnings and errors unless asked (`-v`, `CODER_BRIDGE_LOG`), and never
//! colour codes on a pipe or under `NO_COLOR`.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::BIN;

/// `coder-bridge <args>` in a temp HOME with stderr piped, and no log
/// settings inherited from whoever runs the tests.
fn run(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env("PATH", home.join("bin"))
        .env("CODER_BRIDGE_SECRET_STORE", "file")
        // A port nothing listens on: the commands find no daemon.
        .env("CODER_BRIDGE_PORT", crate::support::free_port().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run coder-bridge")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn info_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.contains(" INFO ")).collect()
}

#[test]
fn commands_print_no_info_lines_and_no_colour_on_a_pipe() {
    let home = tempfile::tempdir().expect("temp home");
    for args in [
        &["status"][..],
        &["agents"],
        &["agents", "--json"],
        &["policy"],
        &["activity"],
        &["config", "get", "port"],
        &["configure", "cursor", "--dry-run"],
    ] {
        let out = run(home.path(), args, &[]);
        let err = stderr(&out);
        assert!(
            !err.contains("\x1b["),
            "{args:?}: colour codes on a pipe: {err:?}"
        );
        assert_eq!(info_lines(&err), Vec::<&str>::new(), "{args:?}: {err}");
        assert!(!err.contains(" DEBUG "), "{args:?}: {err}");
    }
}

#[test]
fn v_asks_for_info_lines_and_coder_bridge_log_replaces_it() {
    let home = tempfile::tempdir().expect("temp home");
    // `configure` issues a token and writes a file: the core says so at
    // info. Quiet by default, shown with -v wherever it is given.
    let quiet = run(home.path(), &["configure", "cursor"], &[]);
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert_eq!(info_lines(&stderr(&quiet)), Vec::<&str>::new());
    for (args, agent) in [
        (&["-v", "configure", "windsurf"][..], "windsurf"),
        (&["configure", "vscode", "-v"], "vscode"),
        (&["--verbose", "configure", "zed"], "zed"),
    ] {
        let out = run(home.path(), args, &[("NO_COLOR", "1")]);
        let err = stderr(&out);
        assert!(out.status.success(), "{args:?}: {err}");
        let lines = info_lines(&err);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("issued a client token") && l.contains(agent)),
            "{args:?}: {err}"
        );
        assert!(!err.contains("\x1b["), "{args:?}: {err:?}");
    }
    // CODER_BRIDGE_LOG, when set, is the whole filter: -v adds nothing.
    let out = run(
        home.path(),
        &["-v", "configure", "claude-code"],
        &[("CODER_BRIDGE_LOG", "warn")],
    );
    assert_eq!(
        info_lines(&stderr(&out)),
        Vec::<&str>::new(),
        "{}",
        stderr(&out)
    );
}

#[test]
fn help_documents_the_verbose_flag() {
    let out = Command::new(BIN).arg("--help").output().expect("help");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("-v, --verbose"), "{help}");
    assert!(help.contains("CODER_BRIDGE_LOG"), "{help}");
}
