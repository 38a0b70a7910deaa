// The one door to the daemon: its control API (docs/control-api.md).
//
// Served by the daemon, the page talks to its own origin and is
// authenticated by the `cb_session` cookie set when a one-time ticket was
// exchanged. Inside the tray app the page comes from the app bundle, so it
// talks to the daemon on its default port.

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

/** Call the control API; resolves to the parsed JSON body or throws ApiError. */
export async function api(method, path, body) {
  const init = {
    method,
    credentials: BASE ? "include" : "same-origin",
    cache: "no-store",
    headers: { Accept: "application/json" },
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
