import { t } from "elysia";

export const METRICS = ["temperature", "pressure", "concentration", "flow"] as const;
export type Metric = (typeof METRICS)[number];

export const MetricStats = t.Object({
  min: t.Union([t.Number(), t.Null()]),
  avg: t.Union([t.Number(), t.Null()]),
  max: t.Union([t.Number(), t.Null()]),
});
export type MetricStats = typeof MetricStats.static;

/** A cleaning cycle as reported: when it ran, how many readings, and min/avg/max of each metric. */
export const CycleSummary = t.Object({
  device: t.String(),
  cip_id: t.Integer(),
  open: t.Boolean({ description: "true while the cycle may still get readings" }),
  started_at: t.String({ description: "receive time of the cycle's first reading" }),
  ended_at: t.Union([t.String(), t.Null()], { description: "receive time of its last reading; null while open" }),
  last_reading_at: t.String(),
  duration_s: t.Number({ description: "first to last reading" }),
  readings: t.Integer(),
  temperature: MetricStats,
  pressure: MetricStats,
  concentration: MetricStats,
  flow: MetricStats,
  verdict: t.Optional(t.Union([t.Literal("PASS"), t.Literal("CAUTION"), t.Literal("FAIL")], { description: "with a recipe: the closed cycle's verdict" })),
});
export type CycleSummary = typeof CycleSummary.static;
export const CycleList = t.Object({ cycles: t.Array(CycleSummary) });

export const CycleOpened = t.Object({
  device: t.String(),
  cip_id: t.Integer(),
  started_at: t.String(),
  seq: t.Integer(),
});
export type CycleOpened = typeof CycleOpened.static;

export const CycleClosed = t.Composite([CycleSummary, t.Object({ seq: t.Integer() })]);
export type CycleClosed = typeof CycleClosed.static;

export const CycleParams = t.Object({
  device: t.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$" }),
  cip_id: t.Integer({ minimum: 1, description: "cycle number" }),
});
