// Shared state of the page and a small publish/subscribe hub.
//
// The daemon pushes every change over SSE (see live.js); views subscribe to
// topics here instead of polling.

import { get } from "./api.js";

const listeners = new Map();

/** Subscribe to a topic; returns the function that unsubscribes. */
export function on(topic, fn) {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(fn);
  return () => listeners.get(topic)?.delete(fn);
}

export function emit(topic, data) {
  for (const fn of [...(listeners.get(topic) ?? [])]) {
    try {
      fn(data);
    } catch (error) {
      console.error(`listener for ${topic} failed`, error);
    }
  }
}

export const state = {
  /** The `/api/status` body, or null before the first answer. */
  status: null,
  /** Pending consent requests, soonest deadline first. */
  consent: [],
  /** "connecting" | "live" | "offline" | "unauthorized" */
  connection: "connecting",
  /** The last ApiError that kept us from loading, or null. */
  fatal: null,
  /**
   * Calls seen on the live stream since the page loaded, newest last. The
   * database is written off the hot path, so a row fetched right after a
   * call may not be there yet: views merge these in.
   */
  recentCalls: [],
};

const RECENT_CALLS = 200;

export function addCall(call) {
  state.recentCalls.push(call);
  if (state.recentCalls.length > RECENT_CALLS) state.recentCalls.shift();
  emit("call", call);
}

export function setStatus(status) {
  state.status = status;
  emit("status", status);
}

function sortConsent() {
  state.consent.sort((a, b) => a.deadline - b.deadline);
}

export function setConsent(list) {
  state.consent = [...list];
  sortConsent();
  emit("consent", state.consent);
}

export function addConsent(request) {
  state.consent = state.consent.filter((r) => r.id !== request.id);
  state.consent.push(request);
  sortConsent();
  emit("consent", state.consent);
  emit("consent-added", request);
}

export function removeConsent(id) {
  const before = state.consent.length;
  state.consent = state.consent.filter((r) => r.id !== id);
  if (state.consent.length !== before) emit("consent", state.consent);
}

export function setConnection(connection) {
  if (state.connection === connection) return;
  state.connection = connection;
  emit("connection", connection);
}

/** Fetch what the live stream only sends as changes: status and pending consent. */
export async function loadSnapshot() {
  const [status, consent] = await Promise.all([get("/api/status"), get("/api/consent")]);
  state.fatal = null;
  setStatus(status);
  setConsent(consent);
}
