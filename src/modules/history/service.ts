// History queries: time ranges, pages, CSV, downsampling and cycle records, on whichever store is on.
import type { Clock } from "../../clock";
import { ApiError } from "../../errors";
import type { Store } from "../../store/types";
import { METRICS, type Metric } from "../cycles/model";
import type { Cycles } from "../cycles/service";
import type { CycleSummary } from "../cycles/model";
import type { StoredReading } from "../readings/model";
import type { HistoryQuery } from "./model";

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const MAX_BUCKETS = 10_000;

/** ISO 8601 (with or without offset) or epoch milliseconds; a 422 naming the field otherwise. */
export function parseTime(text: string | undefined, field: string): number | undefined {
  if (text === undefined || text === "") return undefined;
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) {
    const message = `"${text}" is not a time: use ISO 8601 (2024-01-15T10:30:00-03:00) or epoch milliseconds.`;
    throw new ApiError(422, "invalid_query", message, [{ field, message }]);
  }
  return ms;
}

export function bucketMs(text: string): number {
  const unit = text.slice(-1) as keyof typeof UNIT_MS;
  return Number(text.slice(0, -1)) * UNIT_MS[unit];
}

export type Units = Record<Metric, string>;

/** A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break, quotes doubled. */
export const csvCell = (value: unknown): string => {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};

/** Each metric's column names its unit; an empty cell is a missing value (the sensor failed: see `faults`). */
export const metricHeader = (metric: Metric, units: Units) => `${metric} (${units[metric]})`;

export function readingsCsv(rows: StoredReading[], units: Units): string {
  const lines = [["timestamp", "device", "cip_id", "seq", ...METRICS.map((m) => metricHeader(m, units)), "faults"].map(csvCell).join(",")];
  for (const r of rows) {
    lines.push([r.timestamp, r.device, r.cip_id, r.seq, r.temperature, r.pressure, r.concentration, r.flow, r.faults?.join(",")].map(csvCell).join(","));
  }
  return lines.join("\n") + "\n";
}

export function createHistory(deps: { store: Store; cycles: Cycles; clock: Clock }) {
  const { store, cycles, clock } = deps;

  const requireHistory = () => {
    if (!store.history) {
      throw new ApiError(404, "history_off", "History is off (STORAGE=memory): only the latest values are kept. Start with STORAGE=sqlite to keep readings.");
    }
  };

  return {
    async readings(device: string, q: HistoryQuery) {
      requireHistory();
      const limit = q.limit ?? 1000;
      const rows = await store.readings({
        device,
        fromMs: parseTime(q.from, "from"),
        toMs: parseTime(q.to, "to"),
        order: q.order ?? "asc",
        limit: limit + 1,
        after: q.cursor === undefined ? undefined : Number(q.cursor),
      });
      const more = rows.length > limit;
      if (more) rows.length = limit;
      return { device, readings: rows, next: more ? String(rows[rows.length - 1]!.seq) : null };
    },

    async buckets(device: string, q: HistoryQuery & { bucket: string }) {
      requireHistory();
      const size = bucketMs(q.bucket);
      const rows = await store.buckets({ device, fromMs: parseTime(q.from, "from"), toMs: parseTime(q.to, "to") }, size, MAX_BUCKETS);
      return {
        device,
        bucket: q.bucket,
        buckets: rows.map((b) => ({ start: clock.iso(b.startMs), count: b.count, ...b.stats })),
      };
    },

    /** Newest first; the running cycle comes from memory, so it is never stale. */
    async cycles(device: string): Promise<CycleSummary[]> {
      const current = cycles.get(device);
      const live = current ? cycles.summary(device, current) : undefined;
      if (!store.history) return live ? [live] : [];
      const stored = await store.cycles(device, 10_000);
      // A closed cycle's stored row is the complete one (it carries the verdict).
      if (!live || (current!.closed && stored.some((c) => c.cip_id === live.cip_id && !c.open))) return stored;
      return [live, ...stored.filter((c) => c.cip_id !== live.cip_id)];
    },

    async cycle(device: string, cipId: number): Promise<CycleSummary> {
      const current = cycles.get(device);
      if (current && current.cipId === cipId) {
        const stored = current.closed && store.history ? await store.cycle(device, cipId) : undefined;
        return stored && !stored.open ? stored : cycles.summary(device, current);
      }
      const stored = store.history ? await store.cycle(device, cipId) : undefined;
      if (!stored) throw new ApiError(404, "no_cycle", `Device "${device}" has no cycle ${cipId}.`);
      return stored;
    },

    async cycleReadings(device: string, cipId: number): Promise<StoredReading[]> {
      requireHistory();
      await this.cycle(device, cipId);
      return store.readings({ device, cipId, order: "asc", limit: 10_000_000 });
    },
  };
}
export type History = ReturnType<typeof createHistory>;
