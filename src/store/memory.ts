// STORAGE=memory: nothing on disk and nothing survives a restart. Keeps only the recent events a
// reconnecting client may ask for, in a bounded ring.
import { topicsOf, type Recorded } from "../events";
import type { Replay, Store } from "./types";

export function matchesTopics(type: string, device: string, topics: ReadonlySet<string>): boolean {
  for (const topic of topicsOf(type, device)) if (topics.has(topic)) return true;
  return false;
}

export function createMemoryStore(replayMax: number): Store {
  const ring: (Recorded | undefined)[] = new Array(replayMax);
  let next = 0;
  let count = 0;
  // Admin records live as long as the process: STORAGE=memory keeps nothing on disk.
  const settings = new Map<string, Map<string, string>>();
  const settingsOf = (kind: string) => {
    let map = settings.get(kind);
    if (!map) settings.set(kind, (map = new Map()));
    return map;
  };
  return {
    kind: "memory",
    history: false,
    shared: false,
    restore: async () => ({ seq: 0, devices: [] }),
    record(event) {
      ring[next] = event;
      next = (next + 1) % replayMax;
      if (count < replayMax) count++;
    },
    flush: async () => {},
    since(seq, topics, limit): Replay {
      const wanted = new Set(topics);
      const events: Replay["events"] = [];
      const first = (next - count + replayMax) % replayMax;
      for (let i = 0; i < count && events.length < limit; i++) {
        const event = ring[(first + i) % replayMax]!;
        if (event.seq > seq && matchesTopics(event.type, event.device, wanted)) {
          events.push({ seq: event.seq, type: event.type, frame: event.frame });
        }
      }
      return { events, oldest: count > 0 ? ring[first]!.seq : null };
    },
    readings: async () => [],
    buckets: async () => [],
    cycles: async () => [],
    cycle: async () => undefined,
    async events(device, typePrefix, fromMs, toMs, limit) {
      const found = ring.filter(
        (e): e is Recorded =>
          e !== undefined && e.device === device && e.type.startsWith(typePrefix) &&
          (fromMs === undefined || e.ms >= fromMs) && (toMs === undefined || e.ms < toMs),
      );
      return found.sort((a, b) => a.seq - b.seq).slice(0, limit).map((e) => e.frame);
    },
    settings: async (kind) => new Map(settingsOf(kind)),
    async putSetting(kind, id, value) {
      if (value === null) settingsOf(kind).delete(id);
      else settingsOf(kind).set(id, value);
    },
    saveRecipe: async () => {},
    savedRecipes: async () => ({}),
    prune: async () => 0,
    size: () => ({ bytes: 0, oldestMs: null }),
    close: async () => {},
  };
}
