// Boards fail on a plant floor: a sensor starts printing nan, a board goes quiet mid-clean. Neither
// silences the rest of what the board says, and both are noticed and said plainly. Time moves by the
// server's clock (one second per reading), not the machine's.
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { READ_KEY, get, openWs, post, start, type Frame, type Running, type WsClient } from "../helpers";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

const RECIPES = `
debounce_s = 10
[devices]
line-1 = "short"
[recipes.short]
version = "t1"
[[recipes.short.phases]]
name = "wash"
min_duration_s = 20
signature.temperature = { min = 40 }
limits.temperature = { min = 50, max = 90 }
limits.flow = { min = 1.0 }
`;

const good = { temperature: 70, pressure: 2, concentration: 1, flow: 1.5 };
/** The current firmware's body, as printf writes it, with the temperature sensor failed. */
const FAILED_TEMPERATURE = '{"temperature":-nan,"pressure":2.00,"concentration":1.00, "flow":1.50}';

let server: Running | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function startWithRecipes(env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "sensorflow-faults-"));
  writeFileSync(join(dir, "recipes.toml"), RECIPES);
  server = await start({ STORAGE: "sqlite", DATA_DIR: dir, RECIPES_FILE: join(dir, "recipes.toml"), ...env }, { cycleCheckMs: 20 });
  return server;
}

/** Posts `count` readings of line-1, one per second of server time. */
async function play(s: Running, count: number, body: unknown = good) {
  for (let i = 0; i < count; i++) {
    const response = await post(`${s.url}/api/devices/line-1/readings`, body);
    expect(response.status).toBe(201);
    s.advance(1000);
  }
}

async function nextAlarm(ws: WsClient, type: "alarm.raised" | "alarm.cleared", kind: string): Promise<Frame> {
  for (;;) {
    const frame = await ws.nextOf(type, 5000);
    if (frame.kind === kind) return frame;
  }
}

describe("a failed sensor", () => {
  test("keeps its board heard: the other values are stored and published, the metric is null and named", async () => {
    const s = await startWithRecipes();
    const ws = await openWs(`${s.ws}/ws?topics=devices/line-1&api-key=${READ_KEY}`);
    await ws.nextOf("welcome");
    await play(s, 1, FAILED_TEMPERATURE);
    const reading = await ws.nextOf("reading");
    expect(reading).toMatchObject({ temperature: null, pressure: 2, concentration: 1, flow: 1.5, faults: ["temperature"], phase: null });
    ws.close();
  });

  test("raises a debounced sensor.fault alarm, cleared when the sensor reads again; the report says how long it was failed", async () => {
    const s = await startWithRecipes();
    const ws = await openWs(`${s.ws}/ws?topics=alarms&api-key=${READ_KEY}`);
    await ws.nextOf("welcome");
    await play(s, 30);
    // 15 s of nan: past the 10 s debounce, so one alarm; the phase (from temperature) stays "wash".
    await play(s, 15, FAILED_TEMPERATURE);
    const raised = await nextAlarm(ws, "alarm.raised", "sensor.fault");
    expect(raised).toMatchObject({ device: "line-1", metric: "temperature", phase: "wash", cip_id: 1, value: null });
    expect((await (await get(`${s.url}/api/devices/line-1/alarms?active=true`)).json()).alarms).toEqual([expect.objectContaining({ kind: "sensor.fault", metric: "temperature" })]);
    await play(s, 30);
    const cleared = await nextAlarm(ws, "alarm.cleared", "sensor.fault");
    expect(cleared.reason).toBe("the sensor reads again");
    expect((await (await get(`${s.url}/api/devices/line-1/alarms?active=true`)).json()).alarms).toEqual([]);

    // The cycle's figures skip the missing values (they are not zeros); the report counts the failed time.
    s.advance(11 * 60_000);
    let report: Record<string, any> = {};
    for (let i = 0; i < 100 && (report.provisional ?? true); i++, await Bun.sleep(20)) report = await (await get(`${s.url}/api/devices/line-1/cycles/1/report`)).json();
    expect(report.provisional).toBe(false);
    expect(report.cycle.readings).toBe(75);
    expect(report.sensor_faults_s).toEqual({ temperature: 15, pressure: 0, concentration: 0, flow: 0 });
    const wash = report.phases[0];
    expect(wash.readings).toBe(75);
    expect(wash.metrics.temperature).toMatchObject({ min: 70, max: 70, avg: 70, fault_s: 15, seconds_out_of_limits: 0, verdict: "PASS" });
    // 74 s from first to last reading, 15 of them with the temperature unknown: not counted as within limits.
    expect(wash.time_within_limits_s).toBe(59);
    expect(wash.verdict).toBe("PASS");
    expect(report.alarms.map((a: { kind: string }) => a.kind)).toEqual(["sensor.fault"]);
    const cycles = await (await get(`${s.url}/api/devices/line-1/cycles`)).json();
    expect(cycles.cycles[0].temperature).toEqual({ min: 70, avg: 70, max: 70 });
    ws.close();
  });
});

describe("a silent board", () => {
  test("mid-cycle raises board.silent after BOARD_SILENT_SECONDS; the device shows silent, then online again when it posts", async () => {
    const s = await startWithRecipes({ BOARD_SILENT_SECONDS: "30" });
    const ws = await openWs(`${s.ws}/ws?topics=alarms&api-key=${READ_KEY}`);
    await ws.nextOf("welcome");
    await play(s, 5);
    const state = async () => (await (await get(`${s.url}/api/devices`)).json()).devices[0].state;
    expect(await state()).toBe("online");
    s.advance(29_000);
    await Bun.sleep(100);
    expect(ws.pending().filter((f) => f.kind === "board.silent")).toEqual([]);
    s.advance(2_000);
    const raised = await nextAlarm(ws, "alarm.raised", "board.silent");
    expect(raised).toMatchObject({ device: "line-1", cip_id: 1, metric: null });
    expect(await state()).toBe("silent");
    await play(s, 1);
    const cleared = await nextAlarm(ws, "alarm.cleared", "board.silent");
    expect(cleared.reason).toBe("the board posts again");
    expect(await state()).toBe("online");
    // Past the cycle gap the cycle closes: the device is idle, not silent, and nothing is raised.
    s.advance(11 * 60_000);
    for (let i = 0; i < 100 && (await state()) !== "idle"; i++) await Bun.sleep(20);
    expect(await state()).toBe("idle");
    await Bun.sleep(100);
    expect(ws.pending().filter((f) => f.type === "alarm.raised")).toEqual([]);
    ws.close();
  });

  test("an alarm active when the board went silent is shown as of unknown state since its last reading, not as a current condition", async () => {
    const s = await startWithRecipes();
    await play(s, 5);
    // Flow under its minimum for 12 s: a limit alarm.
    await play(s, 12, { ...good, flow: 0.5 });
    const active = async () => (await (await get(`${s.url}/api/devices/line-1/alarms?active=true`)).json()).alarms;
    expect(await active()).toEqual([expect.objectContaining({ kind: "limit", metric: "flow" })]);
    const lastReading = (await (await get(`${s.url}/api/devices/line-1/latest`)).json()).timestamp;
    s.advance(40_000);
    for (let i = 0; i < 100 && (await active()).length < 2; i++) await Bun.sleep(20);
    const alarms = await active();
    expect(alarms.find((a: { kind: string }) => a.kind === "board.silent")).toBeDefined();
    expect(alarms.find((a: { kind: string }) => a.kind === "limit").unknown_since).toBe(lastReading);
    // The cycle ends while the board is silent: the report keeps both facts.
    s.advance(11 * 60_000);
    let report: Record<string, any> = {};
    for (let i = 0; i < 100 && (report.provisional ?? true); i++, await Bun.sleep(20)) report = await (await get(`${s.url}/api/devices/line-1/cycles/1/report`)).json();
    const flow = report.alarms.find((a: { kind: string }) => a.kind === "limit");
    expect(flow.unknown_since).toBe(lastReading);
    expect(flow.cleared_at).toBeDefined();
    expect(report.alarms.some((a: { kind: string }) => a.kind === "board.silent")).toBe(true);
  });
});
