// Every firmware generation's body, brought to one shape for ingest. Older boards send values in
// quotes, `humidity` (not a CIP metric: ignored), no concentration or flow, and a `sensor_id`; a failed
// sensor prints nan/inf. A value that is not a finite number is a failed sensor (null); a metric the
// board does not send at all is simply absent.
import { DEVICE_ID } from "../../config";
import { ApiError } from "../../errors";
import { METRICS, type Metric } from "../cycles/model";
import type { LegacyReadingInput, Sample } from "../readings/model";

const valueOf = (value: number | string | null | undefined): number | null | undefined => {
  if (value === undefined || value === null) return value;
  const number = typeof value === "number" ? value : Number(value.trim());
  return Number.isFinite(number) ? number : null;
};

/** The sample in a legacy body, and the device it names (`device`, else `sensor_id`), if any. */
export function fromLegacy(body: LegacyReadingInput): { sample: Sample; device?: string } {
  const sample: Sample = {};
  let present = 0;
  for (const metric of METRICS) {
    const value = valueOf(body[metric]);
    if (value !== undefined) {
      sample[metric] = value;
      present++;
    }
  }
  if (present === 0) {
    throw new ApiError(422, "invalid_body", "The reading has none of temperature, pressure, concentration or flow.", [
      { field: "temperature", message: "is required (or pressure, concentration, flow)" },
    ]);
  }
  if (body.phase !== undefined) sample.phase = body.phase;
  const named = body.device ?? body.sensor_id;
  if (named === undefined) return { sample };
  const device = String(named);
  if (!DEVICE_ID.test(device)) {
    const field = body.device !== undefined ? "device" : "sensor_id";
    throw new ApiError(422, "invalid_body", `The ${field} "${device.slice(0, 80)}" is not a valid device id.`, [
      { field, message: `must match ${DEVICE_ID.source}` },
    ]);
  }
  return { sample, device };
}

const NONE: readonly Metric[] = Object.freeze([]);

/** Metrics whose sensor failed in this sample (null), in the usual order (one shared empty list when none: the usual case). */
export function faultsOf(sample: Sample): readonly Metric[] {
  if (sample.temperature !== null && sample.pressure !== null && sample.concentration !== null && sample.flow !== null) return NONE;
  const faults: Metric[] = [];
  for (const metric of METRICS) if (sample[metric] === null) faults.push(metric);
  return faults;
}
