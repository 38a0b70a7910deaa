// The live stream: `GET /api/events` (Server-Sent Events), read with
// `fetch` rather than EventSource because EventSource cannot send the
// `Authorization` header the session travels in (see api.js).
//
// We own the retry: on a dropped or refused stream, wait with backoff,
// reopen, and refetch the snapshot, because events sent while we were away
// are lost.

import { agentReachable } from "./answerer.js";
import { BASE, authHeaders, get, ready } from "./api.js";
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

let source = null; // the AbortController of the open stream
let retryMs = MIN_RETRY_MS;
let retryTimer = null;

function parse(name, data) {
  try {
    return JSON.parse(data);
  } catch {
    console.warn(`ignoring a ${name} event that is not JSON`);
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
    // Never silent: an answer from outside the dashboard is announced.
    if (data?.kind === "resolved" && agentReachable(data.by)) emit("answered-outside", data);
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
  source?.abort();
  const controller = new AbortController();
  source = controller;
  setConnection("connecting");
  stream(controller).then(
    (opened) => lost(controller, opened),
    () => lost(controller, false),
  );
}

// Reads the stream until it ends; resolves to whether it was ever open.
async function stream(controller) {
  await ready;
  const response = await fetch(`${BASE}/api/events`, {
    credentials: "omit",
    cache: "no-store",
    headers: { Accept: "text/event-stream", ...authHeaders() },
    signal: controller.signal,
  });
  if (!response.ok || !response.body) return false;
  retryMs = MIN_RETRY_MS;
  setConnection("live");
  // Catch up on whatever changed while the stream was down.
  loadSnapshot().catch((error) => {
    state.fatal = error;
    emit("fatal", error);
  });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return true;
    buffer += decoder.decode(value, { stream: true }).replaceAll("\r\n", "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      dispatch(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  }
}

// One SSE message: `event:` and `data:` lines (comments and ids ignored).
function dispatch(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  const handle = handlers[name];
  if (!handle) return;
  const payload = ["agents", "policy", "resync"].includes(name) ? {} : parse(name, data.join("\n"));
  if (payload !== null) handle(payload);
}

async function lost(controller, opened) {
  if (source !== controller || controller.signal.aborted) return;
  setConnection("offline");
  emit("stream-lost", { wasOpen: opened });
  // A daemon that restarted forgot this page's session: retrying would
  // never succeed, so ask.
  if (await sessionGone()) return;
  schedule();
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
