// The hot path: stamp, number, keep, publish. Everything here is synchronous, so a reading is
// published before the 201 leaves and no await separates receiving it from publishing it.
import type { Clock } from "../../clock";
import type { Metrics } from "../../metrics";
import type { Alarms } from "../alarms/service";
import type { Recipes } from "../recipes/service";
import type { Events } from "../../events";
import type { Cycles } from "../cycles/service";
import { METRICS, type Metric } from "../cycles/model";
import { ApiError, type ErrorDetail } from "../../errors";
import type { Sample, StoredReading } from "../readings/model";
import { faultsOf } from "./samples";
import type { LatestStore } from "../readings/service";

export interface Ingest {
  /**
   * Stores and publishes readings of one device received now; returns each stored reading's JSON.
   * Synchronous on one box (published before the 201 leaves); a promise when Redis numbers them (BUS_URL).
   */
  accept(device: string, inputs: readonly Sample[]): string[] | Promise<string[]>;
}

export type Limits = Partial<Record<Metric, { min?: number; max?: number }>>;

/** 422 naming every value outside its plausible range (LIMIT_<METRIC>), before anything is stored. */
export function checkRanges(inputs: readonly Sample[], limits: Limits, batch: boolean): void {
  const details: ErrorDetail[] = [];
  inputs.forEach((input, i) => {
    for (const metric of METRICS) {
      const range = limits[metric];
      if (!range) continue;
      const value = input[metric];
      if (value === null || value === undefined) continue;
      if ((range.min !== undefined && value < range.min) || (range.max !== undefined && value > range.max)) {
        const text = `${range.min ?? ""}..${range.max ?? ""}`;
        details.push({ field: batch ? `[${i}].${metric}` : metric, message: `${value} is outside the plausible range ${text} (LIMIT_${metric.toUpperCase()})` });
      }
    }
  });
  if (details.length > 0) {
    throw new ApiError(422, "out_of_range", `Implausible value: ${details.map((d) => `${d.field} ${d.message}`).join("; ")}. Check the sensor.`, details.slice(0, 20));
  }
}

export function createIngest(deps: {
  clock: Clock;
  cycles: Cycles;
  latest: LatestStore;
  events: Events;
  metrics: Pick<Metrics, "accepted">;
  limits: Limits;
  recipes?: Recipes;
  alarms: Alarms;
}): Ingest {
  const { clock, cycles, latest, events, metrics, limits, recipes, alarms } = deps;
  const ranged = Object.keys(limits).length > 0;

  return {
    accept(device, inputs) {
      if (ranged) checkRanges(inputs, limits, inputs.length > 1);
      const ms = clock.now();
      const timestamp = clock.iso(ms);
      const recipe = recipes?.recipeOf(device);
      const out: string[] = [];
      for (const input of inputs) {
        const cip_id = cycles.assign(device, ms, input);
        const seq = events.nextSeq();
        const reading: StoredReading = {
          temperature: input.temperature ?? null,
          pressure: input.pressure ?? null,
          concentration: input.concentration ?? null,
          flow: input.flow ?? null,
          timestamp,
          cip_id,
          device,
          seq,
        };
        // With a recipe, each reading carries its phase, and the phase's limits are watched.
        const phase = recipe ? recipes!.phaseOf(device, cip_id, input) : undefined;
        if (phase) {
          reading.phase = phase.name;
          reading.phase_source = phase.source;
        }
        // A failed sensor is kept as null and named; the other values go on as usual.
        const faults = faultsOf(input);
        if (faults.length > 0) reading.faults = [...faults];
        const json = JSON.stringify(reading);
        latest.set(device, { reading, json });
        // The cycle rides along so the store keeps its counters with the reading.
        events.emit({ type: "reading", seq, device, ms, json, reading, cycle: { cipId: cip_id, state: cycles.get(device)! } });
        out.push(json);
        // (A cycle's end closes its alarms: the cycles service's onClosed does it.)
        if (recipe && phase) alarms.check(device, cip_id, phase, recipe.recipe.phases[phase.index], input, ms);
        alarms.faults(device, cip_id, phase?.name ?? null, input, faults.length > 0, ms);
      }
      alarms.heard(device, ms);
      metrics.accepted(out.length);
      return out;
    },
  };
}
