// Stream entries (see script.ts) back into events. Every instance turns the same entry into the same
// bytes, so a subscriber gets identical frames whichever instance it is connected to, live or replayed.
import type { Emitted } from "../events";
import { emptyStats, finishStats, summarise, type CycleState } from "../modules/cycles/service";
import { METRICS, type CycleClosed, type CycleOpened, type Metric } from "../modules/cycles/model";
import type { StoredReading } from "../modules/readings/model";

/** "cip|started|last|n|closed" as the script reports a device's cycle after each event. */
export function cycleOf(text: string): CycleState {
  const [cip, started, last, n, closed] = text.split("|");
  return { cipId: Number(cip), startedMs: Number(started), lastMs: Number(last), readings: Number(n), closed: closed === "1", stats: emptyStats() };
}

/** A closed cycle's state as the script wrote it: times, count, and min/max/sum/count of each metric. */
function closedState(payload: string): CycleState {
  const parts = payload.split("|");
  const stats = emptyStats();
  METRICS.forEach((metric: Metric, i) => {
    const [min, max, sum, n] = parts.slice(4 + i * 4, 8 + i * 4);
    stats[metric] = { min: min === "" ? Infinity : Number(min), max: max === "" ? -Infinity : Number(max), sum: Number(sum), n: Number(n) };
  });
  return { cipId: Number(parts[0]), startedMs: Number(parts[1]), lastMs: Number(parts[2]), readings: Number(parts[3]), closed: true, stats };
}

/**
 * The event an entry stands for. `cycle` is the device's cycle after the event when the caller knows it
 * (the instance that ran the script); a reader of the stream passes its own copy.
 */
export function eventOf(type: string, seq: number, device: string, payload: string, iso: (ms: number) => string, cycle?: CycleState): Emitted {
  if (type === "reading") {
    const reading = JSON.parse(payload) as StoredReading;
    const ms = Date.parse(reading.timestamp);
    return { type, seq, device, ms, json: payload, reading, ...(cycle && { cycle: { cipId: reading.cip_id, state: cycle } }) };
  }
  if (type === "cycle.opened") {
    const [cip, started] = payload.split("|").map(Number) as [number, number];
    const body: CycleOpened = { device, cip_id: cip, started_at: iso(started), seq };
    const state = cycle ?? { cipId: cip, startedMs: started, lastMs: started, readings: 0, closed: false, stats: emptyStats() };
    return { type, seq, device, ms: started, json: JSON.stringify(body), cycle: { cipId: cip, state } };
  }
  // cycle.closed: the same summary a single instance publishes.
  const state = closedState(payload);
  const stats = {} as Record<Metric, ReturnType<typeof finishStats>>;
  for (const metric of METRICS) stats[metric] = finishStats(state.stats[metric]);
  const body: CycleClosed = { ...summarise(device, state, iso, stats), seq };
  return { type, seq, device, ms: state.lastMs, json: JSON.stringify(body), cycle: { cipId: state.cipId, state, summary: body } };
}
