#!/usr/bin/env node
// test/dashboard/check.mjs - the built dashboard in a real browser.
//
//   node test/dashboard/check.mjs [--dist DIR] [--shots DIR]
//
// Serves doc/dashboard/dist on 127.0.0.1, opens every page of the
// dashboard's configuration in headless Debian chromium (playwright-core,
// /usr/bin/chromium, a fresh profile) and fails a page on: a page error or
// console error, a request that is not to the local server (the dashboard
// must work with no network), a Framework cell that rendered an error, a
// missing "data as of" line, a chart (Plot SVG) with no data mark, a table
// without rows, fewer charts or tables than the page is known to have, and
// a hidden cell shown as anything but "hidden".  Each segmentation choice
// of a page is clicked through and checked again.  A screenshot of each
// page goes to --shots.  Prints "ok"/"not ok" lines and "N passed, N failed".
import {createRequire} from "node:module";
import {mkdtemp, mkdir, readdir, readFile, rm} from "node:fs/promises";
import {tmpdir} from "node:os";
import {join, resolve} from "node:path";
import {fileURLToPath} from "node:url";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const DASH = join(ROOT, "doc/dashboard");
const require = createRequire(join(DASH, "package.json"));
const {chromium} = require("playwright-core");
const {serve} = await import(join(DASH, "serve.mjs"));
const config = (await import(join(DASH, "observablehq.config.js"))).default;

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const dist = resolve(arg("--dist", join(DASH, "dist")));
const shots = resolve(arg("--shots", join(ROOT, "test/out/dashboard")));

// What each page is built to show: at least this many charts and tables.
// A page in the configuration without an entry here fails, so a new page
// gets its expectations written down.
const EXPECT = {
  "/": {charts: 1, tables: 1},
  "/kpis": {charts: 2, tables: 1},
  "/trends": {charts: 1, tables: 1},
  "/migration": {charts: 1, tables: 0},
  "/rfm-grid": {charts: 2, tables: 0},
  "/clusters": {charts: 3, tables: 1},
  "/before-after": {charts: 1, tables: 1}
};

let passed = 0, failed = 0;
function check(ok, what, detail = "") {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? "ok" : "not ok"} - ${what}${!ok && detail ? `: ${detail}` : ""}`);
  return ok;
}

// A dist/_file/data/<name>.<hash>.json as the page got it.
async function viewData(name) {
  const dir = join(dist, "_file/data");
  const file = (await readdir(dir)).find((f) => f.startsWith(`${name}.`) && f.endsWith(".json"));
  return JSON.parse(await readFile(join(dir, file), "utf8"));
}

// Runs in the page: what the page shows, for the checks below.
function inspect() {
  const DATA_MARKS = new Set(["bar", "dot", "line", "cell", "link", "area", "rect"]);
  const charts = [...document.querySelectorAll("svg")].filter((s) => /^plot-[0-9a-f]+$/.test(s.getAttribute("class") ?? ""));
  const chartMarks = charts.map((svg) =>
    [...svg.querySelectorAll("g[aria-label]")]
      .filter((g) => DATA_MARKS.has(g.getAttribute("aria-label")))
      .reduce((n, g) => n + g.querySelectorAll("rect, path, circle, line").length, 0));
  const tables = [...document.querySelectorAll("#observablehq-main table")].map((t) => ({
    rows: t.querySelectorAll("tbody tr").length,
    numbers: [...t.querySelectorAll("tbody td")].filter((td) => /\d/.test(td.textContent)).length
  }));
  return {
    charts: chartMarks,
    tables,
    errors: [...document.querySelectorAll(".observablehq--error")].map((e) => e.textContent.slice(0, 300)),
    loading: document.querySelectorAll("observablehq-loading").length,
    asOf: [...document.querySelectorAll("[data-asof]")].map((e) => e.textContent),
    radios: [...document.querySelectorAll("#observablehq-main input[type=radio]")].map((r) => ({value: r.value, label: r.parentElement.textContent.trim()}))
  };
}

async function settle(page) {
  await page.waitForLoadState("networkidle");
  await page.waitForFunction(() => document.querySelectorAll("observablehq-loading").length === 0, null, {timeout: 15000}).catch(() => {});
  await page.waitForTimeout(150);
}

function checkView(path, label, seen, expect) {
  check(seen.errors.length === 0, `${label}: no cell rendered an error`, seen.errors.join(" | "));
  check(seen.loading === 0, `${label}: every cell finished`, `${seen.loading} still loading`);
  check(seen.asOf.length > 0 && seen.asOf.every((t) => /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}/.test(t)), `${label}: prints the data's as_of`, JSON.stringify(seen.asOf));
  check(seen.charts.length >= expect.charts, `${label}: at least ${expect.charts} chart(s)`, `found ${seen.charts.length}`);
  check(seen.charts.every((n) => n > 0), `${label}: every chart draws data`, `data marks per chart: ${seen.charts.join(", ")}`);
  if (expect.tables > 0) check(seen.tables.length >= expect.tables, `${label}: at least ${expect.tables} table(s)`, `found ${seen.tables.length}`);
  if (seen.tables.length > 0) check(seen.tables.every((t) => t.rows > 0 && t.numbers > 0), `${label}: every table has rows with figures`, JSON.stringify(seen.tables));
}

// Hidden cells: every hidden row of the view must read "hidden" on the page,
// never a number (a hidden cell shown as 0 would pass for data).
async function checkHidden(page, path) {
  if (path === "/kpis") {
    const latest = await viewData("kpi_latest");
    const hidden = latest.rows.filter((d) => d.segmentation === "rfm" && d.hidden && d.segment !== "(all)");
    check(hidden.length > 0, "/kpis: the demo has hidden rfm cells to show", "none hidden: raise settings.min_segment_size in the test warehouse");
    const cells = await page.$$eval("table.sk tbody tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent.trim())));
    for (const h of hidden) {
      const row = cells.find((c) => c[0] === h.segment);
      check(row && row.slice(1).every((t) => t === "hidden"), `/kpis: hidden segment ${h.segment} reads "hidden" in every measure`, JSON.stringify(row));
    }
  }
  if (path === "/before-after") {
    // one segment's report at a time (the view has a report per
    // segmentation and segment): the default is rfm's "(all)"
    const ba = await viewData("before_after");
    const n = ba.rows.filter((d) => d.segmentation === "rfm" && d.segment === "(all)").length;
    const shown = await page.$$eval("#observablehq-main table tbody tr", (trs) => trs.length);
    check(n > 0 && shown === n, `/before-after: the table shows one segment's ${n} figures (rfm, (all)), not the view's ${ba.rows.length}`, `${shown} rows`);
    const launch = ba.rows[0]?.launch_date;
    const text = await page.$eval("#observablehq-main", (m) => m.textContent);
    check(launch && text.includes(`launch date ${launch}`), "/before-after: prints the launch date the view carries", String(launch));
  }
  if (path === "/migration") {
    const mig = await viewData("segment_migration");
    const n = mig.rows.filter((d) => d.segmentation === "rfm" && d.hidden).length;
    const shown = await page.$$eval("svg g[aria-label=text] text", (ts) => ts.filter((t) => t.textContent === "hidden").length);
    check(n > 0 && shown === n, `/migration: each of the ${n} hidden rfm cells reads "hidden"`, `${shown} shown`);
  }
}

async function main() {
  await mkdir(shots, {recursive: true});
  const profile = await mkdtemp(join(tmpdir(), "segkpi-chromium-"));
  const {server, url} = await serve(dist);
  const origin = new URL(url).origin;
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--no-first-run", "--disable-quic"],
    viewport: {width: 1280, height: 900}
  });
  try {
    const pages = config.pages.map((p) => p.path);
    check(pages.length === Object.keys(EXPECT).length && pages.every((p) => p in EXPECT), "every configured page has its expectations", pages.join(" "));
    for (const path of pages) {
      const expect = EXPECT[path] ?? {charts: 1, tables: 0};
      const page = await browser.newPage();
      const problems = [], outside = [];
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      page.on("console", (m) => m.type() === "error" && problems.push(`console error: ${m.text()}`));
      page.on("requestfailed", (r) => !outside.includes(r.url()) && problems.push(`request failed: ${r.url()}`));
      await page.route("**/*", (route) => {
        const u = route.request().url();
        if (u.startsWith(origin + "/") || u.startsWith("data:") || u.startsWith("blob:")) return route.continue();
        outside.push(u);
        return route.abort();
      });
      const resp = await page.goto(new URL(`.${path === "/" ? "/" : `${path}.html`}`, url).href);
      check(resp && resp.ok(), `${path}: loads`, resp ? `HTTP ${resp.status()}` : "no response");
      await settle(page);
      checkView(path, path, await page.evaluate(inspect), expect);
      await checkHidden(page, path);
      await page.screenshot({path: join(shots, `${path === "/" ? "index" : path.slice(1)}.png`), fullPage: true});
      // Every segmentation the page offers must draw too.
      const radios = (await page.evaluate(inspect)).radios;
      for (const {value, label} of radios.slice(1)) {
        await page.locator(`#observablehq-main input[type=radio][value="${value}"]`).first().check();
        await settle(page);
        checkView(path, `${path} (${label})`, await page.evaluate(inspect), {...expect, tables: Math.min(expect.tables, 1)});
      }
      check(problems.length === 0, `${path}: no page or console error`, problems.join(" | "));
      check(outside.length === 0, `${path}: no request leaves the local server`, outside.join(" "));
      await page.close();
    }
  } finally {
    await browser.close();
    server.close();
    await rm(profile, {recursive: true, force: true});
  }
  console.log(`screenshots: ${shots}`);
}

try {
  await main();
} catch (e) {
  check(false, "browser check ran to the end", e.stack ?? String(e));
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
