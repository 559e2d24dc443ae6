// History routes: readings by time range (pages, CSV, downsampled) and cleaning cycles.
import { Elysia, t } from "elysia";
import type { Services } from "../../services";
import { ErrorBody } from "../../errors";
import { guard } from "../../http";
import { CycleList, CycleParams, CycleSummary, METRICS } from "../cycles/model";
import { DeviceParams, StoredReading } from "../readings/model";
import { BucketPage, CycleQuery, HistoryQuery, ReadingPage } from "./model";
import { csvCell, readingsCsv } from "./service";

const errors = { 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 422: ErrorBody };

// Typed `never`: Elysia sends a Response as it is, but cannot type an async handler that returns
// either one or the JSON its schema describes.
const csv = (body: string, filename: string, headers: Record<string, string> = {}): never =>
  new Response(body, {
    headers: { "content-type": "text/csv; charset=utf-8", "content-disposition": `attachment; filename="${filename}"`, ...headers },
  }) as never;

export function historyRoutes(s: Services) {
  const beforeHandle = guard(s.auth, "read");
  const history = s.history;

  return new Elysia({ name: "history" })
    .get(
      "/api/devices/:device/readings",
      async ({ params, query }) => {
        const { device } = params;
        if (query.bucket !== undefined) {
          const page = await history.buckets(device, { ...query, bucket: query.bucket });
          if (query.format !== "csv") return page;
          const header = ["start", "count", ...METRICS.flatMap((m) => [`${m}_min`, `${m}_avg`, `${m}_max`].map((c) => `${c} (${s.config.units[m]})`))].map(csvCell);
          const rows = page.buckets.map((b) =>
            [b.start, b.count, ...[b.temperature, b.pressure, b.concentration, b.flow].flatMap((m) => [m.min, m.avg, m.max])].join(","),
          );
          return csv([header.join(","), ...rows].join("\n") + "\n", `${device}-${query.bucket}.csv`);
        }
        const page = await history.readings(device, query);
        if (query.format !== "csv") return page;
        return csv(readingsCsv(page.readings, s.config.units), `${device}-readings.csv`, page.next ? { "x-next-cursor": page.next } : {});
      },
      {
        params: DeviceParams,
        query: HistoryQuery,
        beforeHandle,
        response: { 200: t.Union([ReadingPage, BucketPage]), ...errors },
        detail: {
          summary: "A device's readings over a time range",
          description:
            "Pages of up to `limit` rows; pass the answer's `next` as `cursor` for the following page. `format=csv` answers CSV (next cursor in the X-Next-Cursor header). `bucket=10s|1m|1h|…` answers min/avg/max per bucket instead of rows.",
          tags: ["history"],
        },
      },
    )
    .get("/api/devices/:device/cycles", async ({ params }) => ({ device: params.device, cycles: await history.cycles(params.device) }), {
      params: DeviceParams,
      beforeHandle,
      response: { 200: t.Composite([t.Object({ device: t.String() }), CycleList]), ...errors },
      detail: { summary: "A device's cleaning cycles, newest first, with min/avg/max of each metric", tags: ["history"] },
    })
    .get("/api/devices/:device/cycles/:cip_id", ({ params }) => history.cycle(params.device, params.cip_id), {
      params: CycleParams,
      beforeHandle,
      response: { 200: CycleSummary, ...errors },
      detail: { summary: "One cleaning cycle: start, end (or open), duration, reading count, min/avg/max", tags: ["history"] },
    })
    .get(
      "/api/devices/:device/cycles/:cip_id/readings",
      async ({ params, query }) => {
        const rows = await history.cycleReadings(params.device, params.cip_id);
        if (query.format === "csv") return csv(readingsCsv(rows, s.config.units), `${params.device}-cycle-${params.cip_id}.csv`);
        return { device: params.device, cip_id: params.cip_id, readings: rows };
      },
      {
        params: CycleParams,
        query: CycleQuery,
        beforeHandle,
        response: { 200: t.Object({ device: t.String(), cip_id: t.Integer(), readings: t.Array(StoredReading) }), ...errors },
        detail: { summary: "Every reading of one cleaning cycle (JSON or CSV): the full record", tags: ["history"] },
      },
    );
}
