//! `coder-bridge configure / unconfigure / agents` as a user runs them: the
//! real binary in a temp HOME (with a space and non-ASCII in its path), with
//! XDG folders and PATH pointed inside it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::BIN;

struct Home {
    _tmp: tempfile::TempDir,
    home: PathBuf,
}

impl Home {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = tmp.path().join("home ñ space");
        fs::create_dir_all(home.join("bin")).expect("home");
        Self { _tmp: tmp, home }
    }

    fn config(&self) -> PathBuf {
        self.home.join(".config")
    }

    fn cursor(&self) -> PathBuf {
        self.home.join(".cursor/mcp.json")
    }

    fn tokens(&self) -> Value {
        let path = self.config().join("coder-bridge/client-tokens.json");
        match fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).expect("token file is JSON"),
            Err(_) => Value::Null,
        }
    }

    fn token(&self, agent: &str) -> Option<String> {
        self.tokens()["clients"][agent]["token"]
            .as_str()
            .map(str::to_owned)
    }

    /// Runs the binary; kills it if it takes longer than a few seconds.
    fn run(&self, args: &[&str]) -> Output {
        let mut child = Command::new(BIN)
            .args(args)
            .env_clear()
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.config())
            .env("XDG_DATA_HOME", self.home.join(".local/share"))
            .env("PATH", self.home.join("bin"))
            .env("CODER_BRIDGE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn coder-bridge");
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("coder-bridge {args:?} did not finish in time");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().expect("output")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "coder-bridge {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    fn agents(&self, extra: &[&str]) -> Vec<Value> {
        let mut args = vec!["agents", "--json"];
        args.extend_from_slice(extra);
        let out = self.ok(&args);
        serde_json::from_str::<Vec<Value>>(&out).expect("agents --json is a JSON array")
    }

    fn agent(&self, name: &str, extra: &[&str]) -> Value {
        self.agents(extra)
            .into_iter()
            .find(|a| a["agent"] == name)
            .expect("agent listed")
    }
}

fn json(path: &Path) -> Value {
    let text = fs::read_to_string(path).expect("read config");
    jsonc_value(&text)
}

fn jsonc_value(text: &str) -> Value {
    // Agent files may hold comments; strip `//` lines for this simple check.
    let cleaned: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    serde_json::from_str(&cleaned).expect("valid JSON")
}

#[test]
fn configure_cursor_writes_its_own_token_and_is_idempotent() {
    let h = Home::new();
    let out = h.ok(&["configure", "cursor"]);
    assert!(out.contains("Cursor: created"), "{out}");
    let token = h.token("cursor").expect("cursor got a client token");
    assert!(token.starts_with("cbt_"));
    let entry = &json(&h.cursor())["mcpServers"]["coder"];
    assert_eq!(entry["type"], "http");
    assert_eq!(entry["url"], "http://127.0.0.1:7331/mcp");
    assert_eq!(entry["headers"]["Authorization"], format!("Bearer {token}"));
    assert!(!out.contains(&token), "the token was printed");

    let before = fs::read(h.cursor()).expect("read");
    let again = h.ok(&["configure", "cursor"]);
    assert!(
        again.contains("already configured and up to date"),
        "{again}"
    );
    assert_eq!(fs::read(h.cursor()).expect("read"), before);
    assert_eq!(h.token("cursor").as_deref(), Some(token.as_str()));

    let status = h.agent("cursor", &[]);
    assert_eq!(status["configured"], true);
    assert_eq!(status["up_to_date"], true);
    assert_eq!(status["installed"], true);
}

#[test]
fn dry_run_prints_a_diff_and_writes_nothing() {
    let h = Home::new();
    let out = h.ok(&["configure", "cursor", "--dry-run"]);
    assert!(
        out.contains("+++ ") && out.contains("+      \"url\": \"http://127.0.0.1:7331/mcp\","),
        "{out}"
    );
    assert!(out.contains("Dry run: nothing was written."), "{out}");
    assert!(!h.cursor().exists());
    assert!(!h.home.join(".cursor").exists());
    assert_eq!(h.token("cursor"), None);
}

#[test]
fn port_change_and_revoked_token_are_drift_that_configure_repairs() {
    let h = Home::new();
    h.ok(&["configure", "cursor"]);
    let moved = h.agent("cursor", &["--port", "7400"]);
    assert_eq!(moved["up_to_date"], false);
    assert_eq!(moved["drift"][0]["kind"], "url_changed");

    let dry = h.ok(&["configure", "cursor", "--port", "7400", "--dry-run"]);
    assert!(
        dry.contains("-      \"url\": \"http://127.0.0.1:7331/mcp\","),
        "{dry}"
    );
    assert!(
        dry.contains("+      \"url\": \"http://127.0.0.1:7400/mcp\","),
        "{dry}"
    );
    h.ok(&["configure", "cursor", "--port", "7400"]);
    assert_eq!(
        json(&h.cursor())["mcpServers"]["coder"]["url"],
        "http://127.0.0.1:7400/mcp"
    );
    assert_eq!(h.agent("cursor", &["--port", "7400"])["up_to_date"], true);

    // Revoke behind the CLI's back (as `unconfigure` from another tool would).
    let old = h.token("cursor").expect("token");
    let store = h.config().join("coder-bridge/client-tokens.json");
    fs::write(&store, r#"{"version": 1, "clients": {}}"#).expect("revoke");
    let revoked = h.agent("cursor", &["--port", "7400"]);
    assert_eq!(revoked["up_to_date"], false);
    assert_eq!(revoked["drift"][0]["kind"], "token_revoked");
    h.ok(&["configure", "cursor", "--port", "7400"]);
    let new = h.token("cursor").expect("new token");
    assert_ne!(new, old);
    assert_eq!(
        json(&h.cursor())["mcpServers"]["coder"]["headers"]["Authorization"],
        format!("Bearer {new}")
    );
}

#[test]
fn unconfigure_removes_only_our_entry_and_revokes_the_token() {
    let h = Home::new();
    let original = "{\n  // my servers\n  \"mcpServers\": {\n    \"linear\": {\"url\": \"https://mcp.linear.app/sse\"},\n  },\n  \"other\": 1,\n}\n";
    fs::create_dir_all(h.cursor().parent().expect("dir")).expect("mkdir");
    fs::write(h.cursor(), original).expect("seed");
    h.ok(&["configure", "cursor"]);
    let configured = fs::read_to_string(h.cursor()).expect("read");
    assert!(configured.contains("// my servers") && configured.contains("\"linear\""));
    let backup = h.home.join(".cursor/mcp.json.coder-bridge.bak");
    assert_eq!(fs::read_to_string(&backup).expect("backup"), original);

    let out = h.ok(&["unconfigure", "cursor"]);
    assert!(out.contains("removed the coder entry"), "{out}");
    assert!(out.contains("revoked its client token"), "{out}");
    assert_eq!(fs::read_to_string(h.cursor()).expect("read"), original);
    assert_eq!(h.token("cursor"), None);
    assert_eq!(h.agent("cursor", &[])["configured"], false);

    let again = h.ok(&["unconfigure", "cursor"]);
    assert!(again.contains("no coder-bridge entry"), "{again}");
}

#[test]
fn claude_desktop_gets_a_private_stdio_entry_with_this_binary() {
    let h = Home::new();
    h.ok(&["configure", "claude-desktop"]);
    let path = h.config().join("Claude/claude_desktop_config.json");
    let entry = &json(&path)["mcpServers"]["coder"];
    let bin = fs::canonicalize(BIN).expect("canonical binary");
    assert_eq!(entry["command"], bin.to_string_lossy().as_ref());
    assert_eq!(
        entry["args"],
        serde_json::json!(["stdio", "--agent", "claude-desktop"])
    );
    assert!(entry.get("url").is_none());
    // The shim presents this agent's token to the daemon.
    assert!(h.token("claude-desktop").is_some());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn all_configures_installed_agents_only() {
    let h = Home::new();
    fs::create_dir_all(h.home.join(".cursor")).expect("cursor dir");
    fs::create_dir_all(h.config().join("zed")).expect("zed dir");
    let out = h.ok(&["configure", "--all"]);
    assert!(
        out.contains("Cursor: created") && out.contains("Zed: created"),
        "{out}"
    );
    assert!(!h.home.join(".claude.json").exists());
    assert!(!h.config().join("Code").exists());
    let rows = h.agents(&[]);
    assert!(rows.len() >= 16, "{} agents", rows.len());
    let configured: Vec<&str> = rows
        .iter()
        .filter(|r| r["configured"] == true)
        .map(|r| r["agent"].as_str().expect("name"))
        .collect();
    assert_eq!(configured, ["cursor", "zed"]);
}

#[test]
fn unknown_agents_and_unparsable_files_fail_clearly() {
    let h = Home::new();
    let out = h.run(&["configure", "cursr"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for name in [
        "claude-desktop",
        "cursor",
        "vscode",
        "windsurf",
        "claude-code",
        "zed",
    ] {
        assert!(err.contains(name), "{err}");
    }
    assert!(!h.run(&["unconfigure", "cursr"]).status.success());

    let broken = "{\n  \"mcpServers\": {\n    \"a\": {\"url\": \"x\"}\n    \"b\": {}\n  }\n}\n";
    fs::create_dir_all(h.cursor().parent().expect("dir")).expect("mkdir");
    fs::write(h.cursor(), broken).expect("seed");
    let out = h.run(&["configure", "cursor"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3, column 22"), "{err}");
    assert_eq!(fs::read_to_string(h.cursor()).expect("read"), broken);
    assert!(!h.home.join(".cursor/mcp.json.coder-bridge.bak").exists());

    // `agents` still lists everyone, with the error on the broken one.
    let row = h.agent("cursor", &[]);
    assert_eq!(row["error"]["code"], "clients.parse");
}

#[test]
fn the_port_setting_is_what_entries_point_at() {
    let h = Home::new();
    assert_eq!(h.ok(&["config", "get", "port"]).trim(), "7331");
    h.ok(&["configure", "cursor"]);
    let set = h.ok(&["config", "set", "port", "18123"]);
    assert!(set.contains("port = 18123"), "{set}");
    assert_eq!(h.ok(&["config", "get", "port"]).trim(), "18123");
    let settings = h.config().join("coder-bridge/settings.json");
    assert_eq!(json(&settings)["port"], 18123);

    // The entry written for 7331 is now stale: drift, repaired by configure.
    let stale = h.agent("cursor", &[]);
    assert_eq!(stale["up_to_date"], false);
    assert_eq!(stale["drift"][0]["kind"], "url_changed");
    assert_eq!(stale["drift"][0]["found"], "http://127.0.0.1:7331/mcp");
    h.ok(&["configure", "cursor"]);
    assert_eq!(
        json(&h.cursor())["mcpServers"]["coder"]["url"],
        "http://127.0.0.1:18123/mcp"
    );
    assert_eq!(h.agent("cursor", &[])["up_to_date"], true);

    for bad in [
        ["set", "port", "0"],
        ["set", "port", "http"],
        ["set", "colour", "1"],
    ] {
        let out = h.run(&[&["config"][..], &bad[..]].concat());
        assert!(!out.status.success(), "config {bad:?} was accepted");
    }
    assert_eq!(json(&settings)["port"], 18123);
}

#[test]
fn serve_on_another_port_than_the_setting_warns() {
    let h = Home::new();
    let mut child = Command::new(BIN)
        .args(["serve", "--port", "0"])
        .env_clear()
        .env("HOME", &h.home)
        .env("XDG_CONFIG_HOME", h.config())
        .env("XDG_DATA_HOME", h.home.join(".local/share"))
        .env("CODER_BRIDGE_SECRET_STORE", "file")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let stderr = child.stderr.take().expect("stderr");
    let first = std::io::BufRead::lines(std::io::BufReader::new(stderr))
        .next()
        .and_then(Result::ok)
        .unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        first.contains("warning: serving on port 0, but agent entries point at port 7331"),
        "{first}"
    );
}

#[test]
fn toml_and_yaml_agents_preview_write_and_restore() {
    let h = Home::new();
    let codex = h.home.join(".codex/config.toml");
    let original = "# mine\nmodel = \"o3\" # keep\n\n[mcp_servers.linear]\ncommand = \"npx\"\n";
    fs::create_dir_all(codex.parent().expect("dir")).expect("mkdir");
    fs::write(&codex, original).expect("seed");

    let dry = h.ok(&["configure", "codex", "--dry-run"]);
    assert!(dry.contains("+[mcp_servers.coder]"), "{dry}");
    assert!(dry.contains("Bearer cbt_…"), "the token is masked: {dry}");
    assert_eq!(fs::read_to_string(&codex).expect("read"), original);

    h.ok(&["configure", "codex"]);
    let token = h.token("codex").expect("token");
    let written = fs::read_to_string(&codex).expect("read");
    assert!(written.starts_with(original), "{written}");
    assert!(
        written.contains(&format!(
            "http_headers = {{ Authorization = \"Bearer {token}\" }}"
        )),
        "{written}"
    );
    h.ok(&["unconfigure", "codex"]);
    assert_eq!(fs::read_to_string(&codex).expect("read"), original);

    let goose = h.config().join("goose/config.yaml");
    let original =
        "# goose\nGOOSE_PROVIDER: openai\nextensions:\n  developer:\n    enabled: true # on\n";
    fs::create_dir_all(goose.parent().expect("dir")).expect("mkdir");
    fs::write(&goose, original).expect("seed");
    h.ok(&["configure", "goose"]);
    let written = fs::read_to_string(&goose).expect("read");
    assert!(
        written.contains("  coder:\n    enabled: true\n    type: streamable_http\n"),
        "{written}"
    );
    assert!(written.contains("enabled: true # on"), "{written}");
    assert_eq!(h.agent("goose", &[])["up_to_date"], true);
    h.ok(&["unconfigure", "goose"]);
    assert_eq!(fs::read_to_string(&goose).expect("read"), original);

    let broken = "extensions: [\n";
    fs::write(&goose, broken).expect("seed");
    let out = h.run(&["configure", "goose"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not valid YAML"));
    assert_eq!(fs::read_to_string(&goose).expect("read"), broken);
}

/// A JSON object's keys as written, repeats included: `serde_json::Value`
/// keeps only the last of two equal keys, so it cannot see a repeat.
struct Keys(Vec<String>);

impl<'de> serde::Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some((key, serde::de::IgnoredAny)) = map.next_entry::<String, _>()? {
                    keys.push(key);
                }
                Ok(Keys(keys))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

#[test]
fn agents_json_names_each_key_once() {
    let h = Home::new();
    h.ok(&["configure", "cursor"]);
    // An unreadable config: that agent's object carries an error instead.
    fs::create_dir_all(h.home.join(".codeium/windsurf")).expect("mkdir");
    fs::write(
        h.home.join(".codeium/windsurf/mcp_config.json"),
        "{ not json",
    )
    .expect("write");
    let out = h.ok(&["agents", "--json"]);
    let objects: Vec<Keys> =
        serde_json::from_str(&out).expect("agents --json is an array of objects");
    assert!(objects.len() >= 10, "{out}");
    let mut saw_error = false;
    for Keys(keys) in &objects {
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), keys.len(), "a key repeats in {keys:?}");
        for wanted in ["agent", "display_name"] {
            assert!(
                keys.iter().any(|k| k == wanted),
                "{wanted} missing from {keys:?}"
            );
        }
        if keys.iter().any(|k| k == "error") {
            saw_error = true;
            assert!(!keys.iter().any(|k| k == "configured"), "{keys:?}");
        } else {
            assert!(keys.iter().any(|k| k == "configured"), "{keys:?}");
        }
    }
    assert!(saw_error, "no agent reported an unreadable config: {out}");
    let values: Vec<Value> = serde_json::from_str(&out).expect("JSON");
    let cursor = values
        .iter()
        .find(|a| a["agent"] == "cursor")
        .expect("cursor");
    assert_eq!(cursor["display_name"], "Cursor");
    assert_eq!(cursor["configured"], true);
}
