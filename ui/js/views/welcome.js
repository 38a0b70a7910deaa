// First run: sign in to a Coder deployment, or try the built-in demo.

import { get, post } from "../api.js";
import { h, replace } from "../dom.js";
import { on, state } from "../store.js";

export function render(root, { navigate, showError, clearError }) {
  const status = state.status;
  // Sign-in results can arrive over SSE before POST /api/signin answers.
  const seen = new Map();
  let attempt = null;

  const progress = h("div", { class: "signin-progress", "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "primary", id: "signin-submit" }, "Sign in");
  const demoButton = h(
    "button",
    { type: "button", class: "secondary", id: "demo-signin", onclick: () => start({ demo: true }, false) },
    "Try the demo deployment",
  );

  const url = h("input", {
    id: "deployment-url",
    name: "deployment_url",
    type: "url",
    required: true,
    placeholder: "https://coder.example.com",
    autocomplete: "url",
    spellcheck: "false",
    "aria-describedby": "deployment-url-hint",
    value: status?.signed_in && !status.demo ? (status.deployment ?? "") : "",
  });
  const clientId = h("input", { id: "client-id", name: "client_id", type: "text", autocomplete: "off", spellcheck: "false" });
  const clientSecret = h("input", { id: "client-secret", name: "client_secret", type: "password", autocomplete: "off" });
  const sessionToken = h("input", { id: "session-token", name: "session_token", type: "password", autocomplete: "off", "aria-describedby": "session-token-hint" });

  const form = h(
    "form",
    { class: "card stack", id: "signin-form", onsubmit: onSubmit },
    h("h2", {}, "Your Coder deployment"),
    h("div", { class: "field" },
      h("label", { for: "deployment-url" }, "Deployment URL"),
      url,
      h("p", { class: "hint", id: "deployment-url-hint" }, "The address you open Coder at. Sign-in continues in your browser, on Coder's own page."),
    ),
    h("details", { class: "advanced" },
      h("summary", {}, "Use a client registered by your Coder admin"),
      h("p", { class: "hint" }, "Needed when the deployment does not allow apps to register themselves. Your admin creates an OAuth2 app with the callback ", h("code", {}, "http://127.0.0.1/callback"), " and gives you its ID and secret."),
      h("div", { class: "field" }, h("label", { for: "client-id" }, "Client ID"), clientId),
      h("div", { class: "field" }, h("label", { for: "client-secret" }, "Client secret"), clientSecret),
    ),
    h("details", { class: "advanced" },
      h("summary", {}, "Use a Coder session token instead"),
      h("div", { class: "field" },
        h("label", { for: "session-token" }, "Session token"),
        sessionToken,
        h("p", { class: "hint", id: "session-token-hint" }, "The last resort when the deployment offers no OAuth2 app: create one with ", h("code", {}, "coder tokens create"), ". It is stored like any other secret and never shown again."),
      ),
    ),
    h("div", { class: "actions" }, submit),
  );

  const expiredNote = !status?.signed_in && status?.session_expired
    ? h("p", { class: "alert alert-error" }, "Your Coder session ended and could not be renewed. Sign in again to reconnect your agents.")
    : null;
  const signedInNote = status?.signed_in
    ? h("p", { class: "alert alert-info" },
        "Signed in to ", h("strong", {}, status.deployment ?? "a deployment"),
        status.user ? [" as ", h("strong", {}, status.user.username)] : null,
        ". Signing in again replaces that session.")
    : null;

  replace(
    root,
    h("h1", {}, "Connect to Coder"),
    h("p", { class: "lead" }, "Coder Bridge signs in to your Coder deployment once and gives every AI agent on this computer one local MCP endpoint."),
    expiredNote,
    signedInNote,
    form,
    // Only offered when this build of the daemon can start the simulator.
    status?.demo_available === false
      ? null
      : h("section", { class: "card stack", "aria-labelledby": "demo-title" },
        h("h2", { id: "demo-title" }, "Just looking?"),
        h("p", {}, "Try the built-in demo deployment: a simulated Coder that runs on this computer, with sample workspaces. No account needed."),
        h("div", { class: "actions" }, demoButton),
      ),
    progress,
  );

  function onSubmit(event) {
    event.preventDefault();
    const body = { deployment_url: url.value.trim() };
    if (clientId.value.trim()) body.client_id = clientId.value.trim();
    if (clientSecret.value) body.client_secret = clientSecret.value;
    if (sessionToken.value) body.session_token = sessionToken.value;
    start(body, true);
    // Do not keep secrets in the page longer than the request needs them.
    clientSecret.value = "";
    sessionToken.value = "";
  }

  async function start(body, openPage) {
    clearError();
    setBusy(true);
    replace(progress, h("p", { class: "alert alert-info" }, "Starting sign-in…"));
    let answer;
    try {
      answer = await post("/api/signin", body);
    } catch (error) {
      setBusy(false);
      progress.replaceChildren();
      showError(error, "Sign-in could not start");
      return;
    }
    attempt = answer.attempt_id;
    if (answer.state && answer.state !== "waiting") return settle({ attempt_id: attempt, state: answer.state });
    // The demo deployment approves by itself; a real one needs the user on
    // Coder's consent page.
    if (openPage && answer.authorize_url) window.open(answer.authorize_url, "_blank", "noopener");
    showWaiting(answer.authorize_url, openPage);
    const early = seen.get(attempt);
    if (early) return settle(early);
    try {
      settle({ attempt_id: attempt, ...(await get(`/api/signin/${encodeURIComponent(attempt)}`)) });
    } catch (error) {
      if (error.code !== "not_found") showError(error, "Cannot follow the sign-in");
    }
  }

  function showWaiting(authorizeUrl, opened) {
    replace(
      progress,
      h("div", { class: "alert alert-info", id: "signin-waiting" },
        h("p", {}, opened ? "Finish signing in on the Coder page that opened." : "Signing in…"),
        authorizeUrl
          ? h("p", {}, h("a", { href: authorizeUrl, target: "_blank", rel: "noopener", id: "authorize-link" }, opened ? "Open the Coder sign-in page again" : "Open the sign-in page"))
          : null,
      ),
    );
  }

  function settle(event) {
    if (event.attempt_id !== attempt || event.state === "waiting") return;
    setBusy(false);
    if (event.state === "done") {
      replace(progress, h("p", { class: "alert alert-ok" }, "Signed in."));
      // Re-signing in while signed in: status stays "signed in", so move on
      // here; otherwise the `status` event that follows moves the page.
      if (state.status?.signed_in) navigate("status");
    } else if (event.state === "failed") {
      progress.replaceChildren();
      showError({ code: event.code ?? "signin_failed", message: event.error ?? "Sign-in failed." }, "Sign-in failed");
    }
  }

  function setBusy(busy) {
    submit.disabled = busy;
    demoButton.disabled = busy;
  }

  return on("signin", (event) => {
    seen.set(event.attempt_id, event);
    settle(event);
  });
}
