// The book of active alarms: raising and clearing publish `alarm.raised` / `alarm.cleared` on the
// `alarms` topic and the device's topic (and so into the history, MQTT and webhooks, like every event).
import type { Clock } from "../../clock";
import type { Events } from "../../events";
import type { Metric } from "../cycles/model";

/** limit: a value outside its phase's limits; sensor.fault: a sensor reads nan/inf; board.silent: a board stopped posting mid-cycle. */
export type AlarmKind = "limit" | "sensor.fault" | "board.silent";

export interface Alarm {
  kind: AlarmKind;
  device: string;
  cip_id: number;
  phase: string | null;
  metric: Metric | null;
  min: number | null;
  max: number | null;
  value: number | null;
  out_since: string;
  raised_at: string;
  /** While the device's board is silent, whether this alarm still holds is unknown since its last reading. */
  unknown_since?: string;
}

export interface AlarmBook {
  /** The active alarm of `device` under `key` (e.g. "limit:flow"), if any. */
  get(device: string, key: string): Alarm | undefined;
  raise(key: string, alarm: Alarm, ms: number): void;
  clear(device: string, key: string, ms: number, reason: string): void;
  /** Clears every active alarm of the device whose key passes `filter`. */
  clearAll(device: string, ms: number, reason: string, filter?: (key: string) => boolean): void;
  /** Marks (or, with null, unmarks) the device's other alarms as of unknown state. */
  markUnknown(device: string, since: string | null): void;
  active(device?: string): Alarm[];
  raised(): number;
}

export function createAlarmBook(deps: { events: Events; clock: Clock }): AlarmBook {
  const { events, clock } = deps;
  const byDevice = new Map<string, Map<string, Alarm>>();
  let raisedCount = 0;

  const emit = (type: "alarm.raised" | "alarm.cleared", alarm: Alarm, ms: number, extra: Record<string, string> = {}) => {
    const seq = events.nextSeq();
    const body = { ...alarm, ...extra, seq };
    events.emit({ type, seq, device: alarm.device, ms, json: JSON.stringify(body) });
  };
  const clear = (device: string, key: string, ms: number, reason: string) => {
    const alarms = byDevice.get(device);
    const alarm = alarms?.get(key);
    if (!alarm) return;
    alarms!.delete(key);
    emit("alarm.cleared", alarm, ms, { cleared_at: clock.iso(ms), reason });
  };

  return {
    get: (device, key) => byDevice.get(device)?.get(key),
    raise(key, alarm, ms) {
      let alarms = byDevice.get(alarm.device);
      if (!alarms) byDevice.set(alarm.device, (alarms = new Map()));
      alarms.set(key, alarm);
      raisedCount++;
      emit("alarm.raised", alarm, ms);
    },
    clear,
    clearAll(device, ms, reason, filter) {
      for (const key of [...(byDevice.get(device)?.keys() ?? [])]) if (!filter || filter(key)) clear(device, key, ms, reason);
    },
    markUnknown(device, since) {
      for (const alarm of byDevice.get(device)?.values() ?? []) {
        if (alarm.kind === "board.silent") continue;
        if (since === null) delete alarm.unknown_since;
        else alarm.unknown_since = since;
      }
    },
    active(device) {
      const out: Alarm[] = [];
      for (const [d, alarms] of byDevice) if (device === undefined || d === device) out.push(...alarms.values());
      return out;
    },
    raised: () => raisedCount,
  };
}
