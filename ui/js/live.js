// The live stream: `GET /api/events` (Server-Sent Events).
//
// EventSource retries by itself after a dropped connection, but gives up for
// good when the daemon answers with an error status (a restarted daemon, an
// expired session). So we own the retry: close, wait with backoff, reopen,
// and refetch the snapshot, because events sent while we were away are lost.

import { BASE, get } from "./api.js";
import {
  addCall,
  addConsent,
  emit,
  loadSnapshot,
  removeConsent,
  setConnection,
  setStatus,
  state,
} from "./store.js";

const MIN_RETRY_MS = 1000;
const MAX_RETRY_MS = 30000;

let source = null;
let retryMs = MIN_RETRY_MS;
let retryTimer = null;

function parse(event) {
  try {
    return JSON.parse(event.data);
  } catch {
    console.warn(`ignoring a ${event.type} event that is not JSON`);
    return null;
  }
}

const handlers = {
  call: (data) => addCall(data),
  // {kind: "added"|"resolved", id, request?, answer?}
  consent: (data) => {
    const id = data?.id ?? data?.request?.id;
    if (data?.kind === "added" && data.request) addConsent(data.request);
    else if (id) removeConsent(id);
  },
  status: (data) => setStatus(data),
  signin: (data) => emit("signin", data),
  agents: () => emit("agents-changed", {}),
  policy: () => emit("policy-changed", {}),
  // We fell behind and missed events: catch up from the snapshot, and tell
  // views with lists (activity, agents, policy) to refetch theirs.
  resync: async () => {
    try {
      await loadSnapshot();
    } catch (error) {
      console.warn("resync failed", error);
    }
    emit("resync", {});
  },
};

/** Open the stream (again). Safe to call at any time. */
export function connect() {
  clearTimeout(retryTimer);
  retryTimer = null;
  source?.close();
  setConnection("connecting");
  const es = new EventSource(`${BASE}/api/events`, { withCredentials: Boolean(BASE) });
  source = es;
  let opened = false;
  es.addEventListener("open", async () => {
    opened = true;
    retryMs = MIN_RETRY_MS;
    setConnection("live");
    // Catch up on whatever changed while the stream was down.
    try {
      await loadSnapshot();
    } catch (error) {
      state.fatal = error;
      emit("fatal", error);
    }
  });
  for (const [name, handle] of Object.entries(handlers)) {
    es.addEventListener(name, (event) => {
      const data = ["agents", "policy", "resync"].includes(name) ? {} : parse(event);
      if (data !== null) handle(data);
    });
  }
  es.addEventListener("error", async () => {
    if (source !== es) return;
    es.close();
    setConnection("offline");
    emit("stream-lost", { wasOpen: opened });
    // EventSource does not say why it failed. A daemon that restarted
    // forgot this page's session: retrying would never succeed, so ask.
    if (await sessionGone()) return;
    schedule();
  });
}

async function sessionGone() {
  try {
    await get("/api/status");
    return false;
  } catch (error) {
    if (error.code !== "unauthorized" && error.code !== "session_expired") return false;
    state.fatal = error;
    emit("fatal", error);
    return true;
  }
}

function schedule() {
  if (retryTimer) return;
  const wait = retryMs;
  retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
  emit("retry", { inMs: wait });
  retryTimer = setTimeout(connect, wait);
}

/** Reconnect now instead of waiting for the backoff (the "Retry" button). */
export function reconnectNow() {
  retryMs = MIN_RETRY_MS;
  connect();
}
