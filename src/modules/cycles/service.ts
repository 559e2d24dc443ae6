// Cycle numbering (DESIGN §3): a device's first reading opens cycle 1; a reading that arrives more
// than the gap after the device's previous one closes the running cycle and opens the next.
import type { Clock } from "../../clock";
import { TOPIC, type Events } from "../../events";
import type { CycleClosed, CycleOpened } from "./model";

export interface CycleState {
  cipId: number;
  startedMs: number;
  lastMs: number;
  readings: number;
}

export interface Cycles {
  /** The cycle number of a reading of `device` received at `ms`; publishes any cycle it opens or closes. */
  assign(device: string, ms: number): number;
  get(device: string): CycleState | undefined;
  devices(): IterableIterator<[string, CycleState]>;
}

export function createCycles(deps: { gapMinutes: number; clock: Clock; events: Events }): Cycles {
  const { clock, events } = deps;
  const gapMs = deps.gapMinutes * 60_000;
  const state = new Map<string, CycleState>();

  const publish = (device: string, type: string, body: CycleOpened | CycleClosed) =>
    events.emit([TOPIC.cycles, TOPIC.device(device)], type, body.seq, JSON.stringify(body));

  const open = (device: string, cipId: number, ms: number): CycleState => {
    const cycle = { cipId, startedMs: ms, lastMs: ms, readings: 0 };
    state.set(device, cycle);
    publish(device, "cycle.opened", { device, cip_id: cipId, started_at: clock.iso(ms), seq: events.nextSeq() });
    return cycle;
  };

  const close = (device: string, cycle: CycleState) =>
    publish(device, "cycle.closed", {
      device,
      cip_id: cycle.cipId,
      started_at: clock.iso(cycle.startedMs),
      ended_at: clock.iso(cycle.lastMs),
      duration_s: (cycle.lastMs - cycle.startedMs) / 1000,
      readings: cycle.readings,
      seq: events.nextSeq(),
    });

  return {
    assign(device, ms) {
      let cycle = state.get(device);
      if (cycle === undefined) cycle = open(device, 1, ms);
      else if (ms - cycle.lastMs > gapMs) {
        close(device, cycle);
        cycle = open(device, cycle.cipId + 1, ms);
      }
      cycle.lastMs = ms;
      cycle.readings++;
      return cycle.cipId;
    },
    get: (device) => state.get(device),
    devices: () => state.entries(),
  };
}
