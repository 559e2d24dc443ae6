// GET / serves the dashboard. Every asset comes from this server (embedded in the executable):
// the page, its stylesheet, its script (TypeScript, transpiled once at start-up) and uPlot.
import { Elysia } from "elysia";
import { readFileSync } from "node:fs";
import { PAGE } from "./page";
import stylePath from "./style.css" with { type: "file" };
// @ts-expect-error -- embedded as a file (its path); the type checker sees app.ts as a browser module.
import appPath from "./app.ts" with { type: "file" };
import uplotScript from "../../../node_modules/uplot/dist/uPlot.iife.min.js" with { type: "file" };
import uplotStyle from "../../../node_modules/uplot/dist/uPlot.min.css" with { type: "file" };
import faviconPath from "./favicon.ico" with { type: "file" };
import { pageHeaders } from "../../http";
import type { Metric } from "../cycles/model";

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

export function dashboardRoutes(units: Record<Metric, string>) {
  // The page shows this plant's units (UNIT_<METRIC>), written in once.
  const page = PAGE.replace(/<span class="unit" data-unit="(\w+)">[^<]*<\/span>/g, (_, metric: Metric) => `<span class="unit" data-unit="${metric}">${escapeHtml(units[metric])}</span>`);
  // Transpiled once, on the first request for it (a server nobody opens in a browser never pays for it).
  let script: string | undefined;
  const appScript = () =>
    (script ??= new Bun.Transpiler({ loader: "ts", target: "browser" }).transformSync(readFileSync(appPath as string, "utf8")));
  const asset = (body: string | Blob, type: string) => () =>
    new Response(body, { headers: { "content-type": type, "cache-control": "no-cache" } });
  return new Elysia({ name: "dashboard" })
    .onAfterHandle(pageHeaders)
    .get("/", asset(page, "text/html; charset=utf-8"), { detail: { hide: true } })
    .get("/dashboard/app.js", () => asset(appScript(), JS)(), { detail: { hide: true } })
    .get("/dashboard/style.css", asset(Bun.file(stylePath), CSS), { detail: { hide: true } })
    .get("/dashboard/uplot.js", asset(Bun.file(uplotScript), JS), { detail: { hide: true } })
    .get("/dashboard/uplot.css", asset(Bun.file(uplotStyle), CSS), { detail: { hide: true } })
    // Browsers ask for it on every page: an answer, not a 404 in the log.
    .get("/favicon.ico", () => new Response(Bun.file(faviconPath), { headers: { "content-type": "image/x-icon", "cache-control": "public, max-age=86400" } }), {
      detail: { hide: true },
    });
}
