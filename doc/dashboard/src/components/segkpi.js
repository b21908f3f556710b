// components/segkpi.js - what the pages share: the "data as of" line,
// number formats, segment order, and a table that shows a hidden cell as
// "hidden" (never as 0 or blank).  Every view row carries its own as_of and
// snapshot_id; a page prints the ones its figures come from.
import {html} from "htl";

// RFM's default segments, best first; other segmentations sort by name.
const RFM_ORDER = [
  "Champions", "Loyal Customers", "Potential Loyalist", "New Customers", "Promising",
  "Need Attention", "About To Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost"
];

export function segmentOrder(names) {
  const rank = (s) => {
    const i = RFM_ORDER.indexOf(s);
    return s === "(all)" ? 1e9 : s === "(none)" ? 1e9 - 1 : i >= 0 ? i : 1000;
  };
  return [...new Set(names)].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b, "en", {numeric: true}));
}

export function segmentations(rows) {
  return [...new Set(rows.map((d) => d.segmentation))].sort((a, b) => (a === "rfm" ? -1 : b === "rfm" ? 1 : a.localeCompare(b)));
}

// The "data as of" line: which snapshot, which period, complete or not.
export function asOf(rows, {period = true} = {}) {
  if (!rows.length) return html`<p class="asof">no data: the view is empty (run segkpi.refresh())</p>`;
  const snaps = [...new Set(rows.map((d) => `${d.as_of}|${d.snapshot_id}`))];
  const [as_of, snapshot_id] = snaps[snaps.length - 1].split("|");
  const r = rows[rows.length - 1];
  const p = period && r.period_start
    ? html` · period ${r.period_start} to ${r.period_end} (exclusive), ${rows.every((d) => d.complete) ? "complete" : html`<strong>partial: figures to date</strong>`}`
    : "";
  return html`<p class="asof">Data as of <strong data-asof>${as_of}</strong> (snapshot ${snapshot_id})${p}</p>`;
}

const nf = (digits) => new Intl.NumberFormat("en-US", {maximumFractionDigits: digits, minimumFractionDigits: digits});
const int = nf(0), two = nf(2), one = nf(1);

export const formats = {
  count: (v) => int.format(v),
  money: (v) => two.format(v),
  ratio: (v) => two.format(v),
  percent: (v) => `${one.format(100 * v)} %`,
  score: (v) => two.format(v)
};

export function format(kind, v) {
  if (v === null || v === undefined) return "–";
  return (formats[kind] ?? String)(v);
}

// table(rows, spec, comments): spec is [{name, label, kind}], kind one of
// formats or "text".  A hidden row shows "hidden" in every measure cell.
// comments maps a column to its COMMENT (the header's tooltip).
export function table(rows, spec, comments = {}) {
  const head = spec.map((c) => html`<th class=${c.kind === "text" ? "" : "num"} title=${comments[c.name] ?? ""}>${c.label ?? c.name}</th>`);
  const body = rows.map((d) => html`<tr class=${d.segment === "(all)" ? "total" : ""}>${spec.map((c) =>
    c.kind === "text"
      ? html`<td>${d[c.name]}</td>`
      : d.hidden
        ? html`<td class="num sk-hidden">hidden</td>`
        : html`<td class="num">${format(c.kind, d[c.name])}</td>`)}</tr>`);
  return html`<div class="sk-scroll"><table class="sk"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}

export function comments(data) {
  return Object.fromEntries(data.columns.map((c) => [c.name, c.comment]));
}

// A note under a chart that names the hidden cells it cannot draw.
export function hiddenNote(rows, label) {
  const h = rows.filter((d) => d.hidden);
  if (!h.length) return html`<p class="asof">No hidden cells.</p>`;
  return html`<p class="asof"><span class="sk-hidden">hidden</span> (fewer customers than settings.min_segment_size, or hidden with such a cell): ${h.map(label).join(", ")}</p>`;
}

// The KPI columns of kpi_latest / kpi_history, in reading order.
export const KPIS = [
  {name: "customers", label: "customers", kind: "count"},
  {name: "share", label: "share", kind: "percent"},
  {name: "active_customers", label: "active", kind: "count"},
  {name: "new_customers", label: "new", kind: "count"},
  {name: "revenue", label: "revenue", kind: "money"},
  {name: "orders", label: "orders", kind: "count"},
  {name: "aov", label: "AOV", kind: "money"},
  {name: "purchase_frequency", label: "purchase frequency", kind: "ratio"},
  {name: "retention_rate", label: "retention", kind: "percent"},
  {name: "churn_rate", label: "churn", kind: "percent"},
  {name: "cac", label: "CAC", kind: "money"},
  {name: "conversion_rate", label: "conversion", kind: "percent"},
  {name: "cltv_historical", label: "CLTV (historical)", kind: "money"},
  {name: "cltv_formula", label: "CLTV (formula)", kind: "money"},
  {name: "roi", label: "ROI", kind: "percent"},
  {name: "marketing_roi", label: "marketing ROI", kind: "percent"},
  {name: "csat", label: "CSAT", kind: "score"}
];

// Text on a dark cell of a log colour scale reads in white.
export function darkOnLog(values) {
  const v = values.filter((x) => x > 0);
  const lo = Math.log(Math.min(...v)), hi = Math.log(Math.max(...v));
  return (x) => x > 0 && Math.log(x) > lo + 0.6 * (hi - lo);
}
