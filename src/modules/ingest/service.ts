// The hot path: stamp, number, keep, publish. Everything here is synchronous, so a reading is
// published before the 201 leaves and no await separates receiving it from publishing it.
import type { Clock } from "../../clock";
import type { Metrics } from "../../metrics";
import { TOPIC, type Events } from "../../events";
import type { Cycles } from "../cycles/service";
import type { ReadingInput, StoredReading } from "../readings/model";
import type { LatestStore } from "../readings/service";

export interface Ingest {
  /** Stores and publishes readings of one device received now; returns each stored reading's JSON. */
  accept(device: string, inputs: readonly ReadingInput[]): string[];
}

export function createIngest(deps: {
  clock: Clock;
  cycles: Cycles;
  latest: LatestStore;
  events: Events;
  metrics: Pick<Metrics, "accepted">;
}): Ingest {
  const { clock, cycles, latest, events, metrics } = deps;
  const topicsOf = new Map<string, readonly string[]>();

  return {
    accept(device, inputs) {
      const ms = clock.now();
      const timestamp = clock.iso(ms);
      let topics = topicsOf.get(device);
      if (topics === undefined) topicsOf.set(device, (topics = [TOPIC.readings, TOPIC.device(device)]));
      const out: string[] = [];
      for (const input of inputs) {
        const cip_id = cycles.assign(device, ms, input);
        const seq = events.nextSeq();
        const reading: StoredReading = {
          temperature: input.temperature,
          pressure: input.pressure,
          concentration: input.concentration,
          flow: input.flow,
          timestamp,
          cip_id,
          device,
          seq,
        };
        const json = JSON.stringify(reading);
        latest.set(device, { reading, json });
        // The cycle rides along so the store keeps its counters with the reading.
        events.emit(topics, { type: "reading", seq, device, ms, json, reading, cycle: { cipId: cip_id, state: cycles.get(device)! } });
        out.push(json);
      }
      metrics.accepted(out.length);
      return out;
    },
  };
}
