// Observable Framework configuration of segkpi's dashboard.
//
// The build must work with no network but the database: nothing here may
// point at a CDN or a web font.  Pages import Plot, Inputs and htl from
// node_modules (never the implicit npm: imports, which Framework fetches
// from a CDN), data loaders write JSON (never CSV, whose parser Framework
// would fetch), and globalStylesheets is empty (the default one loads web
// fonts).  test/dashboard/check.mjs fails on any request that leaves the
// local server, and test/dashboard/run.sh builds with no network at all.
import {existsSync, mkdirSync, readdirSync, readFileSync} from "node:fs";

// The build would still reach the network once per optional library:
// Framework's client bundle names, in lazy imports, every library a page
// may use implicitly (react-dom for JSX pages, d3-dsv for .csv(), the
// sample datasets, duckdb ...), and to write each such import's file name
// the build asks the npm registry for that library's current version,
// unless its version cache (a directory name@version per library) already
// has one.  None of those imports is used by these pages, and none is ever
// fetched or loaded; so the cache gets a placeholder version for each name
// that has none, and the build resolves them offline.
function seedNpmVersionCache() {
  const client = new URL("./node_modules/@observablehq/framework/dist/client/", import.meta.url);
  const cache = new URL("./src/.observablehq/cache/_npm/", import.meta.url);
  const names = new Set();
  const scan = (dir) => {
    for (const e of readdirSync(dir, {withFileTypes: true})) {
      if (e.isDirectory()) scan(new URL(`${e.name}/`, dir));
      else if (e.name.endsWith(".js"))
        for (const m of readFileSync(new URL(e.name, dir), "utf8").matchAll(/["']npm:((?:@[\w.-]+\/)?[\w.-]+)/g)) names.add(m[1]);
    }
  };
  if (!existsSync(client)) return;
  scan(client);
  for (const name of names) {
    const [scope, base] = name.startsWith("@") ? name.split("/") : [null, name];
    const dir = scope ? new URL(`${scope}/`, cache) : cache;
    if (existsSync(dir) && readdirSync(dir).some((e) => e.startsWith(`${base}@`))) continue;
    mkdirSync(new URL(`${base}@0.0.0-offline`, dir), {recursive: true});
  }
}
seedNpmVersionCache();

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
  preserveExtension: true
};
