// Consent: calls waiting for the user's answer, soonest deadline first, each
// with a live countdown. The router brings the user here when one arrives.

import { post } from "../api.js";
import { countdown, formatTime, h, replace } from "../dom.js";
import { on, removeConsent, state } from "../store.js";

export function render(root, { showError, clearError }) {
  const list = h("div", { class: "stack", id: "consent-list" });
  const announcer = h("p", { class: "offscreen", "aria-live": "polite" });
  replace(
    root,
    h("h1", {}, "Consent"),
    h("p", { class: "muted" }, "An agent asked to run a tool that changes something in Coder. Nothing happens until you answer; a request that is not answered in time is denied."),
    list,
    announcer,
  );

  // Cards are kept by id so a redraw does not steal focus from a button.
  const cards = new Map();

  function draw() {
    const pending = state.consent;
    for (const [id, card] of cards) {
      if (!pending.some((r) => r.id === id)) {
        card.el.remove();
        cards.delete(id);
      }
    }
    if (pending.length === 0) {
      replace(list, h("p", { class: "empty card", id: "consent-empty" }, "No pending requests. When an agent asks to change something, it shows up here."));
      return;
    }
    list.querySelector("#consent-empty")?.remove();
    for (const request of pending) {
      let card = cards.get(request.id);
      if (!card) {
        card = makeCard(request);
        cards.set(request.id, card);
      }
      list.append(card.el); // re-append keeps the deadline order
    }
    tick();
  }

  function makeCard(request) {
    const id = request.id;
    const headingId = `consent-${id}-title`;
    const timer = h("span", { class: "countdown", "data-countdown": id });
    const bar = h("progress", { max: 1000, value: 1000, "aria-hidden": "true" });
    const buttons = [
      h("button", { type: "button", class: "primary", "data-answer": "allow_once", onclick: () => answer(request, "allow_once") }, "Allow once"),
      h("button", { type: "button", class: "secondary", "data-answer": "allow_always", onclick: () => answer(request, "allow_always") }, `Always allow for ${request.agent_name || request.agent}`),
      h("button", { type: "button", class: "danger", "data-answer": "deny", onclick: () => answer(request, "deny") }, "Deny"),
    ];
    const warnings = [];
    // The daemon's own sentences name the workspace; our headline says what kind of risk it is.
    const extra = [...(request.warnings ?? [])];
    const take = (pattern) => {
      const i = extra.findIndex((w) => pattern.test(w));
      return i < 0 ? null : extra.splice(i, 1)[0];
    };
    if (request.irreversible) {
      take(/undone/i);
      warnings.push(h("p", { class: "warning warning-bad", role: "note" },
        h("strong", {}, "Cannot be undone. "), "This tool deletes or replaces something for good."));
    }
    if (request.starts_workspace) {
      const sentence = take(/start/i) ?? "If the workspace is stopped, this starts it.";
      warnings.push(h("p", { class: "warning", role: "note" },
        h("strong", {}, "May start a workspace. "), `${sentence} Starting can take minutes and uses compute.`));
    }
    for (const text of extra) warnings.push(h("p", { class: "warning", role: "note" }, text));
    const el = h("article", { class: ["card", "consent-card", request.irreversible && "consent-irreversible"], "aria-labelledby": headingId, "data-consent-id": id },
      h("header", { class: "consent-head" },
        // The agent the client token belongs to, never what the client calls itself.
        h("h2", { id: headingId }, h("span", { class: "agent-name" }, request.agent_name || request.agent), " wants to run ", h("code", {}, request.tool)),
        timer,
      ),
      bar,
      warnings,
      h("p", { class: "muted small" }, `Asked ${formatTime(request.created_at)} by agent `, h("code", {}, request.agent),
        request.client_name ? [" — the client says it is ", h("q", { class: "client-claim" }, request.client_name)] : null),
      highlightList(request),
      argumentsView(request),
      h("div", { class: "actions" }, buttons),
    );
    return { el, request, timer, bar, buttons };
  }

  async function answer(request, choice) {
    clearError();
    const card = cards.get(request.id);
    for (const b of card?.buttons ?? []) b.disabled = true;
    try {
      // The digest names the arguments on screen: the daemon refuses the
      // answer if the waiting call's arguments are not these.
      await post(`/api/consent/${encodeURIComponent(request.id)}`, { answer: choice, digest: request.digest });
      announcer.textContent = `${choice === "deny" ? "Denied" : "Allowed"} ${request.tool}.`;
      removeConsent(request.id);
    } catch (error) {
      if (error.code === "consent_digest_mismatch") {
        for (const b of card?.buttons ?? []) b.disabled = false;
        showError(error, "The arguments changed; nothing was allowed");
      } else if (error.code === "not_found") {
        announcer.textContent = `The ${request.tool} request had already ended.`;
        removeConsent(request.id);
      } else {
        for (const b of card?.buttons ?? []) b.disabled = false;
        showError(error, "Your answer was not recorded");
      }
    }
  }

  // The countdown is local arithmetic on the deadline the daemon sent.
  function tick() {
    const now = Date.now();
    for (const card of cards.values()) {
      const { deadline, created_at: created } = card.request;
      const left = (deadline - now) / 1000;
      const total = Math.max(1, deadline - created);
      card.bar.value = Math.max(0, Math.round(((deadline - now) / total) * 1000));
      if (left <= 0) {
        card.timer.textContent = "Timed out";
        card.timer.dataset.state = "expired";
        for (const b of card.buttons) b.disabled = true;
      } else {
        card.timer.textContent = `${countdown(left)} left`;
        card.timer.dataset.state = left < 15 ? "urgent" : "ok";
      }
    }
  }

  const timer = setInterval(tick, 1000);
  const off = on("consent", draw);
  draw();
  return () => {
    clearInterval(timer);
    off();
  };
}

// What commonly hides intent, listed above the arguments: the list is a
// pointer, the arguments below are always whole.
function highlightList(request) {
  const found = request.highlights ?? [];
  if (found.length === 0) return null;
  return h("div", { class: "warning consent-highlights", role: "note" },
    h("strong", {}, "Look closely: "),
    h("ul", {}, found.map((f) => h("li", { "data-highlight": f.kind },
      h("code", {}, f.path), " ", f.note, ": ", h("code", { class: "excerpt" }, f.excerpt)))),
  );
}

// Every argument in full, verbatim: long values wrap and scroll, nothing is
// cut or masked. Marked parts get a class per mark; characters that would
// not show are drawn as their \u{…} spelling.
function argumentsView(request) {
  const fields = request.fields ?? [];
  const digest = request.digest ? h("span", { class: "digest", title: request.digest }, `sha256:${request.digest.slice(0, 12)}`) : null;
  const summary = h("summary", {}, "Arguments ", h("span", { class: "muted small" }, `(${request.arguments_bytes ?? 0} bytes, in full) `), digest);
  if (fields.length === 0) return h("details", { open: true, class: "arguments" }, summary, h("pre", { class: "snippet" }, request.arguments ?? "{}"));
  return h("details", { open: true, class: "arguments" }, summary,
    h("dl", { class: "argument-fields" }, fields.map((f) => [
      h("dt", {}, h("code", {}, f.path)),
      h("dd", {}, h("pre", { class: "snippet argument-value", "data-path": f.path }, (f.segments ?? [{ text: f.value }]).map(segment))),
    ])),
  );
}

function segment(s) {
  const marks = s.marks ?? [];
  if (marks.length === 0 && !s.shown) return s.text;
  return h("mark", {
    class: ["hl", ...marks.map((m) => `hl-${m.replaceAll("_", "-")}`)],
    "data-marks": marks.join(" "),
    title: marks.map((m) => MARK_NAMES[m] ?? m).join("; "),
  }, s.shown ?? s.text);
}

const MARK_NAMES = {
  command_substitution: "runs another command and pastes its output here",
  ifs_trick: "spells a space so it does not look like one",
  pipe_to_shell: "pipes text into a program that runs it",
  base64_blob: "encoded text that cannot be read as it is",
  other_host: "contacts a host other than your Coder deployment",
  long_line: "a very long line",
  invisible: "a character that does not show on screen",
};
