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
  for (const id of [...TABS, "nav"]) show($(id), false);
  for (const body of document.querySelectorAll("tbody")) body.replaceChildren();
  hideNewKey();
  show($("event-detail"), false);
  $("dora-figures").replaceChildren();
  $("dora-range").textContent = "";
  incidentCursor = "";
  eventBefore = "";
  show($("dora-lead-time"), false);
  show($("sign-in"), true);
  if (cleanly) say("Signed out.", "the key was removed from this tab");
}

function enter() {
  show($("sign-in"), false);
  show($("nav"), true);
  openTab("events");
}

// ---------------------------------------------------------------- tabs

const TABS = ["events", "incidents", "metrics", "keys", "repos"];

function openTab(name) {
  for (const tab of document.querySelectorAll("button.tab")) {
    if (tab.dataset.tab === name) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  for (const id of TABS) show($(id), id === name);
  if (name === "events") loadEvents();
  if (name === "incidents") loadIncidents();
  if (name === "metrics") openMetrics();
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
        el("td", { class: "who", title: e.key_id, text: keyNames.get(e.key_id) || e.key_id }),
        el("td", { class: "nowrap", text: written(e) }),
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

/** What an event wrote, received / created / updated / unchanged, runs or incidents. */
function written(e) {
  if (isIncidentEvent(e)) {
    const n = (field) => e[`incidents_${field}`] || 0;
    return `${n("received")} / ${n("created")} / ${n("updated")} / ${n("unchanged")} incidents`;
  }
  return `${e.runs_received} / ${e.runs_created} / ${e.runs_updated} / ${e.runs_unchanged} runs`;
}

function isIncidentEvent(e) {
  return e.request_type === "incident" || (e.incidents_received || 0) > 0;
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
  ];
  if (isIncidentEvent(detail)) {
    const n = (field) => detail[`incidents_${field}`] || 0;
    fields.push(["Incidents", `${n("received")} received; ${n("created")} created, ${n("updated")} updated, ${n("unchanged")} unchanged`]);
  } else {
    fields.push(["Runs", `${detail.runs_received} received; ${detail.runs_created} created, ${detail.runs_updated} updated, ${detail.runs_unchanged} unchanged`]);
  }
  if (response.exception_type) fields.push(["Exception", response.exception_type]);
  if (detail.error) fields.push(["Error", detail.error]);
  if (typeof response.resolution === "string") fields.push(["Resolution", response.resolution]);
  $("detail-fields").replaceChildren(...fields.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", {}, value)]));

  const errors = Array.isArray(response.errors) ? response.errors : [];
  $("detail-errors").replaceChildren(
    ...errors.slice(0, 100).map((e) => el("li", { text: `${isIncidentEvent(detail) ? "incident" : "run"} ${e.index}: ${e.field}: ${e.message}` })),
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
  const incidents = detail.incidents || [];
  $("detail-incidents").tBodies[0].replaceChildren(
    ...incidents.map((i) =>
      el("tr", {}, ...[i.incident_id, i.action, i.repo, i.provider, i.incident_key, i.status].map((v) => el("td", { text: String(v) }))),
    ),
  );
  show($("detail-incidents-part"), incidents.length > 0);
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

/** What a prune report does (or did, `past`) with its runs and incidents, in words. */
function pruneSummary(report, past = false) {
  const parts = [];
  const kinds = [
    [report.runs || [], "run", report.workflows_deleted ? ` (and ${report.workflows_deleted} workflow(s) left empty)` : ""],
    [report.incidents || [], "incident", ""],
  ];
  for (const [items, noun, extra] of kinds) {
    const count = (outcome) => items.filter((r) => r.outcome === outcome).length;
    const some = (n) => `${n} ${noun}${n === 1 ? "" : "s"}`;
    const deleted = count("deleted");
    if (deleted) parts.push(`${past ? "deleted" : "delete"} ${some(deleted)}${extra}`);
    const restored = count("restored");
    if (restored) parts.push(`${past ? "restored" : "restore"} ${some(restored)} to their state before it`);
    const changed = count("changed_since");
    if (changed) parts.push(`${past ? "left" : "leave"} ${some(changed)} that later events changed since`);
  }
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
  const runs = report.runs || [];
  $("prune-table").tBodies[0].replaceChildren(
    ...runs.map((r) =>
      el("tr", {}, ...[r.outcome.replace("_", " "), r.run_id, r.repo, r.workflow, r.unique_id, r.status].map((v) => el("td", { text: String(v) }))),
    ),
  );
  show($("prune-table"), runs.length > 0);
  const incidents = report.incidents || [];
  $("prune-incidents").tBodies[0].replaceChildren(
    ...incidents.map((i) =>
      el("tr", {}, ...[i.outcome.replace("_", " "), i.incident_id, i.repo, i.provider, i.incident_key, i.status].map((v) => el("td", { text: String(v) }))),
    ),
  );
  show($("prune-incidents"), incidents.length > 0);
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

// ---------------------------------------------------------------- incidents

let incidentCursor = ""; // the cursor of the page shown ("": the newest)

async function loadIncidents() {
  try {
    const status = $("incident-status").value;
    const page = await api("GET", `/api/incidents${query({ status, limit: PAGE, cursor: incidentCursor })}`);
    const rows = page.incidents.map((i) =>
      el(
        "tr",
        { "data-id": i.id },
        el(
          "td",
          {},
          el("div", { class: "title", text: i.title }),
          el("div", { class: "muted" }, el("code", { text: `${i.provider}/${i.incident_key}` }), i.incident_type === "ALERT" ? " · alert (not counted)" : ""),
        ),
        el("td", { text: i.repo }),
        el("td", {}, badge(i.status)),
        el("td", {}, when(i.creation_date)),
        el("td", {}, when(i.resolved_date)),
        el("td", { class: "attributed" }, attribution(i)),
        el("td", { class: "events" }, ...writtenBy(i)),
      ),
    );
    $("incidents-table").tBodies[0].replaceChildren(...rows);
    show($("incidents-empty"), rows.length === 0);
    $("incidents-total").textContent = `${count(rows.length)} of ${count(page.total)} incidents`;
    $("incidents-older").disabled = !page.next;
    $("incidents-older").dataset.cursor = page.next || "";
    $("incidents-newest").disabled = incidentCursor === "";
  } catch (error) {
    fail(error);
  }
}

/** The deployment an incident counts against, and how it was found. */
function attribution(incident) {
  const to = incident.attributed_to;
  if (!to) {
    return el("span", { class: "muted", text: "none: no SUCCESS deployment of the repository started before it" });
  }
  const how = to.by === "named" ? "named by the incident" : "the latest deployment before it";
  return el(
    "span",
    {},
    el("span", { class: "deployment", text: `${to.workflow} · ${to.workflow_run_unique_id}` }),
    el("div", { class: "muted", text: `run ${to.run_id}, ${how}` }),
  );
}

/** The events that wrote an incident, each opening in the Events view (where it can be pruned). */
function writtenBy(incident) {
  const ids = (incident.events || incident.event_ids || []).map((e) => (typeof e === "string" ? e : e.id || e.event_id)).filter(Boolean);
  if (ids.length === 0) return [el("span", { class: "muted", text: "—" })];
  return ids.map((id) => el("button", { type: "button", class: "link event-link", text: id, title: "Open the event (to see or prune it)", onclick: () => openEvent(id) }));
}

/** Opens an event's detail in the Events view. */
async function openEvent(id) {
  openTab("events");
  await showEvent(id);
}

// ---------------------------------------------------------------- metrics (DORA)

const DAY_MS = 86400000;
const SVG = "http://www.w3.org/2000/svg";

/** An SVG element; text goes in as text, like el(). */
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (name === "text") node.textContent = visible(value);
    else node.setAttribute(name, String(value));
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

const isoDate = (date) => date.toISOString().slice(0, 10);

async function openMetrics() {
  // The last 90 days by default, today included.
  if (!$("dora-to").value) $("dora-to").value = isoDate(new Date());
  if (!$("dora-from").value) $("dora-from").value = isoDate(new Date(Date.now() - 89 * DAY_MS));
  try {
    const chosen = $("dora-repo").value;
    const repos = await api("GET", "/api/repos");
    $("dora-repo").replaceChildren(
      el("option", { value: "", text: "all repositories" }),
      ...repos.map((r) => el("option", { value: `${r.host}/${r.org}/${r.name}`, text: `${r.org}/${r.name}` })),
    );
    $("dora-repo").value = [...$("dora-repo").options].some((o) => o.value === chosen) ? chosen : "";
  } catch (error) {
    fail(error);
    return;
  }
  await loadDora();
}

/** The query GET /api/dora gets for the form: [from 00:00, the day after `to` 00:00) in UTC. */
function doraQuery() {
  const from = $("dora-from").value;
  const to = $("dora-to").value;
  const end = new Date(Date.parse(`${to}T00:00:00Z`) + DAY_MS);
  return query({
    repo: $("dora-repo").value,
    from: `${from}T00:00:00Z`,
    to: end.toISOString().replace(".000Z", "Z"),
    interval: $("dora-interval").value,
  });
}

async function loadDora(event) {
  if (event) event.preventDefault();
  const from = $("dora-from").value;
  const to = $("dora-to").value;
  if (!from || !to || to < from) {
    say("The range is empty.", "choose a From date on or before the To date", true);
    return;
  }
  let report;
  try {
    report = await api("GET", `/api/dora${doraQuery()}`);
  } catch (error) {
    fail(error);
    return;
  }
  renderDora(report);
}

/** Seconds as "45 s", "12 min 5 s", "3 h 20 min", "2 d 4 h". */
function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  if (s < 86400) return `${Math.floor(s / 3600)} h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)} min` : ""}`;
  return `${Math.floor(s / 86400)} d${Math.floor((s % 86400) / 3600) ? ` ${Math.floor((s % 86400) / 3600)} h` : ""}`;
}

const percent = (rate) => (rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(rate * 100 % 1 ? 1 : 0)}%`);
const decimal = (x) => (x === null || x === undefined ? "—" : x.toLocaleString("en-US", { maximumFractionDigits: 2 }));

/** A figure as text, with its exact value (and where it is in the report) for machines. */
function figure(path, value, text) {
  return el("data", { value: value === null || value === undefined ? "" : String(value), "data-figure": path, text });
}

/** How an interval is named: its first day (a week: its Monday), or its month. */
function intervalLabel(interval, kind) {
  const start = interval.start.slice(0, 10);
  return kind === "month" ? start.slice(0, 7) : start;
}

/**
 * One bar per interval, as inline SVG. Readable without colour (one series, the values written
 * on the bars when they fit, an interval without a value marked "–" rather than drawn as 0), and
 * for screen readers a role="img" with a title and a description listing every value.
 */
function barChart(id, title, points, format, kind) {
  // About the size it is shown at, so that its 11px text reads as 11px.
  const width = 480;
  const height = 170;
  const top = 30;
  const bottom = 22;
  const left = 4;
  const plot = height - top - bottom;
  const max = Math.max(0, ...points.map((p) => p.value ?? 0));
  const slot = (width - 2 * left) / Math.max(1, points.length);
  // Values are written on the bars when the longest fits its slot (else: titles and the table).
  const longest = Math.max(0, ...points.map((p) => (p.value === null ? 0 : format(p.value).length)));
  const labelsFit = longest * 6.5 <= slot - 2;
  const every = Math.max(1, Math.ceil(40 / slot));
  const description = points.map((p) => `${p.label}: ${p.value === null ? "no data" : format(p.value)}`).join("; ");
  const chart = svg(
    "svg",
    { id, class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": `${id}-title ${id}-desc`, preserveAspectRatio: "xMinYMin meet" },
    svg("title", { id: `${id}-title`, text: `${title}, per interval` }),
    svg("desc", { id: `${id}-desc`, text: description || "no intervals" }),
    svg("line", { class: "axis", x1: left, x2: width - left, y1: top + plot, y2: top + plot }),
    svg("text", { class: "scale", x: width - left, y: 11, "text-anchor": "end", text: `highest: ${max ? format(max) : "0"}` }),
  );
  points.forEach((p, i) => {
    const x = left + i * slot;
    const center = x + slot / 2;
    if (p.value === null) {
      chart.append(svg("text", { class: "none", x: center, y: top + plot - 4, "text-anchor": "middle", text: "–" }, svg("title", { text: `${p.label}: no data` })));
    } else {
      const h = max ? Math.max(p.value > 0 ? 1 : 0, (p.value / max) * plot) : 0;
      chart.append(
        svg(
          "rect",
          { class: "bar", x: x + slot * 0.15, y: top + plot - h, width: Math.max(1, slot * 0.7), height: h },
          svg("title", { text: `${p.label}: ${format(p.value)}` }),
        ),
      );
      if (labelsFit) chart.append(svg("text", { class: "num", x: center, y: top + plot - h - 4, "text-anchor": "middle", text: format(p.value) }));
    }
    if (i % every === 0) chart.append(svg("text", { class: "label", x: center, y: height - bottom + 16, "text-anchor": "middle", text: kind === "month" ? p.label : p.label.slice(5) }));
  });
  return chart;
}

function renderDora(report) {
  const kind = report.interval;
  const t = report.total;
  const df = t.deployment_frequency;
  const cfr = t.change_failure_rate;
  const ttr = t.time_to_restore;
  const dd = t.deployment_duration;
  const labels = report.intervals.map((i) => intervalLabel(i, kind));
  const series = (pick) => report.intervals.map((i, n) => ({ label: labels[n], value: pick(i) ?? null }));
  const scope = report.repo ? report.repo : "all repositories";
  $("dora-range").textContent = visible(
    `${scope}, ${report.from.slice(0, 10)} to ${new Date(Date.parse(report.to) - 1).toISOString().slice(0, 10)} (included), per ${kind}; ${report.intervals.length} interval(s)`,
  );

  const card = (id, title, headline, counts, chart) =>
    el("article", { class: "figure", id }, el("h3", { text: title }), el("p", { class: "value" }, ...headline), el("p", { class: "counts muted" }, ...counts), chart);

  const cards = [
    card(
      "dora-deployment-frequency",
      "Deployment frequency",
      [figure("deployment_frequency.per_day", df.per_day, decimal(df.per_day)), " per day"],
      [
        figure("deployment_frequency.deployments", df.deployments, count(df.deployments)),
        df.deployments === 1 ? " successful deployment in " : " successful deployments in ",
        figure("deployment_frequency.days", df.days, decimal(df.days)),
        " days",
      ],
      barChart("chart-deployments", "Successful deployments", series((i) => i.deployment_frequency.deployments), (v) => count(v), kind),
    ),
    card(
      "dora-change-failure-rate",
      "Change failure rate",
      [figure("change_failure_rate.rate", cfr.rate, percent(cfr.rate))],
      [
        figure("change_failure_rate.failed_deployments", cfr.failed_deployments, count(cfr.failed_deployments)),
        " of ",
        figure("change_failure_rate.deployments", cfr.deployments, count(cfr.deployments)),
        cfr.deployments === 1 ? " deployment had an incident attributed; " : " deployments had an incident attributed; ",
        figure("change_failure_rate.incidents", cfr.incidents, count(cfr.incidents)),
        " incident(s), ",
        figure("change_failure_rate.unattributed_incidents", cfr.unattributed_incidents, count(cfr.unattributed_incidents)),
        " not attributed to any deployment",
      ],
      barChart("chart-failure-rate", "Change failure rate", series((i) => i.change_failure_rate.rate), percent, kind),
    ),
    card(
      "dora-time-to-restore",
      "Time to restore",
      [
        "median ",
        figure("time_to_restore.median_seconds", ttr.median_seconds, duration(ttr.median_seconds)),
        ", mean ",
        figure("time_to_restore.mean_seconds", ttr.mean_seconds, duration(ttr.mean_seconds)),
      ],
      [
        "over ",
        figure("time_to_restore.resolved", ttr.resolved, count(ttr.resolved)),
        " resolved incident(s); ",
        figure("time_to_restore.open", ttr.open, count(ttr.open)),
        " still open (not counted)",
      ],
      barChart("chart-time-to-restore", "Median time to restore", series((i) => i.time_to_restore.median_seconds), duration, kind),
    ),
    card(
      "dora-deployment-duration",
      "Deployment duration",
      [
        "median ",
        figure("deployment_duration.median_seconds", dd.median_seconds, duration(dd.median_seconds)),
        ", p90 ",
        figure("deployment_duration.p90_seconds", dd.p90_seconds, duration(dd.p90_seconds)),
      ],
      [
        "over ",
        figure("deployment_duration.deployments", dd.deployments, count(dd.deployments)),
        " deployment(s); ",
        figure("deployment_duration.without_duration", dd.without_duration, count(dd.without_duration)),
        " without a duration (not counted)",
      ],
      barChart("chart-duration", "Median deployment duration", series((i) => i.deployment_duration.median_seconds), duration, kind),
    ),
  ];

  // Every number behind the charts, as a table.
  const table = el(
    "table",
    { id: "dora-intervals" },
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        ...[kind, "Deployments", "Per day", "Failed", "Failure rate", "Incidents (unattributed)", "Restored", "Open", "Restore median", "Restore mean", "Duration median", "Duration p90"].map(
          (h) => el("th", { scope: "col", text: h }),
        ),
      ),
    ),
    el(
      "tbody",
      {},
      ...report.intervals.map((i, n) =>
        el(
          "tr",
          { "data-interval": n },
          el("th", { scope: "row" }, el("time", { dateTime: i.start, text: labels[n] })),
          el("td", {}, figure("deployment_frequency.deployments", i.deployment_frequency.deployments, count(i.deployment_frequency.deployments))),
          el("td", {}, figure("deployment_frequency.per_day", i.deployment_frequency.per_day, decimal(i.deployment_frequency.per_day))),
          el("td", {}, figure("change_failure_rate.failed_deployments", i.change_failure_rate.failed_deployments, count(i.change_failure_rate.failed_deployments))),
          el("td", {}, figure("change_failure_rate.rate", i.change_failure_rate.rate, percent(i.change_failure_rate.rate))),
          el(
            "td",
            {},
            figure("change_failure_rate.incidents", i.change_failure_rate.incidents, count(i.change_failure_rate.incidents)),
            " (",
            figure("change_failure_rate.unattributed_incidents", i.change_failure_rate.unattributed_incidents, count(i.change_failure_rate.unattributed_incidents)),
            ")",
          ),
          el("td", {}, figure("time_to_restore.resolved", i.time_to_restore.resolved, count(i.time_to_restore.resolved))),
          el("td", {}, figure("time_to_restore.open", i.time_to_restore.open, count(i.time_to_restore.open))),
          el("td", {}, figure("time_to_restore.median_seconds", i.time_to_restore.median_seconds, duration(i.time_to_restore.median_seconds))),
          el("td", {}, figure("time_to_restore.mean_seconds", i.time_to_restore.mean_seconds, duration(i.time_to_restore.mean_seconds))),
          el("td", {}, figure("deployment_duration.median_seconds", i.deployment_duration.median_seconds, duration(i.deployment_duration.median_seconds))),
          el("td", {}, figure("deployment_duration.p90_seconds", i.deployment_duration.p90_seconds, duration(i.deployment_duration.p90_seconds))),
        ),
      ),
    ),
  );
  $("dora-figures").replaceChildren(
    ...cards,
    el("details", { class: "intervals" }, el("summary", { text: `Every figure per ${kind} (${report.intervals.length}), as a table` }), table),
  );
  const lead = report.lead_time_for_changes || {};
  $("dora-lead-time-reason").textContent = visible(lead.reason || "");
  show($("dora-lead-time"), true);
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
  $("incident-status").addEventListener("change", () => {
    incidentCursor = "";
    loadIncidents();
  });
  $("incidents-refresh").addEventListener("click", loadIncidents);
  $("incidents-older").addEventListener("click", () => {
    incidentCursor = $("incidents-older").dataset.cursor || "";
    loadIncidents();
  });
  $("incidents-newest").addEventListener("click", () => {
    incidentCursor = "";
    loadIncidents();
  });
  $("dora-form").addEventListener("submit", loadDora);
  if (adminKey()) enter();
});
