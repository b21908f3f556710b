#!/usr/bin/env node
// serve.mjs - serves the built dashboard (dist/) on the loopback interface.
//
//   node doc/dashboard/serve.mjs [dir] [port]     default: dist beside this file, 3000
//
// The built pages are ES modules, which browsers refuse to load from
// file:// URLs, hence a server.  Static files only, nothing outside the
// directory, bound to 127.0.0.1.  test/dashboard/check.mjs imports serve().
import {createServer} from "node:http";
import {readFile, stat} from "node:fs/promises";
import {extname, join, normalize, resolve, sep} from "node:path";
import {fileURLToPath} from "node:url";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon"
};

async function resolveFile(root, urlPath) {
  let rel = normalize(decodeURIComponent(urlPath.split("?")[0])).replace(/^([/\\])+/, "");
  let file = join(root, rel);
  if (file !== root && !file.startsWith(root + sep)) return null;
  try {
    if ((await stat(file)).isDirectory()) file = join(file, "index.html");
    else return file;
    await stat(file);
    return file;
  } catch {
    // clean URLs: /kpis serves kpis.html
    try {
      await stat(file + ".html");
      return file + ".html";
    } catch {
      return null;
    }
  }
}

export function serve(dir, port = 0) {
  const root = resolve(dir);
  const server = createServer(async (req, res) => {
    const file = await resolveFile(root, req.url ?? "/");
    if (!file) {
      res.writeHead(404, {"content-type": "text/plain"}).end("not found\n");
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, {"content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store"}).end(body);
    } catch {
      res.writeHead(404, {"content-type": "text/plain"}).end("not found\n");
    }
  });
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, "127.0.0.1", () => ok({server, url: `http://127.0.0.1:${server.address().port}/`}));
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const here = fileURLToPath(new URL(".", import.meta.url));
  const dir = process.argv[2] ?? join(here, "dist");
  const {url} = await serve(dir, Number(process.argv[3] ?? 3000));
  console.log(`segkpi dashboard: ${url} (serving ${resolve(dir)}; Ctrl-C stops)`);
}
