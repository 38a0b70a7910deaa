"""The tray app starts and shows its window on a display with no tray host.

Runs the real binary under Xvfb and a private D-Bus session (as CI has no
desktop), keeps it up for a few seconds, and takes a screenshot of the whole
screen into the test artifacts, so a person can look at what it showed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import artifacts_dir, binary, isolated_env, require_all

# Long enough for WebKit to start and paint the page on a loaded machine.
SETTLE_SECONDS = 8

DRIVER = """\
set -u
"$TRAY" >"$LOG" 2>&1 &
pid=$!
sleep "$SETTLE"
import -window root "$SHOT"
if kill -0 "$pid" 2>/dev/null; then echo "tray: running"; else echo "tray: exited early"; fi
kill -TERM "$pid" 2>/dev/null
wait "$pid"
echo "tray: exit status $?"
"""


def tools_or_skip(*names: str) -> None:
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        message = f"missing {', '.join(missing)} (scripts/test installs them)"
        if require_all():
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.gui
@pytest.mark.timeout(120)
def test_tray_app_starts_headless_and_shows_its_window(tmp_path: Path) -> None:
    tray = binary("coder-bridge-tray")
    tools_or_skip("xvfb-run", "dbus-run-session", "import", "convert")
    env = isolated_env(tmp_path / "home")
    # The app hosts the daemon: a free port, not 7331 (another test may hold it).
    env["CODER_BRIDGE_PORT"] = "0"
    log = tmp_path / "tray.log"
    shot = artifacts_dir() / "tray-window.png"
    shot.unlink(missing_ok=True)
    env.update(TRAY=str(tray), LOG=str(log), SHOT=str(shot), SETTLE=str(SETTLE_SECONDS))

    run = subprocess.run(
        [
            "xvfb-run", "-a", "-s", "-screen 0 1280x800x24",
            "dbus-run-session", "--", "bash", "-c", DRIVER,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    output = run.stdout + run.stderr
    tray_log = log.read_text(errors="replace") if log.exists() else ""
    report = f"--- driver ---\n{output}\n--- tray log ---\n{tray_log}"

    assert "tray: running" in run.stdout, report
    assert "panicked" not in tray_log, report
    # Either the icon was created or the app said why not, and carried on.
    assert "tray icon created" in tray_log or "no system tray available" in tray_log, report

    # The screen is not blank: the window painted something with several colours.
    assert shot.is_file(), report
    colours = subprocess.run(
        ["convert", str(shot), "-format", "%k", "info:"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.strip()
    assert int(colours) > 16, f"screenshot has only {colours} colours\n{report}"
