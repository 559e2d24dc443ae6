// Numbering and publishing of everything that goes out on the streams. `seq` only grows across all
// events of this server, so a client can say what it saw last. Each event is serialised once; its
// stream frame is that JSON with a `type` field appended, identical on every topic it goes to.
import type { Bus } from "./bus";

export const TOPIC = {
  readings: "readings",
  cycles: "cycles",
  alarms: "alarms",
  device: (device: string) => `devices/${device}`,
} as const;

export interface Events {
  nextSeq(): number;
  lastSeq(): number;
  /** `json` must be a JSON object's text; it is sent on each topic with `"type"` added. */
  emit(topics: readonly string[], type: string, seq: number, json: string): void;
}

export function createEvents(bus: Bus, startSeq = 0): Events {
  let seq = startSeq;
  return {
    nextSeq: () => ++seq,
    lastSeq: () => seq,
    emit(topics, type, eventSeq, json) {
      const event = { seq: eventSeq, type, frame: `${json.slice(0, -1)},"type":"${type}"}` };
      for (const topic of topics) bus.publish(topic, event);
    },
  };
}
