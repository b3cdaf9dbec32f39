// The admin page in a real headless Chromium (Debian's /usr/bin/chromium), driven by
// playwright-core. tests/browser.rs starts the real server and runs this with:
//   MW_URL          the server, e.g. http://127.0.0.1:41234
//   MW_ADMIN_KEY    its admin key (typed into the sign-in form)
//   MWCTL           the mwctl binary (used to send data with a key created on the page)
//   MW_WORK         a scratch directory (mwctl's config and the runs file)
//   MW_SCREENSHOTS  where to keep the screenshots
//   MW_CHROMIUM     the browser [default: /usr/bin/chromium]
// It prints one line per step and exits non-zero on the first failure.

import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set (tests/browser.rs sets it)`);
  return value;
};
const URL_ = env("MW_URL");
const ADMIN_KEY = env("MW_ADMIN_KEY");
const MWCTL = env("MWCTL");
const WORK = env("MW_WORK");
const SHOTS = env("MW_SCREENSHOTS");
const CHROMIUM = env("MW_CHROMIUM", "/usr/bin/chromium");

const REPO = "https://github.com/acme/shop";
const XSS = "<img src=x onerror=alert(1)>";
const XSS_STATUS = "<script>alert(2)</script>";

let step = 0;
const log = (message) => console.log(`[${++step}] ${message}`);

mkdirSync(SHOTS, { recursive: true });
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  // Chromium runs as root in CI and must not reach the network (this machine has none).
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: URL_ });
const page = await context.newPage();

// Anything that would mean injected script ran, or the page broke.
const problems = [];
page.on("dialog", async (dialog) => {
  problems.push(`a ${dialog.type()} dialog opened: ${dialog.message()}`);
  await dialog.dismiss();
});
page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
page.on("console", (message) => {
  // Failed fetches are checked below, by URL and status.
  if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
    problems.push(`console error: ${message.text()}`);
  }
});
// The only failing answers expected: the sign-in with a wrong key.
page.on("response", (response) => {
  if (response.status() >= 400 && !(response.status() === 401 && response.url().endsWith("/api/keys"))) {
    problems.push(`HTTP ${response.status()} for ${response.url()}`);
  }
});
// Every URL the page asks for, to check that no key ever appears in one.
const requested = [];
page.on("request", (request) => requested.push(request.url()));

const shot = async (name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const text = async (selector) => (await page.locator(selector).innerText()).trim();
const tableText = async (selector) => page.locator(`${selector} tbody`).innerText();

/** An admin API call from the test itself (not the page). */
async function adminApi(path) {
  const response = await fetch(`${URL_}${path}`, { headers: { "X-API-KEY": ADMIN_KEY } });
  assert.equal(response.status, 200, `${path}: HTTP ${response.status}`);
  return response.json();
}

/** Waits until `probe` returns something truthy (the worker stores events in the background). */
async function until(what, probe) {
  for (let i = 0; i < 100; i++) {
    const found = await probe();
    if (found) return found;
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The value at a dotted path ("a.b") of an object. */
const at = (object, path) => path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), object);

/** Runs mwctl with the given key; stdout. */
function mwctl(key, args) {
  return execFileSync(MWCTL, args, {
    env: {
      PATH: process.env.PATH,
      HOME: WORK,
      MW_CONFIG: join(WORK, "mwctl-config.toml"),
      MW_URL: URL_,
      MW_API_KEY: key,
    },
    cwd: WORK,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

try {
  // ------------------------------------------------------------ the page and its headers
  const response = await page.goto(URL_);
  assert.equal(response.status(), 200);
  const csp = response.headers()["content-security-policy"] || "";
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(response.headers()["x-content-type-options"], "nosniff");
  log(`page served with CSP: ${csp}`);
  assert.ok(await page.isVisible("#sign-in"));
  assert.ok(!(await page.isVisible("#nav")), "no navigation before signing in");
  assert.ok(!(await page.isVisible("#sign-out")), "no Sign out before signing in");
  log("the sign-in screen shows no navigation");

  // ------------------------------------------------------------ sign in
  await page.fill("#admin-key", "mwk_not_a_key");
  await page.click("#sign-in-form button[type=submit]");
  await page.waitForSelector("#message.error:not([hidden])");
  assert.match(await text("#message-text"), /invalid API key/);
  assert.match(await text("#message-resolution"), /admin key/);
  assert.ok(await page.isVisible("#sign-in"), "still signed out");
  log("a wrong key is refused with the server's error and resolution");

  await page.fill("#admin-key", ADMIN_KEY);
  await page.click("#sign-in-form button[type=submit]");
  await page.waitForSelector("#events:not([hidden])");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("mwctl.adminKey")), ADMIN_KEY);
  assert.equal(await page.inputValue("#admin-key"), "", "the form forgets the key");
  assert.ok(await page.isVisible("#nav"), "the navigation shows once signed in");
  log("signed in; the key is in sessionStorage only");

  // ------------------------------------------------------------ repos: link
  await page.click("button.tab[data-tab=repos]");
  await page.fill("#repo-url", REPO);
  await page.click("#repo-form button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#repos-table tbody").innerText.includes("github.com/acme/shop"));
  log("linked a repository");

  // ------------------------------------------------------------ keys: create, shown once, copy
  await page.click("button.tab[data-tab=keys]");
  await page.fill("#key-name", "browser-ci");
  await page.selectOption("#key-expiry", "30");
  await page.click("#key-form button[type=submit]");
  await page.waitForSelector("#new-key:not([hidden])");
  const ciKey = await page.inputValue("#new-key-value");
  assert.match(ciKey, /^mwk_[A-Za-z0-9_-]{43}$/);
  await page.click("#new-key-copy");
  await page.waitForSelector("#new-key-copied:not([hidden])");
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), ciKey, "Copy puts the key on the clipboard");
  await shot("key-created");
  await page.click("#new-key-done");
  assert.ok(!(await page.isVisible("#new-key")));
  assert.ok(!(await page.content()).includes(ciKey), "the key is gone from the page once dismissed");
  const keyRow = page.locator("#keys-table tbody tr", { hasText: "browser-ci" });
  assert.ok((await keyRow.innerText()).includes(ciKey.slice(0, 12)), "listed by its prefix");
  assert.ok((await keyRow.innerText()).includes("deployments"));
  assert.ok((await keyRow.innerText()).includes("active"));
  log("created a deployments key expiring in 30 days; shown once, copied, listed by prefix");
  // Ids stay on one line (an inline element that wraps has one client rect per line).
  const idLines = await keyRow.locator("td code").evaluateAll((codes) => codes.map((c) => c.getClientRects().length));
  assert.deepEqual(idLines, [1, 1], "the key id and prefix are not wrapped");
  log("key id and prefix on one line each");

  // A key named like an attack is listed as text.
  await page.fill("#key-name", XSS);
  await page.click("#key-form button[type=submit]");
  await page.waitForSelector("#new-key:not([hidden])");
  await page.click("#new-key-done");
  const names = await page.locator("#keys-table td.name").allInnerTexts();
  assert.ok(names.includes(XSS), `the hostile key name is shown as text: ${names}`);

  // ------------------------------------------------------------ send data with the new key via mwctl
  const runs = [0, 1].map((i) => ({
    workflow_name: i === 0 ? XSS : "production",
    repo_urls: [REPO],
    event_actor: "dana",
    head_branch: "main",
    workflow_run_unique_id: `browser-${i}`,
    status: "SUCCESS",
    workflow_run_conducted_at: "2025-01-09T10:00:00Z",
    duration: 60,
  }));
  const file = join(WORK, "runs.json");
  writeFileSync(file, JSON.stringify(runs));
  const summary = JSON.parse(mwctl(ciKey, ["send", file, "-o", "json"]));
  const eventId = summary.event_ids[0];
  assert.ok(eventId, `mwctl send reported an event: ${JSON.stringify(summary)}`);
  log(`mwctl send with the new key: ${eventId}`);

  // A rejected request, with an attack in what the error quotes.
  const bad = { ...runs[1], workflow_run_unique_id: "browser-bad", status: XSS_STATUS };
  const rejected = await (
    await fetch(`${URL_}/public/webhook/workflow`, {
      method: "POST",
      headers: { "X-API-KEY": ciKey, "Content-Type": "application/json" },
      body: JSON.stringify({ workflow_runs: [bad] }),
    })
  ).json();
  assert.equal(rejected.status, "rejected");

  // ------------------------------------------------------------ events: see, filter, detail
  await page.click("button.tab[data-tab=events]");
  const row = page.locator(`#events-table tbody tr[data-id="${eventId}"]`);
  for (let i = 0; i < 100 && !(await row.count() && (await row.innerText()).includes("SUCCESS")); i++) {
    await page.waitForTimeout(100);
    await page.click("#events-refresh");
  }
  assert.ok((await row.innerText()).includes("SUCCESS"), await row.innerText());
  assert.ok((await row.innerText()).includes("browser-ci"), "the key is shown by name");
  assert.ok((await row.innerText()).includes("2 / 2 / 0 / 0"));
  const all = await tableText("#events-table");
  assert.ok(all.indexOf(rejected.event_id) < all.indexOf(eventId), "newest first");
  assert.equal(await text("#events-total"), "2 of 2 events", "the page says how many match");
  assert.ok(await page.isDisabled("#events-older"), "no older page when all are shown");
  log("the event is listed, processed, newest first, with the total");
  const runsHeader = await page.locator("#events-table thead th", { hasText: "Runs" }).innerText();
  assert.match(runsHeader, /received \/ created \/ updated \/ unchanged/, "the runs column says what its numbers are");
  const rejectedRow = await page.locator(`#events-table tbody tr[data-id="${rejected.event_id}"]`).innerText();
  assert.ok(rejected.resolution && rejectedRow.includes(rejected.resolution), `the rejected event's resolution is listed: ${rejectedRow}`);
  log("the runs column is explained; a rejected event's row shows its resolution");

  await page.selectOption("#event-status", "REJECTED");
  await page.waitForFunction(() => !document.querySelector("#events-table tbody").innerText.includes("SUCCESS"));
  const onlyRejected = await tableText("#events-table");
  assert.ok(onlyRejected.includes(rejected.event_id) && !onlyRejected.includes(eventId));
  assert.equal(await text("#events-total"), "1 of 1 events", "the total follows the filter");
  await page.locator(`#events-table tbody tr[data-id="${rejected.event_id}"] button.view`).click();
  await page.waitForSelector("#event-detail:not([hidden])");
  const problemsText = await text("#detail-errors");
  assert.ok(problemsText.includes(XSS_STATUS), `the error quotes the status as text: ${problemsText}`);
  assert.match(await text("#detail-fields"), /Resolution/);
  assert.match(await text("#detail-fields"), /InvalidPayload/);
  log("filtered by REJECTED; its error, problems and resolution show, the quoted script as text");

  await page.selectOption("#event-status", "");
  await page.waitForFunction((id) => document.querySelector("#events-table tbody").innerText.includes(id), eventId);
  await row.locator("button.view").click();
  await page.waitForFunction((id) => document.querySelector("#detail-id").textContent === id, eventId);
  const written = await tableText("#detail-runs");
  assert.ok(written.includes(XSS), `the workflow name is shown as text: ${written}`);
  assert.ok((await text("#detail-body")).includes(XSS), "the stored request shows as text");
  assert.equal(await page.locator("img").count(), 0, "no element was injected");
  assert.equal(await page.locator("#event-detail script").count(), 0);
  log("event detail: runs written and the stored request, the hostile workflow name inert");
  await shot("admin");

  // ------------------------------------------------------------ prune with confirmation
  await page.click("#prune-start");
  await page.waitForSelector("#prune-confirm:not([hidden])");
  assert.match(await text("#prune-summary"), /will delete 2 runs/);
  const toDelete = await tableText("#prune-table");
  assert.ok(toDelete.includes("browser-0") && toDelete.includes("browser-1"), toDelete);
  assert.ok(toDelete.includes("deleted"), "each run's outcome is shown");
  assert.ok(toDelete.includes(XSS));
  await shot("prune-confirm");
  // Cancelling deletes nothing.
  await page.click("#prune-no");
  let stored = JSON.parse(mwctl(ADMIN_KEY, ["runs", "list", "-o", "json"]));
  assert.equal(stored.runs.length, 2, "cancel deletes nothing");
  assert.equal(stored.total, 2);
  await page.click("#prune-start");
  await page.waitForSelector("#prune-confirm:not([hidden])");
  await page.click("#prune-yes");
  await page.waitForFunction(() => document.querySelector("#detail-status").textContent === "PRUNED");
  assert.match(await text("#message-text"), /deleted 2 runs/);
  stored = JSON.parse(mwctl(ADMIN_KEY, ["runs", "list", "-o", "json"]));
  assert.equal(stored.runs.length, 0, "the event's runs are gone");
  assert.equal(stored.total, 0);
  assert.ok(await page.isDisabled("#prune-start"), "a pruned event cannot be pruned again from the page");
  log("pruned after a confirmation listing the runs; the runs are gone");

  // ------------------------------------------------------------ a long table; a bidi override
  // 50 more (rejected) events: the table fills more than a screen, and the newest one carries a
  // U+202E RIGHT-TO-LEFT OVERRIDE that, shown raw, turns the rest of its line around.
  const RLO = "\u202e";
  const send = async (body) =>
    (
      await fetch(`${URL_}/public/webhook/workflow`, {
        method: "POST",
        headers: { "X-API-KEY": ciKey, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      })
    ).json();
  for (let i = 0; i < 49; i++) {
    assert.equal((await send({ workflow_runs: [{ ...bad, workflow_run_unique_id: `browser-bad-${i}` }] })).status, "rejected");
  }
  const trick = await send({ workflow_runs: [{ ...bad, workflow_run_unique_id: "browser-rlo", workflow_name: `deploy${RLO}gnp.exe` }] });
  assert.equal(trick.status, "rejected");
  await page.click("#events-refresh");
  const trickRow = page.locator(`#events-table tbody tr[data-id="${trick.event_id}"]`);
  await trickRow.waitFor();
  assert.equal(await page.locator("#events-table tbody tr").count(), 50);
  await page.evaluate(() => window.scrollTo(0, 0));
  await trickRow.locator("button.view").click();
  await page.waitForFunction((id) => document.querySelector("#detail-id").textContent === id, trick.event_id);
  const detailTop = await page.evaluate(() => document.querySelector("#event-detail").getBoundingClientRect().top);
  const viewport = page.viewportSize().height;
  assert.ok(detailTop >= 0 && detailTop < viewport / 2, `the detail is scrolled into view (top at ${detailTop} px of ${viewport})`);
  assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.closest("#event-detail") !== null), true, "focus moved to the detail");
  const body = await text("#detail-body");
  assert.ok(body.includes("deploy\\u202egnp.exe"), `the override is shown escaped: ${body}`);
  const shown = await page.evaluate(() => document.body.innerText);
  assert.ok(!shown.includes(RLO), "no raw U+202E anywhere on the page");
  log(`"View" on a 50-row table scrolls the detail into view (top at ${Math.round(detailTop)} px) and focuses it; U+202E shown as \\u202e`);
  await page.click("#detail-close");

  // ------------------------------------------------------------ incidents: a deployment, an incident after it
  const HOUR = 3600000;
  const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
  const now = Date.now();
  mwctl(ciKey, [
    "deploy", "record", "--status", "success", "--started-at", iso(now - 3 * HOUR), "--duration", "300",
    "--repo", REPO, "--workflow", "production", "--branch", "main", "--commit", "0123456789abcdef0123456789abcdef01234567",
    "--run-id", "browser-deploy", "--strict",
  ]);
  await until("the deployment to be stored", async () =>
    (await adminApi("/api/runs?repo=acme/shop")).runs.some((r) => r.workflow_run_unique_id === "browser-deploy"),
  );
  // An incident an hour after it, resolved 30 minutes later, as an alert hook would report it.
  const opened = JSON.parse(
    mwctl(ADMIN_KEY, ["incident", "open", "--key", "INC-42", "--title", "Checkout answers 500", "--repo", REPO, "--at", iso(now - 2 * HOUR), "--strict", "-o", "json"]),
  );
  assert.equal(opened.outcome, "accepted", JSON.stringify(opened));
  const resolved = JSON.parse(mwctl(ADMIN_KEY, ["incident", "resolve", "INC-42", "--at", iso(now - 1.5 * HOUR), "--strict", "-o", "json"]));
  assert.equal(resolved.outcome, "accepted", JSON.stringify(resolved));
  await until("the incident to be stored, resolved", async () => (await adminApi("/api/incidents?status=resolved")).total === 1);
  log("recorded a deployment, then opened and resolved an incident after it, with mwctl");

  await page.click("button.tab[data-tab=incidents]");
  const incidentRow = page.locator("#incidents-table tbody tr", { hasText: "Checkout answers 500" });
  await incidentRow.waitFor();
  const incidentText = await incidentRow.innerText();
  assert.ok(incidentText.includes("RESOLVED") && incidentText.includes("/INC-42"), incidentText);
  const attributed = await incidentRow.locator("td.attributed").innerText();
  assert.ok(attributed.includes("production") && attributed.includes("browser-deploy"), `attributed to the deployment: ${attributed}`);
  assert.match(attributed, /latest deployment before it/);
  assert.equal(await text("#incidents-total"), "1 of 1 incidents");
  log(`the Incidents view lists it, attributed to the deployment: ${attributed.replace(/\s+/g, " ")}`);

  // ------------------------------------------------------------ metrics: the page's figures are the API's
  await page.click("button.tab[data-tab=metrics]");
  await page.waitForSelector("#dora-repo option[value='github.com/acme/shop']", { state: "attached" });
  await page.selectOption("#dora-repo", "github.com/acme/shop");
  await page.selectOption("#dora-interval", "week");
  const [doraResponse] = await Promise.all([
    page.waitForResponse((r) => r.url().includes("/api/dora?") && r.url().includes("acme")),
    page.click("#dora-form button[type=submit]"),
  ]);
  await page.waitForSelector("#dora-figures svg.chart");
  const doraPath = new URL(doraResponse.url());
  const report = await adminApi(`${doraPath.pathname}${doraPath.search}`);
  assert.equal(report.total.change_failure_rate.deployments, 1, JSON.stringify(report.total));
  assert.equal(report.total.change_failure_rate.failed_deployments, 1);
  assert.equal(report.total.time_to_restore.resolved, 1);
  assert.equal(report.total.time_to_restore.median_seconds, 1800);
  // Every figure on the cards is the total's, every one in the table its interval's.
  const cards = await page.$$eval("#dora-figures article [data-figure]", (nodes) => nodes.map((n) => [n.dataset.figure, n.value, n.textContent]));
  assert.ok(cards.length >= 14, `figures shown: ${cards.length}`);
  for (const [path, value] of cards) assert.equal(value, String(at(report.total, path) ?? ""), `total ${path}`);
  const cells = await page.$$eval("#dora-intervals tbody [data-figure]", (nodes) =>
    nodes.map((n) => [Number(n.closest("tr").dataset.interval), n.dataset.figure, n.value]),
  );
  assert.equal(cells.length, report.intervals.length * 12);
  for (const [i, path, value] of cells) assert.equal(value, String(at(report.intervals[i], path) ?? ""), `interval ${i} ${path}`);
  const shownCards = await page.locator("#dora-figures").innerText();
  assert.match(shownCards, /100%/);
  assert.match(shownCards, /1 of 1 deployment had an incident attributed/);
  assert.match(shownCards, /median 30 min, mean 30 min/);
  // And mwctl says the same (its range is the last 90 days up to now, the page's whole days, so
  // the span-dependent `days` and `per_day` differ; every count and time is the same).
  const cli = JSON.parse(mwctl(ADMIN_KEY, ["dora", "--repo", "acme/shop", "--since", "90d", "--interval", "week", "-o", "json"]));
  const spanFree = cards.filter(([path]) => !path.startsWith("deployment_frequency.days") && !path.startsWith("deployment_frequency.per_day"));
  assert.ok(spanFree.length >= 12);
  for (const [path, value] of spanFree) assert.equal(value, String(at(cli.total, path) ?? ""), `mwctl dora: total ${path}`);
  assert.match(await text("#dora-lead-time"), /not available/);
  // The charts: inline SVG, one per figure, named and described for screen readers.
  const charts = await page.$$eval("#dora-figures svg.chart", (nodes) =>
    nodes.map((n) => ({ role: n.getAttribute("role"), title: n.querySelector("title").textContent, desc: n.querySelector("desc").textContent, bars: n.querySelectorAll("rect.bar").length, none: n.querySelectorAll("text.none").length })),
  );
  assert.equal(charts.length, 4, JSON.stringify(charts));
  for (const chart of charts) {
    assert.equal(chart.role, "img");
    assert.ok(chart.title && chart.desc.split(";").length === report.intervals.length, JSON.stringify(chart));
  }
  assert.equal(charts[0].bars, report.intervals.length, "a bar per interval (0 is a bar too)");
  assert.match(charts[1].desc, /100%/, "the failure rate's description has its value");
  const withoutRate = report.intervals.filter((i) => i.change_failure_rate.rate === null).length;
  assert.ok(withoutRate > 0 && charts[1].none === withoutRate, "intervals without deployments are marked, not drawn as 0%");
  assert.equal(charts[1].bars, report.intervals.length - withoutRate);
  assert.match(charts[2].desc, /30 min/);
  assert.ok(requested.every((url) => url.startsWith(URL_)), "no request leaves the server");
  await page.locator("#metrics").screenshot({ path: join(SHOTS, "admin-metrics.png") });
  log(`Metrics: ${cards.length} figures and ${cells.length} interval cells match GET /api/dora (and mwctl dora -o json, but for the span); 4 SVG charts with title and description`);

  // ------------------------------------------------------------ prune the resolving event from the incident's row
  await page.click("button.tab[data-tab=incidents]");
  await incidentRow.waitFor();
  const writers = incidentRow.locator("button.event-link");
  assert.equal(await writers.count(), 2, "open and resolve wrote it");
  const resolving = (await writers.allInnerTexts()).map((t) => t.trim())[1];
  await writers.nth(1).click();
  await page.waitForFunction((id) => document.querySelector("#detail-id").textContent === id, resolving);
  assert.ok(await page.isVisible("#event-detail"));
  const wrote = await tableText("#detail-incidents");
  assert.ok(wrote.includes("INC-42") && wrote.includes("updated"), `the event lists the incident it updated: ${wrote}`);
  await page.click("#prune-start");
  await page.waitForSelector("#prune-confirm:not([hidden])");
  assert.match(await text("#prune-summary"), /will restore 1 incident to their state before it/);
  assert.ok((await tableText("#prune-incidents")).includes("INC-42"));
  await page.click("#prune-yes");
  await page.waitForFunction(() => document.querySelector("#detail-status").textContent === "PRUNED");
  const after = await adminApi("/api/incidents");
  assert.equal(after.incidents[0].status, "TRIGGERED", "back to its state before the resolve");
  await page.click("button.tab[data-tab=incidents]");
  await page.waitForFunction(() => document.querySelector("#incidents-table tbody").innerText.includes("TRIGGERED"));
  log("pruned the resolving event from the incident's row after the confirmation; the incident is open again");

  // ------------------------------------------------------------ revoke, unlink
  await page.click("button.tab[data-tab=keys]");
  const revoke = page.locator("#keys-table tbody tr", { hasText: "browser-ci" }).locator("button.revoke");
  await revoke.click();
  await revoke.click();
  await page.waitForFunction(() =>
    [...document.querySelectorAll("#keys-table tbody tr")].some((tr) => tr.innerText.includes("browser-ci") && tr.innerText.includes("revoked")),
  );
  assert.throws(
    () => mwctl(ciKey, ["deploy", "record", "--status", "success", "--started-at", "2025-01-01T00:00:00Z", "--repo", REPO, "--branch", "main", "--run-id", "browser-2", "--strict"]),
    (error) => /Unauthorized|revoked/.test(String(error.stderr)),
  );
  log("revoked the key on the page; mwctl is refused on its next request");

  await page.click("button.tab[data-tab=repos]");
  const shopRow = page.locator("#repos-table tbody tr", { hasText: "acme/shop" });
  // Deleting runs asks with the count from a dry run; not confirmed here, so nothing goes.
  const deleteRuns = shopRow.locator("button.delete-runs");
  await deleteRuns.click();
  await page.waitForFunction(() => /Delete \d+ run\(s\)/.test(document.querySelector("#repos-table button.delete-runs").textContent));
  const unlink = shopRow.locator("button.unlink");
  await unlink.click();
  assert.match(await unlink.textContent(), /runs are kept/);
  await unlink.click();
  await page.waitForSelector("#repos-empty:not([hidden])");
  assert.match(await text("#message-text"), /run\(s\) are kept/);
  log("unlinked the repository, keeping its runs (deleting them asks with a count)");

  // ------------------------------------------------------------ sign out; no key in any URL
  await page.click("#sign-out");
  await page.waitForSelector("#sign-in:not([hidden])");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("mwctl.adminKey")), null);
  assert.ok(!(await page.isVisible("#nav")), "the navigation goes with the sign-out");
  for (const url of requested) {
    assert.ok(!url.includes(ADMIN_KEY) && !url.includes(ciKey), `a key in a URL: ${url}`);
  }
  assert.ok(!page.url().includes("mwk_"));
  log(`signed out; none of the ${requested.length} requests had a key in its URL`);

  assert.deepEqual(problems, [], "no dialog, page error or console error");
  console.log(`PASS: admin page (screenshots in ${SHOTS})`);
} catch (error) {
  await shot("failure").catch(() => {});
  console.error(`FAIL at step ${step + 1}: ${error.stack || error}`);
  if (problems.length) console.error(`also: ${problems.join("; ")}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
