// Live alarms: a metric outside its phase's limits for longer than the debounce raises an alarm;
// back within limits for as long clears it. Both are published on `alarms` and the device's topic
// (and so kept with the history, like every published event).
import type { Clock } from "../../clock";
import type { Events } from "../../events";
import { METRICS, type Metric } from "../cycles/model";
import type { Phase } from "../recipes/model";
import type { PhaseOf } from "../recipes/service";
import type { ReadingInput } from "../readings/model";

export interface Alarm {
  device: string;
  cip_id: number;
  phase: string;
  metric: Metric;
  min: number | null;
  max: number | null;
  value: number;
  out_since: string;
  raised_at: string;
}

interface Watch {
  outSince?: number;
  inSince?: number;
  active?: Alarm;
  phase: string | null;
}

export interface Alarms {
  check(device: string, cipId: number, phase: PhaseOf, spec: Phase | undefined, reading: ReadingInput, ms: number): void;
  /** Ends every open alarm of a device (its cycle or recipe changed). */
  end(device: string, reason: string, ms: number): void;
  active(device?: string): Alarm[];
  raised(): number;
  readonly debounceMs: number;
}

export function createAlarms(deps: { events: Events; clock: Clock; debounceMs: number }): Alarms {
  const { events, clock, debounceMs } = deps;
  const watches = new Map<string, Map<Metric, Watch>>();
  let raisedCount = 0;

  const emit = (type: "alarm.raised" | "alarm.cleared", alarm: Alarm, ms: number, extra: Record<string, string> = {}) => {
    const seq = events.nextSeq();
    const body = { ...alarm, ...extra, seq };
    events.emit({ type, seq, device: alarm.device, ms, json: JSON.stringify(body) });
  };
  const clear = (watch: Watch, ms: number, reason: string) => {
    if (!watch.active) return;
    emit("alarm.cleared", watch.active, ms, { cleared_at: clock.iso(ms), reason });
    watch.active = undefined;
  };

  return {
    check(device, cipId, phase, spec, reading, ms) {
      let byMetric = watches.get(device);
      if (!byMetric) watches.set(device, (byMetric = new Map()));
      for (const metric of METRICS) {
        let watch = byMetric.get(metric);
        if (!watch) byMetric.set(metric, (watch = { phase: phase.name }));
        if (watch.phase !== phase.name) {
          clear(watch, ms, "phase ended");
          watch.outSince = watch.inSince = undefined;
          watch.phase = phase.name;
        }
        const limit = spec?.limits?.[metric];
        if (!limit || phase.name === null) continue;
        const value = reading[metric];
        const out = (limit.min !== undefined && value < limit.min) || (limit.max !== undefined && value > limit.max);
        if (out) {
          watch.inSince = undefined;
          watch.outSince ??= ms;
          if (!watch.active && ms - watch.outSince >= debounceMs) {
            watch.active = {
              device,
              cip_id: cipId,
              phase: phase.name,
              metric,
              min: limit.min ?? null,
              max: limit.max ?? null,
              value,
              out_since: clock.iso(watch.outSince),
              raised_at: clock.iso(ms),
            };
            raisedCount++;
            emit("alarm.raised", watch.active, ms);
          }
        } else {
          watch.outSince = undefined;
          if (watch.active) {
            watch.inSince ??= ms;
            if (ms - watch.inSince >= debounceMs) clear(watch, ms, "back within limits");
          }
        }
      }
    },
    end(device, reason, ms) {
      for (const watch of watches.get(device)?.values() ?? []) clear(watch, ms, reason);
      watches.delete(device);
    },
    active(device) {
      const out: Alarm[] = [];
      for (const [d, byMetric] of watches) {
        if (device !== undefined && d !== device) continue;
        for (const watch of byMetric.values()) if (watch.active) out.push(watch.active);
      }
      return out;
    },
    raised: () => raisedCount,
    debounceMs,
  };
}
