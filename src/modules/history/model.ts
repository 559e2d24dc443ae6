import { t } from "elysia";
import { StoredReading } from "../readings/model";
import { MetricStats } from "../cycles/model";

export const HistoryQuery = t.Object({
  from: t.Optional(t.String({ description: "start, inclusive: ISO 8601 or epoch milliseconds", examples: ["2024-01-15T10:00:00-03:00"] })),
  to: t.Optional(t.String({ description: "end, exclusive: ISO 8601 or epoch milliseconds" })),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 10_000, description: "rows per page (default 1,000)" })),
  order: t.Optional(t.Union([t.Literal("asc"), t.Literal("desc")], { description: "asc (oldest first, default) or desc" })),
  cursor: t.Optional(t.String({ pattern: "^[0-9]+$", description: "the `next` value of the previous page" })),
  format: t.Optional(t.Union([t.Literal("json"), t.Literal("csv")])),
  bucket: t.Optional(t.String({ pattern: "^[1-9][0-9]*(s|m|h|d)$", description: "downsample: min/avg/max per bucket, e.g. 10s, 1m, 1h" })),
  "api-key": t.Optional(t.String()),
}, { additionalProperties: true });
export type HistoryQuery = typeof HistoryQuery.static;

export const ReadingPage = t.Object({
  device: t.String(),
  readings: t.Array(StoredReading),
  next: t.Union([t.String(), t.Null()], { description: "cursor for the next page; null on the last" }),
});

export const BucketRow = t.Object({
  start: t.String({ description: "bucket start, ISO 8601" }),
  count: t.Integer(),
  temperature: MetricStats,
  pressure: MetricStats,
  concentration: MetricStats,
  flow: MetricStats,
});
export const BucketPage = t.Object({
  device: t.String(),
  bucket: t.String(),
  buckets: t.Array(BucketRow),
});

export const CycleQuery = t.Object({
  format: t.Optional(t.Union([t.Literal("json"), t.Literal("csv")])),
  "api-key": t.Optional(t.String()),
}, { additionalProperties: true });
