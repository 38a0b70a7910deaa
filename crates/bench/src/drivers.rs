//! Agents built on the official MCP client libraries, as real agents are:
//! the TypeScript SDK (`@modelcontextprotocol/client`, inside Claude Code,
//! Cursor and VS Code) and the Python SDK (`mcp`). Each runs as a small
//! driver script (`crates/bench/drivers/`) with the library's own HTTP
//! client and its default connection reuse; the bench asks it for N calls at
//! a time and gets each call's latency back, so its paths interleave with
//! the rmcp ones like any other.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
};

use crate::clients::{STEP_TIMEOUT, TOOL};

/// The client libraries measured besides rmcp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Library {
    TypeScript,
    Python,
}

impl Library {
    pub const ALL: [Library; 2] = [Library::TypeScript, Library::Python];

    pub fn describe(self) -> &'static str {
        match self {
            Library::TypeScript => "TypeScript SDK",
            Library::Python => "Python SDK",
        }
    }
}

/// The two protocol eras an agent may speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// The initialize handshake and an `Mcp-Session-Id` (2025-11-25 and
    /// older): what most agents speak today.
    Session,
    /// 2026-07-28: no handshake, no session, every request on its own.
    Stateless,
}

impl Era {
    pub const ALL: [Era; 2] = [Era::Session, Era::Stateless];

    fn arg(self) -> &'static str {
        match self {
            Era::Session => "legacy",
            Era::Stateless => "modern",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Era::Session => "session era",
            Era::Stateless => "2026-07-28",
        }
    }
}

/// Where the drivers' interpreters are, or why a library is not measured.
#[derive(Debug)]
pub struct Interpreters {
    node: Result<PathBuf, String>,
    python: Result<PathBuf, String>,
    scripts: PathBuf,
}

impl Interpreters {
    /// Node.js from `node_modules` (the npm package `node`) or the PATH,
    /// with `@modelcontextprotocol/client` installed in `repo`; `python`
    /// with the `mcp` package.
    pub async fn find(repo: &Path, python: &Path) -> Self {
        let local_node = repo.join("node_modules/node/bin/node");
        let node = if local_node.is_file() {
            local_node
        } else {
            PathBuf::from("node")
        };
        let node = if repo
            .join("node_modules/@modelcontextprotocol/client/package.json")
            .is_file()
        {
            runs(&node, &["--version"])
                .await
                .then_some(node)
                .ok_or_else(|| "no Node.js (npm ci)".to_owned())
        } else {
            Err("@modelcontextprotocol/client is not installed (npm ci)".to_owned())
        };
        let python = runs(python, &["-c", "import mcp"])
            .await
            .then(|| python.to_owned())
            .ok_or_else(|| {
                format!(
                    "{} cannot import mcp (pip install -r requirements-test.txt)",
                    python.display()
                )
            });
        Self {
            node,
            python,
            scripts: repo.join("crates/bench/drivers"),
        }
    }

    /// Why `library` cannot be measured here, if it cannot.
    pub fn missing(&self, library: Library) -> Option<&str> {
        match library {
            Library::TypeScript => self.node.as_ref().err(),
            Library::Python => self.python.as_ref().err(),
        }
        .map(String::as_str)
    }

    /// Starts a driver connected to `url` with `token`, speaking `era`;
    /// returns once its session is open.
    pub async fn connect(
        &self,
        library: Library,
        era: Era,
        url: &str,
        token: &str,
    ) -> anyhow::Result<Driver> {
        let (program, script) = match library {
            Library::TypeScript => (&self.node, "ts-client.mjs"),
            Library::Python => (&self.python, "py-client.py"),
        };
        let program = program.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut cmd = Command::new(program);
        cmd.arg(self.scripts.join(script))
            .args([url, token, era.arg(), TOOL])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let stdin = child.stdin.take().context("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        let mut driver = Driver {
            name: format!("{} ({})", library.describe(), era.describe()),
            _child: child,
            stdin,
            stdout,
            protocol: None,
        };
        let ready = driver.read().await.context("the driver did not connect")?;
        if ready["ready"] != Value::Bool(true) {
            bail!("{}: unexpected first line {ready}", driver.name);
        }
        driver.protocol = ready["protocol"].as_str().map(str::to_owned);
        Ok(driver)
    }
}

async fn runs(program: &Path, args: &[&str]) -> bool {
    let mut command = Command::new(program);
    command.args(args);
    crate::clients::succeeds(command).await
}

/// One running driver: an open MCP session in another process.
#[derive(Debug)]
pub struct Driver {
    name: String,
    _child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    /// The protocol version the session negotiated, as the library says.
    pub protocol: Option<String>,
}

impl Driver {
    /// `n` sequential `tools/call`s of [`TOOL`]; each one's wall time, as
    /// the library's caller sees it.
    pub async fn calls(&mut self, n: usize) -> anyhow::Result<Vec<Duration>> {
        self.stdin
            .write_all(format!("{n}\n").as_bytes())
            .await
            .with_context(|| format!("{} is gone", self.name))?;
        self.stdin.flush().await?;
        let line = self.read().await?;
        let micros = line["micros"]
            .as_array()
            .with_context(|| format!("{}: unexpected answer {line}", self.name))?;
        let took: Vec<Duration> = micros
            .iter()
            .filter_map(Value::as_u64)
            .map(Duration::from_micros)
            .collect();
        if took.len() != n {
            bail!("{}: {} latencies for {n} calls", self.name, took.len());
        }
        Ok(took)
    }

    async fn read(&mut self) -> anyhow::Result<Value> {
        let timeout = STEP_TIMEOUT * 10;
        let line = tokio::time::timeout(timeout, self.stdout.next_line())
            .await
            .with_context(|| format!("{} did not answer in time", self.name))??
            .with_context(|| format!("{} exited (its error is above)", self.name))?;
        serde_json::from_str(&line).with_context(|| format!("{}: not JSON: {line}", self.name))
    }
}
