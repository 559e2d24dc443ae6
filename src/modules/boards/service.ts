// Boards as the plant has them: who they are (device keys, addresses) and whether they are posting.
// A device is online while its board posts, silent when its cycle is open but nothing came for
// BOARD_SILENT_SECONDS (a board.silent alarm), idle when no cycle is open.
import type { Clock } from "../../clock";
import type { Store } from "../../store/types";
import type { Alarms } from "../alarms/service";
import type { Cycles } from "../cycles/service";
import { createAddresses, type Addresses } from "./addresses";
import { createDeviceKeys, type DeviceKeys } from "./keys";

export type BoardState = "online" | "silent" | "idle";

export interface Boards {
  keys: DeviceKeys;
  addresses: Addresses;
  state(device: string, ms: number): BoardState;
  /** Raises board.silent for every device silent mid-cycle (on a timer). */
  checkSilent(ms: number): void;
}

export function createBoards(deps: {
  store: Store;
  clock: Clock;
  cycles: Cycles;
  alarms: Alarms;
  silentSeconds: number;
  deviceAddresses: Record<string, string>;
}): Boards {
  const { cycles, alarms } = deps;
  const silentMs = deps.silentSeconds * 1000;
  return {
    keys: createDeviceKeys(deps),
    addresses: createAddresses({ configured: deps.deviceAddresses, store: deps.store }),
    state(device, ms) {
      const cycle = cycles.get(device);
      if (!cycle || cycle.closed) return "idle";
      return ms - cycle.lastMs > silentMs ? "silent" : "online";
    },
    checkSilent(ms) {
      for (const [device, cycle] of cycles.devices()) {
        if (!cycle.closed && ms - cycle.lastMs > silentMs) alarms.silent(device, cycle.cipId, cycle.lastMs, ms);
      }
    },
  };
}
