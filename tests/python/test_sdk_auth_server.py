"""`coder-bridge login` and `logout` against the official MCP Python SDK's
authorization server (`mcp.server.auth`, see sdk_auth_server.py): a
pre-registered client for each token endpoint authentication method
(`client_secret_basic`, `client_secret_post`, `none`), and dynamic
registration. The browser is a script that follows the sign-in link with
curl. (Refresh against the same server is covered from Rust, in
crates/bridge/tests/it/auth/sdk_server.rs, where a 401 can be staged.)
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from conftest import STARTUP_TIMEOUT, binary, isolated_env, spawn

SERVER = Path(__file__).with_name("sdk_auth_server.py")
KEYS = {"AS_URL", "RS_URL", "CLIENT_BASIC_ID", "CLIENT_BASIC_SECRET", "CLIENT_POST_ID", "CLIENT_POST_SECRET", "CLIENT_NONE_ID"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary("coder-bridge")), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=STARTUP_TIMEOUT * 2,
    )


def stats(rs_url: str) -> dict:
    with urllib.request.urlopen(f"{rs_url}/test/stats", timeout=10) as response:
        return json.load(response)


@pytest.mark.parametrize("method", ["BASIC", "POST", "NONE", "DYNAMIC"])
def test_login_and_logout_against_the_sdk_authorization_server(method: str, home: Path, tmp_path: Path) -> None:
    port = free_port()
    server = spawn(
        f"sdk-auth-server-{method.lower()}",
        [sys.executable, str(SERVER), "--redirect-uri", f"http://127.0.0.1:{port}/callback"],
        isolated_env(tmp_path / "server-home"),
        tmp_path / "server-home",
    )
    try:
        values = server.read_values(KEYS)
        env = isolated_env(home)
        browser = home / "browser.sh"
        browser.write_text('#!/bin/sh\nexec curl -sfL -o /dev/null "$1"\n')
        browser.chmod(0o755)
        env["BROWSER"] = str(browser)

        args = ["login", values["RS_URL"], "--callback-port", str(port), "--timeout", "30"]
        if method != "DYNAMIC":
            args += ["--client-id", values[f"CLIENT_{method}_ID"]]
            if f"CLIENT_{method}_SECRET" in values:
                args += ["--client-secret", values[f"CLIENT_{method}_SECRET"]]
        login = cli(env, *args)
        assert login.returncode == 0, f"login:\n{login.stdout}\n{login.stderr}"
        assert "Signed in" in login.stdout
        assert "sdk-user" in login.stdout

        status = cli(env, "status", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["kind"] == "oauth"

        seen = stats(values["RS_URL"])
        client_id = values.get(f"CLIENT_{method}_ID") or seen["registrations"][0]["client_id"]
        assert [g["kind"] for g in seen["grants"] if g["client_id"] == client_id] == ["code"]

        logout = cli(env, "logout")
        assert logout.returncode == 0, logout.stderr
        assert "Revoked" in logout.stdout, logout.stdout
        revoked = [r for r in stats(values["RS_URL"])["revocations"] if r["client_id"] == client_id]
        assert any(r["revoked"] for r in revoked), revoked
        assert cli(env, "status", "--json").returncode == 1
    finally:
        server.stop()
