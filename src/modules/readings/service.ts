// The latest reading of each device, kept with its JSON text so GET routes answer without
// serialising again.
import type { StoredReading } from "./model";

export interface Latest {
  reading: StoredReading;
  json: string;
}

export interface LatestStore {
  get(device: string): Latest | undefined;
  set(device: string, latest: Latest): void;
  devices(): IterableIterator<[string, Latest]>;
}

export function createLatestStore(): LatestStore {
  const latest = new Map<string, Latest>();
  return {
    get: (device) => latest.get(device),
    set: (device, value) => void latest.set(device, value),
    devices: () => latest.entries(),
  };
}
