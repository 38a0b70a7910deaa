"""The MCP conformance suite (npm `@modelcontextprotocol/conformance`, server
mode) against the daemon and against `coder-sim` directly, in both Coder
eras the relay speaks: stateless JSON (newest) and session-based streamable
HTTP (older).

The daemon is a relay: it cannot pass a scenario its upstream fails (the
simulated Coder has no resources, prompts or sampling), but it must not lose
any scenario the upstream passes. So for each era one simulator is started,
a daemon is signed in to it (`login --token`, `serve`, `configure cursor`),
and the suite runs against the simulator and against the daemon: the daemon
must pass every scenario the simulator passes.

It must not pass more either, except the local endpoint's own protection
(`dns-rebinding-protection`): a scenario the daemon passes and Coder fails
means the relay answered something itself. That happened once: the suite's
tool scenarios call tools Coder does not have (`test_simple_text`…), the
daemon asked for consent before the unknown tool and, unanswered, denied it
with a tool error that the suite's loose checks accepted. The daemon now
refuses an unknown tool as Coder does (`-32602 unknown tool`), and the test
checks that every scenario Coder fails for an unknown tool fails the same
way through the daemon, not by consent.

The suite sends no credentials, and both endpoints require them, so each
target sits behind a small forwarding proxy that adds them: the session
token for the simulator, a client token for the daemon. The proxy forwards
Host and Origin as the suite sent them (with a loopback authority moved to
the upstream's port), so the daemon's DNS-rebinding check is what answers
the suite's spoofed-Host probe.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import (
    CONSENT_TIMEOUT_SECONDS,
    REPO,
    STARTUP_TIMEOUT,
    CoderSim,
    binary,
    isolated_env,
    spawn,
)

CONFORMANCE = (
    REPO / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
)
# One full run of the active suite; each scenario is a handful of requests.
SUITE_TIMEOUT = 240
# The suite names each result folder `server-<scenario>-2026-11-25T19-05-01-517Z`.
RESULT_DIR = re.compile(r"-\d{4}-\d{2}-\d{2}T[\d-]+Z$")
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "[::1]"}
# What the daemon's local endpoint does itself, whatever Coder does.
LOCAL_FEATURES = {"dns-rebinding-protection"}
# Connection-level headers are the proxy's own business on each hop.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
}


def retarget(authority: str, upstream: str) -> str:
    """A loopback `host[:port]` moved to the upstream's port; anything else
    (the suite's `evil.example.com`) unchanged, so the server sees it."""
    hostname = urlsplit(f"//{authority}").hostname or ""
    name = f"[{hostname}]" if ":" in hostname else hostname
    if name.lower() in LOOPBACK_NAMES:
        return f"{name}:{urlsplit(f'//{upstream}').port}"
    return authority


def make_handler(upstream: str, credentials: dict[str, str]) -> type[BaseHTTPRequestHandler]:
    """A handler forwarding every request to `http://upstream` with
    `credentials` added, streaming the response (SSE included) back."""
    http = httpx.Client(timeout=httpx.Timeout(30.0, read=None))

    class Forward(BaseHTTPRequestHandler):
        # HTTP/1.0 toward the suite: the response ends when the connection
        # closes, so streamed bodies need no re-framing.
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["Host"] = retarget(self.headers.get("Host", upstream), upstream)
            origin = self.headers.get("Origin")
            if origin is not None:
                parts = urlsplit(origin)
                headers["Origin"] = f"{parts.scheme}://{retarget(parts.netloc, upstream)}"
            headers.update(credentials)
            request = http.build_request(
                self.command, f"http://{upstream}{self.path}", headers=headers, content=body
            )
            try:
                response = http.send(request, stream=True)
            except httpx.HTTPError as error:
                self.send_error(502, f"upstream unreachable: {error}")
                return
            try:
                self.send_response(response.status_code)
                for key, value in response.headers.multi_items():
                    if key.lower() not in HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Connection", "close")
                self.end_headers()
                for chunk in response.iter_raw():
                    self.wfile.write(chunk)
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # The suite closed a stream it was done with.
            finally:
                response.close()

        do_GET = do_POST = do_DELETE = do_OPTIONS = forward

    return Forward


@contextmanager
def proxy(target_url: str, credentials: dict[str, str]) -> Iterator[str]:
    """Serve a credential-adding proxy for `target_url` on 127.0.0.1:0 and
    yield the URL the suite should use (same path, the proxy's port)."""
    target = urlsplit(target_url)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(target.netloc, credentials))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="conformance-proxy", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{target.path}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Score:
    """One scenario's result: passed, and the failed checks' messages."""

    passed: bool
    errors: list[str]


def run_suite(node: str, url: str, out: Path, env: dict[str, str]) -> dict[str, Score]:
    """Run the suite's server scenarios against `url`; scenario -> score.
    A scenario passes when none of its checks failed (warnings and skips
    are not failures). The CLI's exit code only says "something failed",
    so the result files are the source of truth."""
    if not CONFORMANCE.is_file():
        pytest.fail(f"{CONFORMANCE} is missing: run `npm ci`")
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [node, str(CONFORMANCE), "server", "--url", url, "--output-dir", str(out)],
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT,
        env=env,
        cwd=out,
    )
    (out / "suite.stdout.txt").write_text(done.stdout)
    (out / "suite.stderr.txt").write_text(done.stderr)
    scores: dict[str, Score] = {}
    for checks_file in sorted(out.rglob("checks.json")):
        scenario = scenario_name(checks_file.parent.name)
        checks = json.loads(checks_file.read_text())
        failed = [check for check in checks if check.get("status") == "FAILURE"]
        scores[scenario] = Score(
            passed=bool(checks) and not failed,
            errors=[str(check.get("errorMessage") or check.get("description") or "") for check in failed],
        )
    assert scores, f"the suite produced no results:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return scores


def scenario_name(result_dir: str) -> str:
    """`server-<scenario>-<ISO timestamp>` -> `<scenario>`."""
    return RESULT_DIR.sub("", result_dir.removeprefix("server-"))


def table(title: str, scores: dict[str, Score]) -> str:
    passed = sum(score.passed for score in scores.values())
    rows = [f"{title}: {passed}/{len(scores)} scenarios pass"]
    rows += [f"  {'PASS' if sc.passed else 'FAIL'}  {name}" for name, sc in sorted(scores.items())]
    return "\n".join(rows)


@dataclass
class SignedInDaemon:
    mcp_url: str
    client_token: str
    env: dict[str, str]


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(binary("coder-bridge")), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=STARTUP_TIMEOUT,
    )
    assert done.returncode == 0, f"coder-bridge {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


@contextmanager
def daemon_signed_in_to(sim: CoderSim, home: Path) -> Iterator[SignedInDaemon]:
    """`login --token` to `sim`, `serve --port 0`, `configure cursor` for a
    client token: the daemon as a user sets it up, relaying to `sim`."""
    env = isolated_env(home)
    env["CODER_BRIDGE_CONSENT_TIMEOUT"] = str(CONSENT_TIMEOUT_SECONDS)
    cli(env, "login", sim.url, "--token", stdin=sim.session_token + "\n")
    proc = spawn("coder-bridge-serve", [str(binary("coder-bridge")), "serve", "--port", "0"], env, home)
    try:
        url = proc.read_values({"CODER_BRIDGE_URL"})["CODER_BRIDGE_URL"]
        port = urlsplit(url).port
        cli(env, "configure", "cursor", "--port", str(port))
        tokens = Path(env["XDG_CONFIG_HOME"]) / "coder-bridge" / "client-tokens.json"
        token = json.loads(tokens.read_text())["clients"]["cursor"]["token"]
        yield SignedInDaemon(mcp_url=url, client_token=token, env=env)
    finally:
        proc.stop()


def unknown_tool(score: Score) -> bool:
    return any("unknown tool" in error.lower() for error in score.errors)


@pytest.mark.parametrize("era", ["stateless", "sessions"])
@pytest.mark.timeout(2 * SUITE_TIMEOUT + 60)
def test_conformance_daemon_scores_the_same_as_coder_sim(
    era: str,
    start_coder_sim: Callable[..., CoderSim],
    node: str,
    tmp_path: Path,
) -> None:
    sim = start_coder_sim("--era", era)
    home = tmp_path / "home"
    home.mkdir()
    with daemon_signed_in_to(sim, home) as daemon:
        with proxy(sim.mcp_url, {"Coder-Session-Token": sim.session_token}) as url:
            sim_scores = run_suite(node, url, tmp_path / "results-sim", daemon.env)
        with proxy(daemon.mcp_url, {"Authorization": f"Bearer {daemon.client_token}"}) as url:
            daemon_scores = run_suite(node, url, tmp_path / "results-daemon", daemon.env)

    tables = f"{table(f'coder-sim ({era})', sim_scores)}\n{table(f'daemon ({era})', daemon_scores)}"
    print(tables)
    # The suite itself must have worked: the basic handshake passes upstream.
    assert sim_scores.get("server-initialize", Score(False, [])).passed, tables
    lost = sorted(
        name
        for name, sc in sim_scores.items()
        if sc.passed and not daemon_scores.get(name, Score(False, [])).passed
    )
    assert not lost, f"the daemon fails scenarios coder-sim passes: {lost}\n{tables}\nresults: {tmp_path}"
    extra = sorted(
        name
        for name, sc in daemon_scores.items()
        if sc.passed and name not in LOCAL_FEATURES and not (name in sim_scores and sim_scores[name].passed)
    )
    assert not extra, (
        f"the daemon passes scenarios Coder fails, so it answered them itself: {extra}\n"
        f"{tables}\nresults: {tmp_path}"
    )
    # Coder refuses the suite's made-up tools; the daemon must refuse them
    # for the same reason, not deny them after an unanswered consent prompt.
    upstream_unknown = sorted(name for name, sc in sim_scores.items() if unknown_tool(sc))
    assert upstream_unknown, f"the suite calls no tool Coder lacks any more:\n{tables}"
    print(f"refused as unknown tools by both ({era}): {', '.join(upstream_unknown)}")
    wrong_reason = {
        name: daemon_scores[name].errors
        for name in upstream_unknown
        if name in daemon_scores and not unknown_tool(daemon_scores[name])
    }
    assert not wrong_reason, f"unknown tools not refused as unknown by the daemon: {wrong_reason}"
    for name in LOCAL_FEATURES:
        assert daemon_scores.get(name, Score(False, [])).passed, f"{name}: the daemon's own check\n{tables}"
