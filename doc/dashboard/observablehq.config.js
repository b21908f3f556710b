// Observable Framework configuration of segkpi's dashboard.
//
// The build must work with no network but the database: nothing here may
// point at a CDN or a web font.  Pages import Plot, Inputs and htl from
// node_modules (never the implicit npm: imports, which Framework fetches
// from a CDN), data loaders write JSON (never CSV, whose parser Framework
// would fetch), and globalStylesheets is empty (the default one loads web
// fonts).  test/dashboard/check.mjs fails on any request that leaves the
// local server.
export default {
  title: "segkpi",
  root: "src",
  output: "dist",
  pages: [
    {name: "Segments", path: "/"},
    {name: "KPIs per segment", path: "/kpis"},
    {name: "Trends", path: "/trends"},
    {name: "Migration", path: "/migration"},
    {name: "RFM grid", path: "/rfm-grid"},
    {name: "Clusters", path: "/clusters"},
    {name: "Before / after", path: "/before-after"}
  ],
  globalStylesheets: [],
  style: "style.css",
  search: false,
  toc: false,
  pager: false,
  footer: "segkpi dashboard: read as the dashboard role from the segkpi views only (aggregates; small cells hidden).",
  cleanUrls: false
};
