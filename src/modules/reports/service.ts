// The cycle report: per phase, how long it ran and how long within limits, min/avg/max of each
// metric against its limits, the alarms, and a verdict per metric, per phase and for the cycle; a
// SHA-256 over the cycle's readings makes any later change to them visible.
import type { Clock } from "../../clock";
import type { Store } from "../../store/types";
import type { Alarm } from "../alarms/service";
import { METRICS, type CycleSummary, type Metric } from "../cycles/model";
import type { Limit, Recipe } from "../recipes/model";
import type { StoredReading } from "../readings/model";
import { csvCell } from "../history/service";

export type Verdict = "PASS" | "CAUTION" | "FAIL";
const RANK: Record<Verdict, number> = { PASS: 0, CAUTION: 1, FAIL: 2 };
const worst = (verdicts: Verdict[]): Verdict => verdicts.reduce<Verdict>((a, b) => (RANK[b] > RANK[a] ? b : a), "PASS");

/** The longest gap between two readings still counted as time in a phase (a board posts every second). */
const MAX_STEP_MS = 10_000;

export interface MetricReport {
  min: number | null;
  avg: number | null;
  max: number | null;
  limit: { min: number | null; max: number | null } | null;
  caution: { min: number | null; max: number | null } | null;
  seconds_out_of_limits: number;
  /** Seconds this metric's sensor was failed (nan/inf) in the phase; that time counts neither in nor out of limits. */
  fault_s: number;
  verdict: Verdict | "n/a";
}

export interface PhaseReport {
  name: string;
  source: "sent" | "inferred" | "mixed" | "absent";
  started_at: string | null;
  ended_at: string | null;
  duration_s: number;
  min_duration_s: number;
  time_within_limits_s: number;
  readings: number;
  metrics: Record<Metric, MetricReport>;
  alarms: number;
  verdict: Verdict;
  reasons: string[];
}

export interface CycleReport {
  report_number: string;
  provisional: boolean;
  generated_at: string;
  device: string;
  cip_id: number;
  recipe: { name: string; version: string } | null;
  cycle: { started_at: string; ended_at: string | null; duration_s: number; readings: number };
  readings_sha256: string;
  debounce_s: number;
  /** The unit of each metric on this server (UNIT_<METRIC>). */
  units: Record<Metric, string>;
  /** Seconds each sensor was failed over the whole cycle. */
  sensor_faults_s: Record<Metric, number>;
  verdict: Verdict;
  phases: PhaseReport[];
  alarms: (Alarm & { cleared_at?: string })[];
}

const outside = (value: number, range: { min?: number; max?: number } | undefined) =>
  range !== undefined && ((range.min !== undefined && value < range.min) || (range.max !== undefined && value > range.max));

const zeros = (): Record<Metric, number> => ({ temperature: 0, pressure: 0, concentration: 0, flow: 0 });

/** Min/avg/max of the values that are there, in one pass (no spreading: a cycle may hold a million readings). */
function statsOfValues(readings: StoredReading[], metric: Metric): { min: number | null; avg: number | null; max: number | null } {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let n = 0;
  for (const r of readings) {
    const value = r[metric];
    if (value === null) continue;
    if (value < min) min = value;
    if (value > max) max = value;
    sum += value;
    n++;
  }
  return n === 0 ? { min: null, avg: null, max: null } : { min, avg: Math.round((sum / n) * 1e6) / 1e6, max };
}

/** Seconds each sensor was failed, each reading standing for the time until the next one (bounded). */
function faultSeconds(readings: StoredReading[], times: number[], indexes?: number[]): Record<Metric, number> {
  const out = zeros();
  const at = indexes ?? readings.map((_, i) => i);
  for (let k = 0; k < at.length - 1; k++) {
    const faults = readings[at[k]!]!.faults;
    if (!faults) continue;
    const step = Math.min(times[at[k + 1]!]! - times[at[k]!]!, MAX_STEP_MS);
    for (const metric of faults) out[metric as Metric] += step;
  }
  for (const metric of METRICS) out[metric] /= 1000;
  return out;
}

export function readingsHash(readings: StoredReading[]): string {
  const hasher = new Bun.CryptoHasher("sha256");
  for (const r of readings) hasher.update(JSON.stringify(r) + "\n");
  return hasher.digest("hex");
}

export function buildReport(input: {
  device: string;
  summary: CycleSummary;
  readings: StoredReading[];
  recipe: { name: string; recipe: Recipe } | undefined;
  alarms: (Alarm & { cleared_at?: string })[];
  debounceMs: number;
  clock: Clock;
  units: Record<Metric, string>;
}): CycleReport {
  const { device, summary, readings, recipe, alarms, debounceMs, clock, units } = input;
  const times = readings.map((r) => Date.parse(r.timestamp));
  const phases: PhaseReport[] = (recipe?.recipe.phases ?? []).map((spec) => {
    const idx = readings.map((r, i) => (r.phase === spec.name ? i : -1)).filter((i) => i >= 0);
    const inPhase = idx.map((i) => readings[i]!);
    const sources = new Set(inPhase.map((r) => r.phase_source));
    const metrics = {} as Record<Metric, MetricReport>;
    let withinMs = 0;
    const outMs: Record<Metric, number> = { temperature: 0, pressure: 0, concentration: 0, flow: 0 };
    const longestOutMs: Record<Metric, number> = { temperature: 0, pressure: 0, concentration: 0, flow: 0 };
    const runOutMs: Record<Metric, number> = { temperature: 0, pressure: 0, concentration: 0, flow: 0 };
    const runCautionMs: Record<Metric, number> = { temperature: 0, pressure: 0, concentration: 0, flow: 0 };
    const longestCautionMs: Record<Metric, number> = { temperature: 0, pressure: 0, concentration: 0, flow: 0 };
    for (let k = 0; k < idx.length; k++) {
      const i = idx[k]!;
      const r = readings[i]!;
      // Each reading stands for the time until the next reading of the same phase (bounded).
      const next = idx[k + 1];
      const step = next === undefined ? 0 : Math.min(times[next]! - times[i]!, MAX_STEP_MS);
      let allWithin = true;
      for (const metric of METRICS) {
        const limit = spec.limits?.[metric];
        if (!limit) continue;
        const value = r[metric];
        // A failed sensor: not known to be within limits, nor out of them.
        if (value === null) {
          allWithin = false;
          runOutMs[metric] = runCautionMs[metric] = 0;
          continue;
        }
        if (outside(value, limit)) {
          allWithin = false;
          outMs[metric] += step;
          runOutMs[metric] += step;
          longestOutMs[metric] = Math.max(longestOutMs[metric], runOutMs[metric]);
        } else runOutMs[metric] = 0;
        if (outside(value, limit.caution ?? limit)) {
          runCautionMs[metric] += step;
          longestCautionMs[metric] = Math.max(longestCautionMs[metric], runCautionMs[metric]);
        } else runCautionMs[metric] = 0;
      }
      if (allWithin) withinMs += step;
    }
    const reasons: string[] = [];
    const faultS = faultSeconds(readings, times, idx);
    for (const metric of METRICS) {
      const limit: Limit | undefined = spec.limits?.[metric];
      const raised = alarms.some((a) => (a.kind ?? "limit") === "limit" && a.phase === spec.name && a.metric === metric);
      let verdict: Verdict | "n/a" = "n/a";
      if (limit) {
        // FAIL: out of limits for longer than the debounce (what raises an alarm). CAUTION: outside
        // the caution band for longer than the debounce. Shorter excursions (a heating ramp, a
        // one-second dip) do not count against the verdict; their seconds are reported.
        if (raised || longestOutMs[metric] >= debounceMs) verdict = "FAIL";
        else if (longestCautionMs[metric] >= debounceMs) verdict = "CAUTION";
        else verdict = "PASS";
        if (verdict !== "PASS") reasons.push(`${metric}: ${verdict === "FAIL" ? "out of limits longer than the debounce" : "outside the caution band"}`);
      }
      metrics[metric] = {
        ...statsOfValues(inPhase, metric),
        limit: limit ? { min: limit.min ?? null, max: limit.max ?? null } : null,
        caution: limit?.caution ? { min: limit.caution.min ?? null, max: limit.caution.max ?? null } : null,
        seconds_out_of_limits: outMs[metric] / 1000,
        fault_s: faultS[metric],
        verdict,
      };
    }
    const within = withinMs / 1000;
    if (inPhase.length === 0) reasons.push("phase not run");
    else if (within < spec.min_duration_s) reasons.push(`${within} s within limits, ${spec.min_duration_s} s required`);
    const metricVerdicts = METRICS.map((m) => metrics[m].verdict).filter((v): v is Verdict => v !== "n/a");
    const verdict = inPhase.length === 0 || within < spec.min_duration_s ? "FAIL" : worst(metricVerdicts);
    const first = idx[0];
    const last = idx[idx.length - 1];
    return {
      name: spec.name,
      source: inPhase.length === 0 ? "absent" : sources.size > 1 ? "mixed" : sources.has("sent") ? "sent" : "inferred",
      started_at: first === undefined ? null : readings[first]!.timestamp,
      ended_at: last === undefined ? null : readings[last]!.timestamp,
      duration_s: first === undefined ? 0 : (times[last!]! - times[first]!) / 1000,
      min_duration_s: spec.min_duration_s,
      time_within_limits_s: within,
      readings: inPhase.length,
      metrics,
      alarms: alarms.filter((a) => a.phase === spec.name).length,
      verdict,
      reasons,
    };
  });
  return {
    report_number: `${device}-${String(summary.cip_id).padStart(6, "0")}`,
    provisional: summary.open,
    generated_at: clock.iso(clock.now()),
    device,
    cip_id: summary.cip_id,
    recipe: recipe ? { name: recipe.name, version: recipe.recipe.version } : null,
    cycle: { started_at: summary.started_at, ended_at: summary.ended_at, duration_s: summary.duration_s, readings: readings.length },
    readings_sha256: readingsHash(readings),
    debounce_s: debounceMs / 1000,
    units,
    sensor_faults_s: faultSeconds(readings, times),
    verdict: recipe ? worst(phases.map((p) => p.verdict)) : "FAIL",
    phases,
    alarms,
  };
}

export function reportCsv(report: CycleReport): string {
  const lines = [
    "report_number,device,cip_id,phase,phase_verdict,duration_s,min_duration_s,time_within_limits_s,metric,unit,min,avg,max,limit_min,limit_max,seconds_out_of_limits,fault_s,metric_verdict",
  ];
  for (const p of report.phases) {
    for (const metric of METRICS) {
      const m = p.metrics[metric];
      lines.push(
        [report.report_number, report.device, report.cip_id, p.name, p.verdict, p.duration_s, p.min_duration_s, p.time_within_limits_s,
          metric, report.units[metric], m.min, m.avg, m.max, m.limit?.min, m.limit?.max, m.seconds_out_of_limits, m.fault_s, m.verdict].map(csvCell).join(","),
      );
    }
  }
  return lines.join("\n") + "\n";
}

export async function collectAlarms(store: Store, device: string, cipId: number): Promise<(Alarm & { cleared_at?: string })[]> {
  const raised = new Map<string, Alarm & { cleared_at?: string }>();
  for (const frame of await store.events(device, "alarm.", undefined, undefined, 100_000)) {
    const event = JSON.parse(frame) as Alarm & { type: string; cleared_at?: string; reason?: string; seq: number };
    if (event.cip_id !== cipId) continue;
    const key = `${event.kind ?? "limit"}\u0000${event.phase}\u0000${event.metric}\u0000${event.raised_at}`;
    const silence = event.kind === "board.silent";
    if (event.type === "alarm.raised") {
      const { type: _type, seq: _seq, ...alarm } = event;
      // A board gone silent leaves its other open alarms in an unknown state from its last reading.
      if (silence) for (const open of raised.values()) if (open.cleared_at === undefined && open.kind !== "board.silent") open.unknown_since = event.out_since;
      raised.set(key, alarm);
    } else if (event.type === "alarm.cleared") {
      const found = raised.get(key);
      if (found) found.cleared_at = event.cleared_at;
      if (silence && event.reason === "the board posts again") {
        for (const open of raised.values()) if (open.cleared_at === undefined) delete open.unknown_since;
      }
    }
  }
  return [...raised.values()];
}
