// Live alarms, debounced: a metric outside its phase's limits for longer than the debounce raises an
// alarm and back within limits for as long clears it; a sensor that keeps reading nan/inf for the
// debounce raises `sensor.fault` until it reads again; a board silent mid-cycle raises `board.silent`.
import type { Clock } from "../../clock";
import type { Events } from "../../events";
import { METRICS, type Metric } from "../cycles/model";
import type { Phase } from "../recipes/model";
import type { PhaseOf } from "../recipes/service";
import type { Sample } from "../readings/model";
import { createAlarmBook, type Alarm } from "./book";

export type { Alarm, AlarmKind } from "./book";

interface Watch {
  outSince?: number;
  inSince?: number;
  phase: string | null;
}

export interface Alarms {
  /** Limits of the reading's phase (recipes). */
  check(device: string, cipId: number, phase: PhaseOf, spec: Phase | undefined, reading: Sample, ms: number): void;
  /** Failed sensors (null values) of any reading, with or without a recipe; `failing`: the reading has one. */
  faults(device: string, cipId: number, phase: string | null, reading: Sample, failing: boolean, ms: number): void;
  /** The device's board has posted nothing since `lastMs` while its cycle is open. */
  silent(device: string, cipId: number, lastMs: number, ms: number): void;
  /** The device's board posts again. */
  heard(device: string, ms: number): void;
  /** Ends every open alarm of a device (its cycle or recipe changed). */
  end(device: string, reason: string, ms: number): void;
  active(device?: string): Alarm[];
  raised(): number;
  readonly debounceMs: number;
}

const SILENT = "silent";

export function createAlarms(deps: { events: Events; clock: Clock; debounceMs: number }): Alarms {
  const { clock, debounceMs } = deps;
  const book = createAlarmBook(deps);
  const watches = new Map<string, Map<string, Watch>>();
  // Devices with a sensor failing or a fault alarm open: the only ones a good reading has to look at.
  const faulty = new Set<string>();
  const watchOf = (device: string, key: string, phase: string | null) => {
    let byKey = watches.get(device);
    if (!byKey) watches.set(device, (byKey = new Map()));
    let watch = byKey.get(key);
    if (!watch) byKey.set(key, (watch = { phase }));
    return watch;
  };
  const alarm = (fields: Omit<Alarm, "out_since" | "raised_at">, outSince: number, ms: number): Alarm => ({
    ...fields,
    out_since: clock.iso(outSince),
    raised_at: clock.iso(ms),
  });

  return {
    check(device, cipId, phase, spec, reading, ms) {
      for (const metric of METRICS) {
        const key = `limit:${metric}`;
        const watch = watchOf(device, key, phase.name);
        if (watch.phase !== phase.name) {
          book.clear(device, key, ms, "phase ended");
          watch.outSince = watch.inSince = undefined;
          watch.phase = phase.name;
        }
        const limit = spec?.limits?.[metric];
        const value = reading[metric];
        // No value (a failed or absent sensor) says nothing about the limits: the watch waits.
        if (!limit || phase.name === null || value === null || value === undefined) continue;
        const out = (limit.min !== undefined && value < limit.min) || (limit.max !== undefined && value > limit.max);
        const active = book.get(device, key);
        if (out) {
          watch.inSince = undefined;
          watch.outSince ??= ms;
          if (!active && ms - watch.outSince >= debounceMs) {
            const fields = { kind: "limit" as const, device, cip_id: cipId, phase: phase.name, metric, min: limit.min ?? null, max: limit.max ?? null, value };
            book.raise(key, alarm(fields, watch.outSince, ms), ms);
          }
        } else {
          watch.outSince = undefined;
          if (active) {
            watch.inSince ??= ms;
            if (ms - watch.inSince >= debounceMs) book.clear(device, key, ms, "back within limits");
          }
        }
      }
    },
    faults(device, cipId, phase, reading, failing, ms) {
      if (!failing && !faulty.has(device)) return;
      let open = false;
      for (const metric of METRICS) {
        const value = reading[metric];
        if (value === undefined) continue; // no such sensor on this board
        const key = `fault:${metric}`;
        const watch = watchOf(device, key, phase);
        if (value !== null) {
          watch.outSince = undefined;
          book.clear(device, key, ms, "the sensor reads again");
          continue;
        }
        open = true;
        watch.outSince ??= ms;
        if (!book.get(device, key) && ms - watch.outSince >= debounceMs) {
          const fields = { kind: "sensor.fault" as const, device, cip_id: cipId, phase, metric: metric as Metric, min: null, max: null, value: null };
          book.raise(key, alarm(fields, watch.outSince, ms), ms);
        }
      }
      if (open) faulty.add(device);
      else faulty.delete(device);
    },
    silent(device, cipId, lastMs, ms) {
      if (book.get(device, SILENT)) return;
      book.markUnknown(device, clock.iso(lastMs));
      const fields = { kind: "board.silent" as const, device, cip_id: cipId, phase: null, metric: null, min: null, max: null, value: null };
      book.raise(SILENT, alarm(fields, lastMs, ms), ms);
    },
    heard(device, ms) {
      if (!book.get(device, SILENT)) return;
      book.clear(device, SILENT, ms, "the board posts again");
      book.markUnknown(device, null);
    },
    end(device, reason, ms) {
      book.clearAll(device, ms, reason);
      watches.delete(device);
      faulty.delete(device);
    },
    active: book.active,
    raised: book.raised,
    debounceMs,
  };
}
