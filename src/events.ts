// Numbering, publishing and recording of everything that goes out on the streams. `seq` only grows
// across all events of this server (and across restarts, when history is on), so a client can say
// what it saw last. Each event is serialised once; its stream frame is that JSON with a `type`
// field appended, identical on every topic it goes to and in the replay record.
import type { Bus } from "./bus";
import type { CycleState } from "./modules/cycles/service";
import type { CycleClosed } from "./modules/cycles/model";
import type { StoredReading } from "./modules/readings/model";

export const TOPIC = {
  readings: "readings",
  cycles: "cycles",
  alarms: "alarms",
  device: (device: string) => `devices/${device}`,
} as const;

const familyOf = (type: string) => (type === "reading" ? TOPIC.readings : type.startsWith("cycle.") ? TOPIC.cycles : TOPIC.alarms);

/** The topics an event of `type` about `device` is published on: the one rule for live and replay. */
export function topicsOf(type: string, device: string): string[] {
  return [familyOf(type), TOPIC.device(device)];
}

export interface Emitted {
  seq: number;
  type: string;
  device: string;
  /** Server time of the event, ms since the epoch. */
  ms: number;
  /** The event's JSON object text, without `type`. */
  json: string;
  reading?: StoredReading;
  cycle?: { cipId: number; state: CycleState; summary?: CycleClosed };
  /** A closed cycle's verdict, kept with the cycle. */
  verdict?: { cipId: number; verdict: string };
}

/** A published event as kept for replay and history. */
export interface Recorded extends Emitted {
  frame: string;
}

export interface Recorder {
  record(event: Recorded): void;
}

export interface Events {
  nextSeq(): number;
  lastSeq(): number;
  /** Events numbered elsewhere (the shared bus) and kept without being published move the last seq too. */
  seen(seq: number): void;
  /** Publishes on the event's topics (`topicsOf`), records it, and hands it to the listeners. */
  emit(event: Emitted): void;
  /** Also hands every event to `listener` (integrations: MQTT, webhooks), after it is published. */
  listen(listener: (event: Recorded) => void): void;
}

/** The stream frame of an event: its JSON object with `type` appended (the same text live and replayed). */
export const frameOf = (json: string, type: string) => `${json.slice(0, -1)},"type":"${type}"}`;

export function createEvents(bus: Bus, recorder: Recorder, startSeq = 0): Events {
  let seq = startSeq;
  const listeners: ((event: Recorded) => void)[] = [];
  // Topic lists per family and device, built once: nothing is allocated for them per reading.
  const topicCache = new Map<string, Map<string, readonly string[]>>();
  const topicsFor = (type: string, device: string) => {
    const family = familyOf(type);
    let byDevice = topicCache.get(family);
    if (!byDevice) topicCache.set(family, (byDevice = new Map()));
    let topics = byDevice.get(device);
    if (!topics) byDevice.set(device, (topics = topicsOf(type, device)));
    return topics;
  };
  return {
    listen: (listener) => void listeners.push(listener),
    nextSeq: () => ++seq,
    lastSeq: () => seq,
    seen(next) {
      if (next > seq) seq = next;
    },
    emit(event) {
      const frame = frameOf(event.json, event.type);
      // Events numbered elsewhere (the shared bus) move this server's last seq along too.
      if (event.seq > seq) seq = event.seq;
      const recorded: Recorded = Object.assign(event, { frame });
      // Recorded before it is published: whatever a subscriber sees can be replayed.
      recorder.record(recorded);
      const published = { seq: event.seq, type: event.type, frame };
      for (const topic of topicsFor(event.type, event.device)) bus.publish(topic, published);
      for (const listener of listeners) listener(recorded);
    },
  };
}
