"""The tray app as a process, without WebDriver: a second launch hands over to
the first (single instance), and a core that cannot start (its port taken)
leaves the app running with the reason in its log instead of crashing.

Each case runs a small shell script under Xvfb and a private D-Bus session,
so both launches share one session bus, as on a desktop.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from test_tray_e2e import bin_dir, isolated_env, tool

SECOND_LAUNCH = """\
set -u
"$TRAY" >"$LOG1" 2>&1 &
first=$!
# Wait (up to 30 s) until the first one is up and has taken its bus name.
for _ in $(seq 60); do grep -q "dashboard ready" "$LOG1" && break; sleep 0.5; done
timeout 20 "$TRAY" >"$LOG2" 2>&1
echo "second: exit $?"
sleep 1
if kill -0 "$first" 2>/dev/null; then echo "first: running"; else echo "first: gone"; fi
kill -TERM "$first" 2>/dev/null
wait "$first"
"""

PORT_TAKEN = """\
set -u
"$TRAY" >"$LOG1" 2>&1 &
pid=$!
for _ in $(seq 60); do grep -q "did not start" "$LOG1" && break; sleep 0.5; done
sleep 1
if kill -0 "$pid" 2>/dev/null; then echo "tray: running"; else echo "tray: gone"; fi
kill -TERM "$pid" 2>/dev/null
wait "$pid"
"""


def run_script(tmp_path: Path, script: str, env: dict[str, str]) -> tuple[str, str, str]:
    for name in ("xvfb-run", "dbus-run-session"):
        tool(name)
    log1, log2 = tmp_path / "first.log", tmp_path / "second.log"
    env.update(TRAY=str(bin_dir() / "coder-bridge-tray"), LOG1=str(log1), LOG2=str(log2))
    run = subprocess.run(
        ["xvfb-run", "-a", "dbus-run-session", "--", "bash", "-c", script],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    read = lambda p: p.read_text(errors="replace") if p.exists() else ""  # noqa: E731
    return run.stdout, read(log1), read(log2)


@pytest.mark.timeout(150)
def test_a_second_launch_shows_the_first_and_exits(tmp_path: Path) -> None:
    env = isolated_env(tmp_path / "home")
    env["CODER_BRIDGE_PORT"] = "0"
    out, first, second = run_script(tmp_path, SECOND_LAUNCH, env)
    report = f"{out}\n--- first ---\n{first}\n--- second ---\n{second}"
    assert "second: exit 0" in out, report
    assert "first: running" in out, report
    assert "another launch asked for the dashboard" in first, report
    # The second never started a core of its own.
    assert "control API and UI ready" not in second, report
    assert "panicked" not in first + second, report


@pytest.mark.timeout(150)
def test_a_core_that_cannot_start_leaves_the_app_running(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = isolated_env(tmp_path / "home")
        env["CODER_BRIDGE_PORT"] = str(taken.getsockname()[1])
        out, log, _ = run_script(tmp_path, PORT_TAKEN, env)
    report = f"{out}\n--- tray ---\n{log}"
    assert "the bridge core did not start" in log, report
    assert "tray: running" in out, report
    assert "icon=Error" in log or "tray icon created" in log or "no system tray available" in log, report
    assert "panicked" not in log, report
