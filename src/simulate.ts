// `sensorflow simulate`: boards playing a realistic cleaning cycle, for trying SensorFlow without
// hardware. Each reading is the firmware's exact bytes (printf "%.2f", the space before "flow") over
// a new TCP connection with `Connection: close`, once a second of simulated time.
import { METRICS, type Metric } from "./modules/cycles/model";
import type { Limit, Phase, Recipe } from "./modules/recipes/model";

export type Fault = "none" | "dip" | "short-dip" | "caution" | "nan";

export interface SimulateOptions {
  host: string;
  port: number;
  device: string;
  key?: string;
  recipe: Recipe;
  /** Simulated seconds per real second (1 = real time). */
  speed: number;
  fault: Fault;
  /** Send each reading's phase, as a board or PLC that knows it would (else the server infers it). */
  sendPhase?: boolean;
  /** Waits one reading interval; tests replace it to move a virtual clock instead of sleeping. */
  tick?: (simulatedMs: number) => Promise<void>;
  log?: (line: string) => void;
}

export interface SimulateResult {
  sent: number;
  statuses: Record<number, number>;
}

const BASE: Record<Metric, number> = { temperature: 25, pressure: 2.2, concentration: 0, flow: 2.0 };

/** A value comfortably inside a phase's limits (the middle of the caution band where there is one). */
function target(metric: Metric, limit: Limit | undefined): number {
  const band = limit?.caution ?? limit;
  if (band?.min !== undefined && band.max !== undefined) return (band.min + band.max) / 2;
  if (band?.min !== undefined) return metric === "flow" ? band.min * 1.3 : band.min + Math.abs(band.min) * 0.1 + 1;
  if (band?.max !== undefined) return Math.min(BASE[metric], band.max / 2);
  return BASE[metric];
}

export function firmwareBody(values: Record<Metric, number>, phase?: string): string {
  const body = `{"temperature":${values.temperature.toFixed(2)},"pressure":${values.pressure.toFixed(2)},"concentration":${values.concentration.toFixed(2)}, "flow":${values.flow.toFixed(2)}`;
  return phase ? `${body}, "phase":${JSON.stringify(phase)}}` : `${body}}`;
}

function post(host: string, port: number, path: string, body: string, key?: string): Promise<number> {
  const request =
    `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n` +
    (key ? `X-API-Key: ${key}\r\n` : "") +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
  return new Promise((resolve) => {
    let head = "";
    Bun.connect({
      hostname: host,
      port,
      socket: {
        open: (socket) => void socket.write(request),
        data: (_s, data) => void (head.length < 16 && (head += data.toString("latin1"))),
        close: () => resolve(Number(head.slice(9, 12)) || 0),
        error: () => resolve(0),
      },
    }).catch(() => resolve(0));
  });
}

/** The readings of one cycle, second by second: each phase for 1.25× its minimum time, short ramps between. */
export function* cycleReadings(recipe: Recipe, fault: Fault): Generator<{ values: Record<Metric, number>; phase: Phase | undefined; nan?: boolean }> {
  let t = 0;
  let previous: Record<Metric, number> | undefined;
  // Faults happen in the first heated chemical phase (the caustic wash).
  const faultPhase = recipe.phases.find((p) => p.limits?.temperature?.min !== undefined && p.limits.concentration !== undefined);
  for (const phase of recipe.phases) {
    const goal = Object.fromEntries(METRICS.map((m) => [m, target(m, phase.limits?.[m])])) as Record<Metric, number>;
    if (previous) {
      for (let k = 1; k <= 2; k++) {
        const ramp = Object.fromEntries(METRICS.map((m) => [m, previous![m] + ((goal[m] - previous![m]) * k) / 3])) as Record<Metric, number>;
        // The ramp into a phase belongs to it (a board that knows its phase says so).
        yield { values: ramp, phase };
      }
    }
    const seconds = Math.max(5, Math.ceil(phase.min_duration_s * 1.25));
    const faulty = phase === faultPhase;
    for (let s = 0; s < seconds; s++, t++) {
      // A little noise, well inside the caution band.
      const values = Object.fromEntries(METRICS.map((m) => [m, goal[m] * (1 + 0.005 * Math.sin(t / 7 + m.length))])) as Record<Metric, number>;
      const middle = Math.floor(seconds / 2);
      const limit = phase.limits?.temperature;
      if (faulty && fault === "dip" && s >= middle && s < middle + 30 && limit?.min !== undefined) values.temperature = limit.min - 5;
      if (faulty && fault === "short-dip" && s >= middle && s < middle + 3 && limit?.min !== undefined) values.temperature = limit.min - 5;
      if (faulty && fault === "caution" && s >= middle && s < middle + 20 && limit?.caution?.max !== undefined && limit.max !== undefined) {
        values.temperature = (limit.caution.max + limit.max) / 2;
      }
      yield { values, phase, nan: faulty && fault === "nan" && s === middle };
    }
    previous = goal;
  }
}

export async function simulate(options: SimulateOptions): Promise<SimulateResult> {
  const tick = options.tick ?? ((ms: number) => Bun.sleep(ms / options.speed));
  const path = `/api/devices/${encodeURIComponent(options.device)}/readings`;
  const statuses: Record<number, number> = {};
  let sent = 0;
  let phaseName: string | undefined;
  for (const reading of cycleReadings(options.recipe, options.fault)) {
    if (reading.phase && reading.phase.name !== phaseName) {
      phaseName = reading.phase.name;
      options.log?.(`${options.device}: ${phaseName}`);
    }
    // A failed sensor prints nan, which is not JSON: the server keeps the other values and names the fault.
    const body = reading.nan
      ? firmwareBody(reading.values).replace(/"temperature":[-\d.]+/, '"temperature":nan')
      : firmwareBody(reading.values, options.sendPhase ? reading.phase?.name : undefined);
    const status = await post(options.host, options.port, path, body, options.key);
    statuses[status] = (statuses[status] ?? 0) + 1;
    sent++;
    await tick(1000);
  }
  return { sent, statuses };
}
