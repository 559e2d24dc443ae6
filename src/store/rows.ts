// Rows as both SQL stores (SQLite and PostgreSQL) read them back: the same columns, the same shapes.
import { emptyStats, type RunningStats } from "../modules/cycles/service";
import { METRICS, type Metric, type MetricStats } from "../modules/cycles/model";
import type { StoredReading } from "../modules/readings/model";

export type ReadingRow = Omit<StoredReading, "phase" | "phase_source" | "faults"> & {
  phase: string | null;
  phase_source: "sent" | "inferred" | null;
  /** Comma-separated metrics whose sensor failed, or null. */
  faults: string | null;
};

/** The faults column of a stored reading. */
export const faultsColumn = (reading: StoredReading): string | null => (reading.faults && reading.faults.length > 0 ? reading.faults.join(",") : null);

/** A row as the stored reading it was: the phase fields only where a recipe gave them. */
export function readingOf(row: ReadingRow): StoredReading {
  const reading: StoredReading = {
    temperature: row.temperature,
    pressure: row.pressure,
    concentration: row.concentration,
    flow: row.flow,
    timestamp: row.timestamp,
    cip_id: row.cip_id,
    device: row.device,
    seq: row.seq,
  };
  if (row.phase_source !== null) {
    reading.phase = row.phase;
    reading.phase_source = row.phase_source;
  }
  if (row.faults) reading.faults = row.faults.split(",");
  return reading;
}

export type StatsRow = Record<`${"min" | "avg" | "max" | "n"}_${Metric}`, number | null> & { count: number };

// SQL's aggregates skip NULL (a failed sensor): n_<metric> counts the values that are there.
export const statsColumns = METRICS.map((m) => `MIN(${m}) AS min_${m}, AVG(${m}) AS avg_${m}, MAX(${m}) AS max_${m}, COUNT(${m}) AS n_${m}`).join(", ");

export function statsOf(row: StatsRow): Record<Metric, MetricStats> {
  const out = {} as Record<Metric, MetricStats>;
  for (const m of METRICS) {
    const avg = row[`avg_${m}`];
    out[m] = { min: row[`min_${m}`], avg: avg === null ? null : Math.round(avg * 1e6) / 1e6, max: row[`max_${m}`] };
  }
  return out;
}

/** An open cycle's running stats rebuilt from its rows, so it carries on after a restart. */
export function runningStatsOf(row: StatsRow): Record<Metric, RunningStats> {
  const stats = emptyStats();
  for (const m of METRICS) {
    const n = Number(row[`n_${m}`] ?? 0);
    stats[m] = { min: row[`min_${m}`] ?? Infinity, max: row[`max_${m}`] ?? -Infinity, sum: (row[`avg_${m}`] ?? 0) * n, n };
  }
  return stats;
}
