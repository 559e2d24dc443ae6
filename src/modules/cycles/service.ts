// Cycle numbering (DESIGN §3): a device's first reading opens cycle 1; a reading that arrives more
// than the gap after the device's previous one opens the next. A cycle closes when the next opens
// or, checked on a timer, once the gap has passed with no data; closing publishes its summary.
import type { Clock } from "../../clock";
import type { Events } from "../../events";
import type { Sample } from "../readings/model";
import { METRICS, type CycleClosed, type CycleOpened, type CycleSummary, type Metric, type MetricStats } from "./model";

export interface RunningStats {
  min: number;
  max: number;
  sum: number;
  /** Readings that had a value for this metric (a failed or absent sensor has none). */
  n: number;
}

export interface CycleState {
  cipId: number;
  startedMs: number;
  lastMs: number;
  readings: number;
  closed: boolean;
  stats: Record<Metric, RunningStats>;
}

export interface Cycles {
  /** The cycle of a reading of `device` received at `ms`; publishes any cycle it closes or opens. */
  assign(device: string, ms: number, reading: Sample): number;
  get(device: string): CycleState | undefined;
  devices(): IterableIterator<[string, CycleState]>;
  /** Closes every open cycle whose device has been silent for longer than the gap. */
  closeIdle(ms: number): void;
  summary(device: string, cycle: CycleState): CycleSummary;
  /** Puts back a device's cycle as it was before a restart. */
  restore(device: string, state: CycleState): void;
}

export function emptyStats(): Record<Metric, RunningStats> {
  const stats = {} as Record<Metric, RunningStats>;
  for (const metric of METRICS) stats[metric] = { min: Infinity, max: -Infinity, sum: 0, n: 0 };
  return stats;
}

/** Min/avg/max over the readings that had a value (missing values are skipped, not counted as 0). */
export function finishStats(stats: RunningStats): MetricStats {
  if (stats.n === 0) return { min: null, avg: null, max: null };
  return { min: stats.min, avg: Math.round((stats.sum / stats.n) * 1e6) / 1e6, max: stats.max };
}

/** A cycle's summary from its times and counts and the min/avg/max of each metric (wherever they come from). */
export function summarise(
  device: string,
  cycle: Pick<CycleState, "cipId" | "startedMs" | "lastMs" | "readings" | "closed">,
  iso: (ms: number) => string,
  stats: Record<Metric, MetricStats>,
): CycleSummary {
  return {
    device,
    cip_id: cycle.cipId,
    open: !cycle.closed,
    started_at: iso(cycle.startedMs),
    ended_at: cycle.closed ? iso(cycle.lastMs) : null,
    last_reading_at: iso(cycle.lastMs),
    duration_s: (cycle.lastMs - cycle.startedMs) / 1000,
    readings: cycle.readings,
    ...stats,
  };
}

/** Counts a reading into its cycle: the running min/max/sum behind the cycle's summary. */
export function addToCycle(cycle: CycleState, ms: number, reading: Pick<Sample, Metric>): void {
  if (ms > cycle.lastMs) cycle.lastMs = ms;
  cycle.readings++;
  for (const metric of METRICS) {
    const stats = cycle.stats[metric];
    const value = reading[metric];
    if (value === null || value === undefined) continue;
    stats.n++;
    if (value < stats.min) stats.min = value;
    if (value > stats.max) stats.max = value;
    stats.sum += value;
  }
}

export function createCycles(deps: {
  gapMinutes: number;
  clock: Clock;
  events: Events;
  /** Called after a cycle's closing is published (the verdict follows it). */
  onClosed?: (device: string, cycle: CycleState) => void;
}): Cycles {
  const { clock, events } = deps;
  const gapMs = deps.gapMinutes * 60_000;
  const state = new Map<string, CycleState>();

  const summary = (device: string, cycle: CycleState): CycleSummary =>
    summarise(device, cycle, clock.iso, {
      temperature: finishStats(cycle.stats.temperature),
      pressure: finishStats(cycle.stats.pressure),
      concentration: finishStats(cycle.stats.concentration),
      flow: finishStats(cycle.stats.flow),
    });


  const open = (device: string, cipId: number, ms: number): CycleState => {
    const cycle: CycleState = { cipId, startedMs: ms, lastMs: ms, readings: 0, closed: false, stats: emptyStats() };
    state.set(device, cycle);
    const body: CycleOpened = { device, cip_id: cipId, started_at: clock.iso(ms), seq: events.nextSeq() };
    events.emit({ type: "cycle.opened", seq: body.seq, device, ms, json: JSON.stringify(body), cycle: { cipId, state: cycle } });
    return cycle;
  };

  const close = (device: string, cycle: CycleState, ms: number) => {
    cycle.closed = true;
    const body: CycleClosed = { ...summary(device, cycle), seq: events.nextSeq() };
    events.emit({ type: "cycle.closed", seq: body.seq, device, ms, json: JSON.stringify(body), cycle: { cipId: cycle.cipId, state: cycle, summary: body } });
    deps.onClosed?.(device, cycle);
  };

  return {
    assign(device, ms, reading) {
      let cycle = state.get(device);
      if (cycle === undefined) cycle = open(device, 1, ms);
      else if (ms - cycle.lastMs > gapMs) {
        if (!cycle.closed) close(device, cycle, ms);
        cycle = open(device, cycle.cipId + 1, ms);
      }
      addToCycle(cycle, ms, reading);
      return cycle.cipId;
    },
    get: (device) => state.get(device),
    devices: () => state.entries(),
    closeIdle(ms) {
      for (const [device, cycle] of state) if (!cycle.closed && ms - cycle.lastMs > gapMs) close(device, cycle, ms);
    },
    summary,
    restore: (device, cycle) => void state.set(device, cycle),
  };
}
