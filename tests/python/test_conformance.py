"""The MCP conformance suite (npm `@modelcontextprotocol/conformance`, server
mode) against the daemon and against `coder-sim` directly.

The daemon is a relay: it cannot pass a scenario its upstream fails (the
simulated Coder has no resources, prompts or sampling), but it must not lose
any scenario the upstream passes. So the test runs the same suite against
both and asserts the daemon passes every scenario the simulator passes.

The suite sends no credentials, and both endpoints require them, so each
target sits behind a small forwarding proxy that adds them: the session
token for the simulator, a client token for the daemon. The proxy forwards
Host and Origin as the suite sent them (with a loopback authority moved to
the upstream's port), so the daemon's DNS-rebinding check is what answers
the suite's spoofed-Host probe.

The daemon's table can show passes the simulator lacks that are not relay
features: the suite's tool scenarios call tools Coder does not have
(`test_simple_text`…), the daemon asks for consent before an unknown tool
and, unanswered, denies it with a tool error, which the suite's loose
checks accept. Only the "no worse" direction is asserted.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import REPO, CoderSim, Daemon

CONFORMANCE = (
    REPO / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
)
# One full run of the active suite; each scenario is a handful of requests.
SUITE_TIMEOUT = 240
# The suite names each result folder `server-<scenario>-2026-11-25T19-05-01-517Z`.
RESULT_DIR = re.compile(r"-\d{4}-\d{2}-\d{2}T[\d-]+Z$")
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "[::1]"}
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


def run_suite(node: str, url: str, out: Path, env: dict[str, str]) -> dict[str, bool]:
    """Run the suite's server scenarios against `url`; scenario -> passed.
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
    scores: dict[str, bool] = {}
    for checks_file in sorted(out.rglob("checks.json")):
        scenario = scenario_name(checks_file.parent.name)
        checks = json.loads(checks_file.read_text())
        scores[scenario] = bool(checks) and all(
            check.get("status") != "FAILURE" for check in checks
        )
    assert scores, f"the suite produced no results:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return scores


def scenario_name(result_dir: str) -> str:
    """`server-<scenario>-<ISO timestamp>` -> `<scenario>`."""
    return RESULT_DIR.sub("", result_dir.removeprefix("server-"))


def table(title: str, scores: dict[str, bool]) -> str:
    passed = sum(scores.values())
    rows = [f"{title}: {passed}/{len(scores)} scenarios pass"]
    rows += [f"  {'PASS' if ok else 'FAIL'}  {name}" for name, ok in sorted(scores.items())]
    return "\n".join(rows)


@pytest.mark.timeout(2 * SUITE_TIMEOUT + 60)
def test_conformance_daemon_scores_no_worse_than_coder_sim(
    demo: Daemon,
    start_coder_sim: Callable[..., CoderSim],
    node: str,
    tmp_path: Path,
) -> None:
    # The demo's upstream is a default (stateless-era) simulator; compare
    # with a simulator started the same way.
    sim = start_coder_sim()
    env = demo.env

    with proxy(sim.mcp_url, {"Coder-Session-Token": sim.session_token}) as url:
        sim_scores = run_suite(node, url, tmp_path / "results-sim", env)
    with proxy(demo.mcp_url, {"Authorization": f"Bearer {demo.client_token('cursor')}"}) as url:
        daemon_scores = run_suite(node, url, tmp_path / "results-daemon", env)

    print(table("coder-sim", sim_scores))
    print(table("daemon", daemon_scores))
    # The suite itself must have worked: the basic handshake passes upstream.
    assert sim_scores.get("server-initialize"), table("coder-sim", sim_scores)
    lost = sorted(name for name, ok in sim_scores.items() if ok and not daemon_scores.get(name))
    assert not lost, (
        f"the daemon fails scenarios coder-sim passes: {lost}\n"
        f"{table('coder-sim', sim_scores)}\n{table('daemon', daemon_scores)}\n"
        f"results: {tmp_path}"
    )
