// The admin page of mwctl's companion server: plain JavaScript, no dependencies.
//
// Safety rules of this file:
// - Every string that comes from the server (names, errors, request bodies: all of it may be
//   written by whoever holds a key) is put into the page as text (textContent, text nodes,
//   input values), never as HTML. There is no innerHTML / insertAdjacentHTML / document.write.
// - The admin key lives in sessionStorage (this tab only) and is sent only in the X-API-KEY
//   header of same-origin fetches; never in a URL, never in a cookie.
// - That text goes through visible(): bidirectional overrides and other invisible or control
//   characters are shown as \uXXXX escapes, so a field cannot reorder or hide what is shown.
"use strict";

const KEY_STORAGE = "mwctl.adminKey";
const PAGE = 50;
const BODY_SHOWN = 200000;

const $ = (id) => document.getElementById(id);

// C0/C1 controls (but tab, newline, carriage return), soft hyphen, the Arabic letter mark,
// zero-width characters, LRM/RLM, line/paragraph separators, the bidirectional embeddings,
// overrides and isolates (a U+202E turns the rest of a line around), invisible operators,
// the BOM and the interlinear annotation marks.
const INVISIBLE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u00AD\u061C\u180E\u200B-\u200F\u2028-\u202E\u2060-\u206F\uFEFF\uFFF9-\uFFFB]/g;

/** The text with every INVISIBLE character written as a \uXXXX escape. */
function visible(text) {
  return String(text).replace(INVISIBLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** An element with attributes and children; strings become text nodes (never HTML). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = visible(value);
    else if (name === "title") node.title = visible(value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name.startsWith("data-")) node.setAttribute(name, String(value));
    else node[name] = value;
  }
  for (const child of children) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(visible(child)));
  }
  return node;
}

function show(node, visible) {
  node.hidden = !visible;
}

// ---------------------------------------------------------------- messages

function say(text, resolution, isError) {
  $("message-text").textContent = visible(text);
  $("message-resolution").textContent = visible(resolution || "");
  $("message").classList.toggle("error", Boolean(isError));
  show($("message"), true);
}

function clearMessage() {
  show($("message"), false);
}

function fail(error) {
  if (error instanceof ApiError) {
    say(error.message, error.resolution, true);
    if (error.status === 401) signOut(false);
  } else {
    say(String(error && error.message ? error.message : error), "check that the server is running, then try again", true);
  }
}

// ---------------------------------------------------------------- the API

class ApiError extends Error {
  constructor(status, message, resolution) {
    super(message);
    this.status = status;
    this.resolution = resolution;
  }
}

function adminKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

/** A same-origin call to /api with the key in X-API-KEY; the parsed JSON answer. */
async function api(method, path, body, key) {
  const headers = { "X-API-KEY": key || adminKey() || "" };
  const init = { method, headers, cache: "no-store", credentials: "omit", redirect: "error" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (_) {
    data = null;
  }
  if (!response.ok) {
    const message = data && typeof data.error === "string" ? data.error : `HTTP ${response.status}`;
    const resolution = data && typeof data.resolution === "string" ? data.resolution : "";
    throw new ApiError(response.status, message, resolution);
  }
  return data;
}

const query = (params) => {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") search.set(k, v);
  const s = search.toString();
  return s ? `?${s}` : "";
};

// ---------------------------------------------------------------- formatting

function when(iso) {
  if (!iso) return el("span", { class: "muted", text: "—" });
  const date = new Date(iso);
  return el("time", { dateTime: iso, title: iso, text: isNaN(date) ? iso : date.toLocaleString() });
}

function badge(text) {
  return el("span", { class: `badge ${text}`, text });
}

function keyState(key) {
  if (key.revoked_at) return "revoked";
  if (key.expires_at && new Date(key.expires_at) <= new Date()) return "expired";
  return "active";
}

/** Pretty JSON when the text is JSON, else the text itself. */
function pretty(text) {
  if (text === null || text === undefined) return "(not kept)";
  const shown = text.length > BODY_SHOWN ? text.slice(0, BODY_SHOWN) : text;
  let out = shown;
  if (text.length <= BODY_SHOWN) {
    try {
      out = JSON.stringify(JSON.parse(text), null, 2);
    } catch (_) {
      out = shown;
    }
  }
  if (text.length > BODY_SHOWN) out += `\n… (${text.length} characters in all; \`mwctl events show ID -o json\` has it all)`;
  return out;
}

// ---------------------------------------------------------------- sign in / out

async function signIn(event) {
  event.preventDefault();
  const input = $("admin-key");
  const key = input.value.trim();
  if (!key) return;
  try {
    await api("GET", "/api/keys", undefined, key);
  } catch (error) {
    fail(error);
    return;
  }
  sessionStorage.setItem(KEY_STORAGE, key);
  input.value = "";
  clearMessage();
  enter();
}

function signOut(cleanly) {
  sessionStorage.removeItem(KEY_STORAGE);
  keyNames.clear();
  for (const id of ["events", "keys", "repos", "nav"]) show($(id), false);
  for (const body of document.querySelectorAll("tbody")) body.replaceChildren();
  hideNewKey();
  show($("event-detail"), false);
  show($("sign-in"), true);
  if (cleanly) say("Signed out.", "the key was removed from this tab");
}

function enter() {
  show($("sign-in"), false);
  show($("nav"), true);
  openTab("events");
}

// ---------------------------------------------------------------- tabs

function openTab(name) {
  for (const tab of document.querySelectorAll("button.tab")) {
    if (tab.dataset.tab === name) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  for (const id of ["events", "keys", "repos"]) show($(id), id === name);
  if (name === "events") loadEvents();
  if (name === "keys") loadKeys();
  if (name === "repos") loadRepos();
}

// ---------------------------------------------------------------- events

const keyNames = new Map();
let eventBefore = ""; // the cursor of the page shown ("": the newest)
let shownEvent = null;

async function loadKeyNames() {
  try {
    for (const key of await api("GET", "/api/keys")) keyNames.set(key.id, key.name);
  } catch (_) {
    // Names are a nicety: ids are shown without them.
  }
}

async function loadEvents() {
  try {
    if (keyNames.size === 0) await loadKeyNames();
    const status = $("event-status").value;
    const page = await api("GET", `/api/events${query({ status, limit: PAGE, cursor: eventBefore })}`);
    const rows = page.events.map((e) =>
      el(
        "tr",
        { "data-id": e.id, class: shownEvent === e.id ? "selected" : "" },
        el("td", { class: "nowrap" }, el("code", { text: e.id })),
        el("td", {}, when(e.received_at)),
        el("td", {}, badge(e.status)),
        el("td", { title: e.key_id, text: keyNames.get(e.key_id) || e.key_id }),
        el("td", { text: `${e.runs_received} / ${e.runs_created} / ${e.runs_updated} / ${e.runs_unchanged}` }),
        el(
          "td",
          { class: "error" },
          e.error || "",
          e.resolution ? el("div", { class: "resolution muted", text: `Resolution: ${e.resolution}` }) : null,
        ),
        el("td", {}, el("button", { type: "button", class: "secondary view", text: "View", onclick: () => showEvent(e.id) })),
      ),
    );
    $("events-table").tBodies[0].replaceChildren(...rows);
    show($("events-empty"), rows.length === 0);
    // The server says how many match and where the next page starts: nothing is cut off unsaid.
    $("events-total").textContent = `${count(rows.length)} of ${count(page.total)} events`;
    $("events-older").disabled = !page.next;
    $("events-older").dataset.before = page.next || "";
    $("events-newest").disabled = eventBefore === "";
  } catch (error) {
    fail(error);
  }
}

function count(n) {
  return n.toLocaleString("en-US");
}

function pageOlder() {
  eventBefore = $("events-older").dataset.before || "";
  loadEvents();
}

function pageNewest() {
  eventBefore = "";
  loadEvents();
}

async function showEvent(id) {
  let detail;
  try {
    detail = await api("GET", `/api/events/${encodeURIComponent(id)}`);
  } catch (error) {
    fail(error);
    return;
  }
  shownEvent = id;
  for (const row of $("events-table").tBodies[0].rows) row.classList.toggle("selected", row.dataset.id === id);
  $("detail-id").textContent = visible(detail.id);
  const status = $("detail-status");
  status.textContent = visible(detail.status);
  status.className = `badge ${detail.status}`;

  const response = detail.response || {};
  const fields = [
    ["Received", when(detail.received_at)],
    ["Processed", when(detail.processed_at)],
    ["Key", `${keyNames.get(detail.key_id) || "?"} (${detail.key_id})`],
    ["Type", detail.request_type],
    ["webhook-id", detail.webhook_id || "—"],
    ["Attempts", String(detail.attempts)],
    ["Runs", `${detail.runs_received} received; ${detail.runs_created} created, ${detail.runs_updated} updated, ${detail.runs_unchanged} unchanged`],
  ];
  if (response.exception_type) fields.push(["Exception", response.exception_type]);
  if (detail.error) fields.push(["Error", detail.error]);
  if (typeof response.resolution === "string") fields.push(["Resolution", response.resolution]);
  $("detail-fields").replaceChildren(...fields.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", {}, value)]));

  const errors = Array.isArray(response.errors) ? response.errors : [];
  $("detail-errors").replaceChildren(
    ...errors.slice(0, 100).map((e) => el("li", { text: `run ${e.index}: ${e.field}: ${e.message}` })),
    ...(errors.length > 100 ? [el("li", { class: "muted", text: `… and ${errors.length - 100} more` })] : []),
  );
  show($("detail-problems"), errors.length > 0);

  const runs = detail.runs || [];
  $("detail-runs").tBodies[0].replaceChildren(
    ...runs.map((r) =>
      el("tr", {}, ...[r.run_id, r.action, r.repo, r.workflow, r.unique_id, r.status].map((v) => el("td", { text: String(v) }))),
    ),
  );
  show($("detail-runs-empty"), runs.length === 0);
  $("detail-response").textContent = visible(JSON.stringify(response, null, 2));
  $("detail-body").textContent = visible(pretty(detail.body));

  $("prune-start").disabled = detail.status === "PRUNED";
  show($("prune-confirm"), false);
  show($("event-detail"), true);
  // Below a long table the detail would open out of sight: bring it up and move focus there
  // (keyboard and screen-reader users land on it too).
  $("event-detail").scrollIntoView({ block: "start" });
  $("detail-heading").focus({ preventScroll: true });
}

function closeEvent() {
  shownEvent = null;
  show($("event-detail"), false);
  for (const row of $("events-table").tBodies[0].rows) row.classList.remove("selected");
}

/** What a prune report does (or did, `past`) with its runs, in words. */
function pruneSummary(report, past = false) {
  const count = (outcome) => report.runs.filter((r) => r.outcome === outcome).length;
  const runs = (n) => `${n} run${n === 1 ? "" : "s"}`;
  const parts = [];
  const deleted = count("deleted");
  if (deleted) {
    const empty = report.workflows_deleted ? ` (and ${report.workflows_deleted} workflow(s) left empty)` : "";
    parts.push(`${past ? "deleted" : "delete"} ${runs(deleted)}${empty}`);
  }
  const restored = count("restored");
  if (restored) parts.push(`${past ? "restored" : "restore"} ${runs(restored)} to their state before it`);
  const changed = count("changed_since");
  if (changed) parts.push(`${past ? "left" : "leave"} ${runs(changed)} that later events changed since`);
  parts.push(past ? "marked the event PRUNED" : "mark the event PRUNED");
  return parts.join(", ");
}

/** Prune, step 1: a dry run, shown for confirmation. */
async function pruneStart() {
  if (!shownEvent) return;
  let report;
  try {
    report = await api("POST", `/api/events/${encodeURIComponent(shownEvent)}/prune?dry_run=true`);
  } catch (error) {
    fail(error);
    return;
  }
  if (report.already_pruned) {
    say(`${report.event_id} was already pruned; nothing to delete.`);
    return;
  }
  $("prune-summary").textContent = visible(`Pruning ${report.event_id} will ${pruneSummary(report)}.`);
  $("prune-table").tBodies[0].replaceChildren(
    ...report.runs.map((r) =>
      el("tr", {}, ...[r.outcome.replace("_", " "), r.run_id, r.repo, r.workflow, r.unique_id, r.status].map((v) => el("td", { text: String(v) }))),
    ),
  );
  show($("prune-confirm"), true);
  $("prune-yes").focus();
}

/** Prune, step 2: confirmed. */
async function pruneConfirm() {
  if (!shownEvent) return;
  const id = shownEvent;
  try {
    const report = await api("POST", `/api/events/${encodeURIComponent(id)}/prune`);
    say(
      report.already_pruned
        ? `${report.event_id} was already pruned; nothing deleted.`
        : `Pruned ${report.event_id}: ${pruneSummary(report, true)}.`,
    );
  } catch (error) {
    fail(error);
  }
  show($("prune-confirm"), false);
  await loadEvents();
  await showEvent(id);
}

// ---------------------------------------------------------------- keys

async function loadKeys() {
  try {
    const keys = await api("GET", "/api/keys");
    keyNames.clear();
    for (const key of keys) keyNames.set(key.id, key.name);
    $("keys-table").tBodies[0].replaceChildren(
      ...keys.map((key) => {
        const state = keyState(key);
        const revoke =
          state === "revoked"
            ? null
            : el("button", { type: "button", class: "danger revoke", text: "Revoke", onclick: (e) => confirmThen(e.target, "Revoke it now?", () => revokeKey(key.id)) });
        return el(
          "tr",
          { "data-id": key.id },
          el("td", { class: "name", text: key.name }),
          el("td", { class: "nowrap" }, el("code", { text: key.id })),
          el("td", { class: "nowrap" }, el("code", { text: `${key.prefix}…` })),
          el("td", { text: key.scopes.join(", ") }),
          el("td", {}, badge(state)),
          el("td", {}, when(key.created_at)),
          el("td", {}, when(key.expires_at)),
          el("td", {}, when(key.last_used_at)),
          el("td", {}, revoke),
        );
      }),
    );
  } catch (error) {
    fail(error);
  }
}

async function createKey(event) {
  event.preventDefault();
  const name = $("key-name").value.trim();
  const scopes = [...document.querySelectorAll('input[name="scope"]:checked')].map((box) => box.value);
  const days = $("key-expiry").value;
  const request = { name, scopes };
  if (days) request.expires_at = new Date(Date.now() + Number(days) * 86400000).toISOString();
  let created;
  try {
    created = await api("POST", "/api/keys", request);
  } catch (error) {
    fail(error);
    return;
  }
  clearMessage();
  $("key-name").value = "";
  $("new-key-name").textContent = visible(`${created.name} (${created.id})`);
  $("new-key-value").value = created.key;
  show($("new-key-copied"), false);
  show($("new-key"), true);
  $("new-key-value").select();
  await loadKeys();
}

async function copyKey() {
  const input = $("new-key-value");
  try {
    await navigator.clipboard.writeText(input.value);
  } catch (_) {
    input.select();
    document.execCommand("copy");
  }
  show($("new-key-copied"), true);
}

/** Forgets the new key: it is not shown again, not even in this page's memory. */
function hideNewKey() {
  $("new-key-value").value = "";
  $("new-key-name").textContent = "";
  show($("new-key"), false);
}

async function revokeKey(id) {
  try {
    const key = await api("DELETE", `/api/keys/${encodeURIComponent(id)}`);
    say(`Revoked ${key.name} (${key.id}); requests with it are refused from now on.`);
  } catch (error) {
    fail(error);
  }
  await loadKeys();
}

/** Two-step buttons instead of a dialog: the first click asks, the second does it. */
function confirmThen(button, question, action) {
  if (button.dataset.armed === "yes") {
    button.disabled = true;
    action();
    return;
  }
  button.dataset.armed = "yes";
  button.dataset.label = button.textContent;
  button.textContent = question;
  setTimeout(() => {
    if (button.isConnected && !button.disabled) {
      button.dataset.armed = "";
      button.textContent = button.dataset.label;
    }
  }, 5000);
}

// ---------------------------------------------------------------- repos

async function loadRepos() {
  try {
    const repos = await api("GET", "/api/repos");
    $("repos-table").tBodies[0].replaceChildren(
      ...repos.map((repo) =>
        el(
          "tr",
          { "data-id": repo.id },
          el("td", { text: String(repo.id) }),
          el("td", { text: `${repo.host}/${repo.org}/${repo.name}` }),
          el("td", {}, el("code", { text: repo.url })),
          el("td", {}, when(repo.created_at)),
          el(
            "td",
            {},
            el("button", { type: "button", class: "danger unlink", text: "Unlink", onclick: (e) => confirmThen(e.target, "Unlink? Its runs are kept", () => unlinkRepo(repo.id, false)) }),
            " ",
            el("button", { type: "button", class: "danger delete-runs", text: "Unlink and delete runs…", onclick: (e) => deleteRunsStart(e.target, repo.id) }),
          ),
        ),
      ),
    );
    show($("repos-empty"), repos.length === 0);
  } catch (error) {
    fail(error);
  }
}

async function linkRepo(event) {
  event.preventDefault();
  const url = $("repo-url").value.trim();
  try {
    const repo = await api("POST", "/api/repos", { url });
    say(`Linked ${repo.org}/${repo.name}.`);
    $("repo-url").value = "";
  } catch (error) {
    fail(error);
  }
  await loadRepos();
}

/** Unlink and delete runs, step 1: a dry run, whose count the armed button asks about. */
async function deleteRunsStart(button, id) {
  const action = () => unlinkRepo(id, true);
  if (button.dataset.armed === "yes") {
    confirmThen(button, "", action);
    return;
  }
  let dry;
  try {
    dry = await api("DELETE", `/api/repos/${encodeURIComponent(id)}?delete_runs=true&dry_run=true`);
  } catch (error) {
    fail(error);
    return;
  }
  confirmThen(button, `Delete ${dry.runs_deleted} run(s) and ${dry.workflows_deleted} workflow(s)?`, action);
}

async function unlinkRepo(id, deleteRuns) {
  try {
    const report = await api("DELETE", `/api/repos/${encodeURIComponent(id)}?delete_runs=${deleteRuns}`);
    const name = `${report.org}/${report.name}`;
    say(
      deleteRuns
        ? `Unlinked ${name}: deleted ${report.runs_deleted} run(s) and ${report.workflows_deleted} workflow(s); ${report.events_released} event(s) marked PRUNED (sending their files again stores them again).`
        : `Unlinked ${name}; new runs for it are refused. Its ${report.runs_kept} run(s) are kept: link it again to bring it back.`,
    );
  } catch (error) {
    fail(error);
  }
  await loadRepos();
}

// ---------------------------------------------------------------- wiring

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut(true));
  $("message-close").addEventListener("click", clearMessage);
  for (const tab of document.querySelectorAll("button.tab")) tab.addEventListener("click", () => openTab(tab.dataset.tab));
  $("event-status").addEventListener("change", pageNewest);
  $("events-refresh").addEventListener("click", loadEvents);
  $("events-older").addEventListener("click", pageOlder);
  $("events-newest").addEventListener("click", pageNewest);
  $("detail-close").addEventListener("click", closeEvent);
  $("prune-start").addEventListener("click", pruneStart);
  $("prune-yes").addEventListener("click", pruneConfirm);
  $("prune-no").addEventListener("click", () => show($("prune-confirm"), false));
  $("key-form").addEventListener("submit", createKey);
  $("new-key-copy").addEventListener("click", copyKey);
  $("new-key-done").addEventListener("click", hideNewKey);
  $("repo-form").addEventListener("submit", linkRepo);
  if (adminKey()) enter();
});
