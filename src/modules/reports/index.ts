// Cycle validation routes: assign a recipe, list alarms, and the cycle report (JSON, CSV, printable HTML).
import { Elysia, t } from "elysia";
import type { Services } from "../../services";
import { jsonBody } from "../../body";
import { ApiError, ErrorBody } from "../../errors";
import { guard, pageHeaders } from "../../http";
import { CycleParams } from "../cycles/model";
import { parseTime } from "../history/service";
import { DeviceSettings } from "../recipes/model";
import { DeviceParams } from "../readings/model";
import { reportHtml } from "./html";
import { reportCsv } from "./service";

const errors = { 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 422: ErrorBody };

export function reportRoutes(s: Services) {
  const read = guard(s.auth, "read");
  const write = guard(s.auth, "ingest");
  const noRecipes = () =>
    new ApiError(404, "no_recipes", "Cycle validation is off: start the server with RECIPES_FILE (see `sensorflow recipes --example`).");

  return new Elysia({ name: "reports" })
    .put(
      "/api/devices/:device",
      async ({ params, body }) => {
        if (!s.recipes) throw noRecipes();
        if (body.recipe !== null && !s.recipes.file.recipes[body.recipe]) {
          const known = Object.keys(s.recipes.file.recipes).join(", ");
          throw new ApiError(422, "unknown_recipe", `There is no recipe "${body.recipe}"; known: ${known}.`, [{ field: "recipe", message: "not in RECIPES_FILE" }]);
        }
        s.recipes.assign(params.device, body.recipe);
        await s.store.saveRecipe(params.device, body.recipe);
        return { device: params.device, recipe: body.recipe };
      },
      {
        params: DeviceParams,
        body: DeviceSettings,
        parse: jsonBody(),
        beforeHandle: write,
        response: { 200: t.Object({ device: t.String(), recipe: t.Union([t.String(), t.Null()]) }), ...errors },
        detail: { summary: "Assign a recipe to a device (write key)", tags: ["validation"] },
      },
    )
    .get(
      "/api/devices/:device/alarms",
      async ({ params, query }) => {
        const active = s.alarms.active(params.device);
        if (query.active === "true") return { device: params.device, alarms: active };
        const frames = await s.store.events(params.device, "alarm.", parseTime(query.from, "from"), parseTime(query.to, "to"), 10_000);
        return { device: params.device, active, events: frames.map((f) => JSON.parse(f) as Record<string, unknown>) };
      },
      {
        params: DeviceParams,
        query: t.Object(
          { from: t.Optional(t.String()), to: t.Optional(t.String()), active: t.Optional(t.Union([t.Literal("true"), t.Literal("false")])) },
          { additionalProperties: true },
        ),
        beforeHandle: read,
        response: { 401: ErrorBody, 403: ErrorBody, 422: ErrorBody },
        detail: {
          summary: "A device's alarms: raised and cleared events over a time range, and the active ones",
          description: "`?active=true` answers only the alarms active now.",
          tags: ["validation"],
        },
      },
    )
    .get(
      "/api/devices/:device/cycles/:cip_id/report",
      async ({ params, query, set }) => {
        if (!s.recipes) throw noRecipes();
        const report = await s.reports.build(params.device, params.cip_id);
        if (query.format === "csv") {
          return new Response(reportCsv(report), {
            headers: { "content-type": "text/csv; charset=utf-8", "content-disposition": `attachment; filename="report-${report.report_number}.csv"` },
          });
        }
        if (query.format === "html") {
          pageHeaders({ set });
          set.headers["content-type"] = "text/html; charset=utf-8";
          return reportHtml(report);
        }
        return report;
      },
      {
        params: CycleParams,
        query: t.Object({ format: t.Optional(t.Union([t.Literal("json"), t.Literal("csv"), t.Literal("html")])) }, { additionalProperties: true }),
        beforeHandle: read,
        response: { 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 422: ErrorBody },
        detail: {
          summary: "The cycle report: per-phase TACT against the recipe, alarms, verdicts, SHA-256 of the readings",
          description: "`format=csv` for a spreadsheet, `format=html` for a printable page. A report of a still-open cycle is marked provisional.",
          tags: ["validation"],
        },
      },
    );
}
