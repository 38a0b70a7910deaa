// Placeholder dashboard: shows whether the daemon answers its health check.
//
// Served by the daemon, the page asks its own origin. Inside the tray app the
// page comes from the app bundle instead, so it asks the daemon on its default
// port.

const DEFAULT_DAEMON = "http://127.0.0.1:7331";
const REFRESH_MS = 5000;

function healthUrl() {
  const servedByDaemon = location.protocol === "http:" && location.hostname === "127.0.0.1";
  return servedByDaemon ? "/healthz" : `${DEFAULT_DAEMON}/healthz`;
}

function show(state, text) {
  const status = document.getElementById("status");
  status.className = `status status-${state}`;
  status.textContent = text;
}

async function check() {
  try {
    const response = await fetch(healthUrl(), { cache: "no-store" });
    if (response.ok) {
      show("ok", "The daemon is running.");
    } else {
      show("down", `The daemon answered ${response.status} ${response.statusText}.`);
    }
  } catch {
    show("down", "The daemon is not reachable. Start it with `coder-bridge serve`.");
  }
}

check();
setInterval(check, REFRESH_MS);
