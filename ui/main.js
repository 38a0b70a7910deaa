// Entry point: boot, hash router, navigation badge and page-wide notices.

import { describeAnswerer } from "./js/answerer.js";
import { ApiError, daemonOrigin } from "./js/api.js";
import { h, replace } from "./js/dom.js";
import { connect, reconnectNow } from "./js/live.js";
import { loadSnapshot, on, state } from "./js/store.js";

// Views load on first use: the chart library only comes with Activity.
const ROUTES = {
  welcome: { title: "Sign in", load: () => import("./js/views/welcome.js") },
  status: { title: "Status", load: () => import("./js/views/status.js") },
  consent: { title: "Consent", load: () => import("./js/views/consent.js") },
  activity: { title: "Activity", load: () => import("./js/views/activity.js") },
  agents: { title: "Agents", load: () => import("./js/views/agents.js") },
  policy: { title: "Policy", load: () => import("./js/views/policy.js") },
};

const viewRoot = document.getElementById("view");
const banner = document.getElementById("banner");
const liveBadge = document.getElementById("live");
const consentBadge = document.getElementById("consent-count");
const accountLink = document.getElementById("nav-account");

let current = null; // { name, dispose }
let renderSeq = 0;
// Where the user was when a consent request pulled them to the Consent view.
let returnTo = null;

function routeName() {
  const name = location.hash.replace(/^#\/?/, "").split(/[/?]/)[0];
  return name in ROUTES ? name : null;
}

function defaultRoute() {
  return state.status?.signed_in ? "status" : "welcome";
}

export function navigate(name) {
  if (routeName() === name) render();
  else location.hash = `#/${name}`;
}

async function render() {
  const seq = ++renderSeq;
  let name = routeName();
  if (!name) {
    history.replaceState(null, "", `#/${defaultRoute()}`);
    name = defaultRoute();
  }
  // Signed out: Status has nothing to show; First run is where to go.
  if (name === "status" && state.status && !state.status.signed_in) {
    history.replaceState(null, "", "#/welcome");
    name = "welcome";
  }
  for (const link of document.querySelectorAll("nav a[data-route]")) {
    if (link.dataset.route === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  current?.dispose?.();
  current = null;
  if (state.fatal) {
    showFatal(state.fatal);
    return;
  }
  const route = ROUTES[name];
  document.title = titleFor(routeTitle(name));
  let module;
  try {
    module = await route.load();
  } catch {
    // The daemon serves the view modules too: it went away mid-navigation.
    if (seq === renderSeq) {
      showFatal(new ApiError("unreachable", `Cannot load the ${route.title} page from ${daemonOrigin()}.`));
    }
    return;
  }
  if (seq !== renderSeq) return; // a newer navigation won
  const container = h("div", { class: "view", "data-view": name });
  replace(viewRoot, container);
  const dispose = module.render(container, { navigate, showError, clearError });
  current = { name, dispose };
  // Move focus to the new view's heading so keyboard and screen reader users
  // land where the content changed.
  const heading = container.querySelector("h1");
  if (heading && document.activeElement?.closest("nav, #view")) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

// Signed in, the sign-in page is where the account is shown and switched.
function routeTitle(name) {
  return name === "welcome" && state.status?.signed_in ? "Account" : ROUTES[name].title;
}

function titleFor(viewTitle) {
  const pending = state.consent.length;
  return `${pending ? `(${pending}) ` : ""}${viewTitle} · Coder Bridge`;
}

/** Show an API error in the page-wide alert region. */
export function showError(error, context) {
  const code = error?.code ?? "internal";
  const message = error?.message ?? String(error);
  replace(
    banner,
    h(
      "div",
      { class: "alert alert-error" },
      h("p", {}, h("strong", {}, context ? `${context}: ` : "Error: "), message),
      h("p", { class: "muted small" }, "Code: ", h("code", {}, code)),
      h("button", { type: "button", class: "ghost", onclick: clearError }, "Dismiss"),
    ),
  );
}

export function clearError() {
  banner.replaceChildren();
}

function showFatal(error) {
  document.title = "Coder Bridge";
  let body;
  // forbidden_origin: the page was not loaded from the daemon itself (e.g. a
  // webview showing its bundled copy); the same one-time link fixes it.
  if (["unauthorized", "session_expired", "forbidden_origin"].includes(error.code)) {
    body = [
      h("h1", {}, "This page is not connected to your bridge"),
      h(
        "p",
        {},
        "The bridge only answers pages opened through a one-time link. Open a fresh one with ",
        h("code", {}, "coder-bridge open"),
        " or from the tray menu.",
      ),
    ];
  } else if (error.code === "unreachable") {
    body = [
      h("h1", {}, "Cannot reach the bridge"),
      h("p", {}, `Nothing answers at ${daemonOrigin()}. Start it with `, h("code", {}, "coder-bridge serve"), " and retry."),
    ];
  } else {
    body = [
      h("h1", {}, "The bridge answered with an error"),
      h("p", {}, error.message),
      h("p", { class: "muted small" }, "Code: ", h("code", {}, error.code)),
    ];
  }
  replace(
    viewRoot,
    h(
      "div",
      { class: "view fatal", "data-view": "fatal" },
      ...body,
      h("button", { type: "button", class: "primary", onclick: boot }, "Retry"),
    ),
  );
}

function updateBadge() {
  const pending = state.consent.length;
  consentBadge.textContent = String(pending);
  consentBadge.hidden = pending === 0;
  consentBadge.setAttribute("aria-label", `${pending} pending`);
  if (current) document.title = titleFor(routeTitle(current.name));
}

// The last nav link says where the user stands: signed out it offers sign-in;
// signed in it names the deployment, and leads to the same page to switch.
function updateAccount(status) {
  if (status?.signed_in) {
    const where = status.demo ? "the demo" : hostOf(status.deployment);
    accountLink.textContent = `Signed in to ${where}`;
    accountLink.title = status.user ? `Signed in as ${status.user.username}` : "";
  } else {
    accountLink.textContent = "Sign in";
    accountLink.removeAttribute("title");
  }
  if (current) document.title = titleFor(routeTitle(current.name));
}

function hostOf(url) {
  try {
    return new URL(url).host;
  } catch {
    return url ?? "Coder";
  }
}

const CONNECTION_TEXT = {
  connecting: "Connecting…",
  live: "Live",
  offline: "Reconnecting…",
};

function updateConnection() {
  liveBadge.textContent = CONNECTION_TEXT[state.connection] ?? state.connection;
  liveBadge.dataset.state = state.connection;
}

on("consent", () => {
  updateBadge();
  // The queue emptied after we jumped here: go back to what the user was doing.
  if (state.consent.length === 0 && returnTo && routeName() === "consent") {
    const back = returnTo;
    returnTo = null;
    navigate(back);
  }
});

on("consent-added", () => {
  const name = routeName();
  if (name !== "consent" && !state.fatal) {
    returnTo = name;
    navigate("consent");
  }
});

// Sign-in and sign-out move the page; the `signin` event may come before the
// `status` that says we are signed in, so the status change is what counts.
let wasSignedIn = null;
on("status", (status) => {
  updateAccount(status);
  const name = routeName();
  if (!status.signed_in && name === "status") navigate("welcome");
  if (status.signed_in && wasSignedIn === false && name === "welcome") navigate("status");
  wasSignedIn = status.signed_in;
});

// A consent answered from the command line (or anything else holding the
// control token) is shown, so an agent approving itself is never silent.
on("answered-outside", (data) => {
  const tool = data.request?.tool ?? "A call";
  const verdict = data.answer === "denied" ? "denied" : data.answer === "timed_out" ? "timed out" : "allowed";
  replace(
    banner,
    h(
      "div",
      { class: "alert alert-error", "data-notice": "answered-outside" },
      h("p", {}, h("strong", {}, `${tool} was ${verdict} outside the dashboard: `), describeAnswerer(data.by), "."),
      h("p", { class: "muted small" }, "If that was not you, an agent may be answering its own requests: deny its next calls and check which programs can read the control token."),
      h("button", { type: "button", class: "ghost", onclick: clearError }, "Dismiss"),
    ),
  );
});

on("connection", updateConnection);
on("fatal", () => render());

window.addEventListener("hashchange", () => {
  // The user moved on by themselves: do not pull them back later.
  if (routeName() !== "consent") returnTo = null;
  render();
});

async function boot() {
  clearError();
  try {
    await loadSnapshot();
  } catch (error) {
    state.fatal = error;
    // The stream may still come up later (daemon starting): keep trying it.
    if (error.code === "unreachable") reconnectNow();
    await render();
    return;
  }
  connect();
  await render();
}

// The stream came back after the daemon was away: leave the error screen.
on("status", () => {
  if (current === null && !state.fatal) render();
});

updateConnection();
boot();
