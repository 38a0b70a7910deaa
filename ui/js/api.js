// The one door to the daemon: its control API (docs/control-api.md).
//
// Served by the daemon, the page talks to its own origin. It is opened
// through a one-time link (`/auth?ticket=…`) that sends the ticket on in the
// URL fragment; the page spends it once for a session, keeps the session in
// `sessionStorage` and sends it as `Authorization: Bearer` on every call.
// Not a cookie: cookies for 127.0.0.1 are sent to every port of the host, so
// any other local server the browser visits would receive one, while
// `sessionStorage` belongs to this origin (scheme, host and port) alone.

const DEFAULT_DAEMON = "http://127.0.0.1:7331";

function resolveBase() {
  const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(location.hostname);
  return location.protocol === "http:" && loopback ? "" : DEFAULT_DAEMON;
}

export const BASE = resolveBase();

/** Where the daemon is, for messages: "http://127.0.0.1:7331". */
export function daemonOrigin() {
  return BASE || location.origin;
}

/**
 * An error from the API's `{error: {code, message}}` body, or one of our own
 * codes: `unreachable` (no answer at all) and `bad_response`.
 */
export class ApiError extends Error {
  constructor(code, message, status = 0) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
  }
}

const SESSION_KEY = "coder-bridge-session";

/** The dashboard session, if this tab has one. */
export function session() {
  try {
    return sessionStorage.getItem(SESSION_KEY);
  } catch {
    return null;
  }
}

/** `{Authorization: "Bearer …"}` when this tab has a session, else `{}`. */
export function authHeaders() {
  const value = session();
  return value ? { Authorization: `Bearer ${value}` } : {};
}

// Spends a ticket handed over in the fragment (`#ticket=…`), once, before
// any other call: the fragment is cleared first so the spent ticket is not
// left in the address bar or the history.
async function takeTicket() {
  const match = /^#ticket=([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (!match) return;
  history.replaceState(null, "", `${location.pathname}${location.search}#/`);
  try {
    const response = await fetch(`${BASE}/auth/session`, {
      method: "POST",
      credentials: "omit",
      cache: "no-store",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ ticket: match[1] }),
    });
    if (!response.ok) return; // spent or expired: the page says how to get in
    const { session: value } = await response.json();
    if (value) sessionStorage.setItem(SESSION_KEY, value);
  } catch {
    // Unreachable: the first API call reports it.
  }
}

/** Resolves once a ticket in the address (if any) has been exchanged. */
export const ready = takeTicket();

/** Call the control API; resolves to the parsed JSON body or throws ApiError. */
export async function api(method, path, body) {
  await ready;
  const init = {
    method,
    credentials: "omit",
    cache: "no-store",
    headers: { Accept: "application/json", ...authHeaders() },
  };
  // State-changing requests must be JSON: the daemon refuses others (415),
  // which is what keeps cross-site forms out.
  if (method !== "GET") {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body ?? {});
  }
  let response;
  try {
    response = await fetch(`${BASE}${path}`, init);
  } catch {
    throw new ApiError(
      "unreachable",
      `Cannot reach the bridge at ${daemonOrigin()}. Is \`coder-bridge serve\` running?`,
    );
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      throw new ApiError(
        "bad_response",
        `The bridge answered ${response.status} with something that is not JSON.`,
        response.status,
      );
    }
  }
  if (!response.ok) {
    const error = data?.error;
    throw new ApiError(
      error?.code ?? `http_${response.status}`,
      error?.message ?? `The bridge answered ${response.status} ${response.statusText}.`,
      response.status,
    );
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);
export const put = (path, body) => api("PUT", path, body);

/** `?a=1&b=2` from an object, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
