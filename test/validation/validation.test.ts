// Cycle validation end to end: the simulator plays boards over real TCP with the firmware's bytes,
// while the server's clock follows the simulated time (one second per reading), so a 30-minute
// cycle runs in a few seconds and the report sees real durations.
import { afterAll, afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { EXAMPLE_RECIPES } from "../../src/modules/recipes/example";
import type { Recipe } from "../../src/modules/recipes/model";
import { simulate, type Fault } from "../../src/simulate";
import { INGEST_KEY, READ_KEY, dropDatabases, get, openWs, postgresEnv, run, start, type Running } from "../helpers";
import { needs } from "../needs";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

const example = parseToml(EXAMPLE_RECIPES) as unknown as { recipes: Record<string, Recipe> };
const RECIPE = example.recipes["dairy-5-step"]!;
let server: Running | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});
afterAll(dropDatabases);

async function startWithRecipes(extra: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "sensorflow-validation-"));
  writeFileSync(join(dir, "recipes.toml"), EXAMPLE_RECIPES);
  server = await start({ STORAGE: "sqlite", DATA_DIR: dir, RECIPES_FILE: join(dir, "recipes.toml"), ...extra }, { cycleCheckMs: 20 });
  return server;
}

async function playCycle(s: Running, fault: Fault, onTick?: () => Promise<void>) {
  const result = await simulate({
    host: "127.0.0.1",
    port: s.port,
    device: "line-1",
    key: INGEST_KEY,
    recipe: RECIPE,
    speed: 1,
    fault,
    tick: async (ms) => {
      s.advance(ms);
      await onTick?.();
    },
  });
  // The gap passes with no data: the cycle closes and its verdict is published.
  s.advance(11 * 60_000);
  return result;
}

async function report(s: Running) {
  for (let i = 0; i < 750; i++) {
    const r = await (await get(`${s.url}/api/devices/line-1/cycles/1/report`)).json();
    if (!r.provisional) return r;
    await Bun.sleep(20);
  }
  throw new Error("the cycle did not close");
}

describe("cycle validation", () => {
  test("a simulated good cycle gets PASS in every phase, with phases inferred from the recipe", async () => {
    const s = await startWithRecipes();
    const sim = await playCycle(s, "none");
    expect(sim.statuses).toEqual({ 201: sim.sent });
    const r = await report(s);
    expect(r.verdict).toBe("PASS");
    expect(r.phases.map((p: { name: string; verdict: string; source: string }) => [p.name, p.verdict, p.source])).toEqual([
      ["pre-rinse", "PASS", "inferred"],
      ["caustic", "PASS", "inferred"],
      ["intermediate rinse", "PASS", "inferred"],
      ["acid", "PASS", "inferred"],
      ["final rinse", "PASS", "inferred"],
    ]);
    expect(r.recipe).toEqual({ name: "dairy-5-step", version: "2024-01" });
    expect(r.readings_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(r.alarms).toEqual([]);
  });

  test("a caustic dip below 70 °C longer than the debounce raises an alarm on the stream with the reading that ends the debounce, and FAILs the phase and the cycle", async () => {
    const s = await startWithRecipes();
    const ws = await openWs(`${s.ws}/ws?topics=alarms,cycles&api-key=${READ_KEY}`);
    await ws.nextOf("welcome");
    const sim = simulate({
      host: "127.0.0.1", port: s.port, device: "line-1", key: INGEST_KEY, recipe: RECIPE, speed: 1, fault: "dip",
      tick: async (ms) => s.advance(ms),
    });
    const alarm = await ws.nextOf("alarm.raised", 30_000);
    await sim;
    s.advance(11 * 60_000);
    expect(alarm).toMatchObject({ device: "line-1", cip_id: 1, phase: "caustic", metric: "temperature", min: 70, value: 65 });
    // On the server's clock (one reading a second): raised by the reading 10 s (debounce_s) after the
    // first one out of limits, not a reading later. How fast that is in wall time is the machine's.
    expect(Date.parse(alarm.raised_at as string) - Date.parse(alarm.out_since as string)).toBe(10_000);
    const verdict = await ws.nextOf("cycle.verdict", 15_000);
    expect(verdict).toMatchObject({ device: "line-1", cip_id: 1, verdict: "FAIL" });
    const r = await report(s);
    const caustic = r.phases.find((p: { name: string }) => p.name === "caustic");
    expect(caustic.verdict).toBe("FAIL");
    expect(caustic.metrics.temperature.verdict).toBe("FAIL");
    expect(caustic.metrics.temperature.seconds_out_of_limits).toBeGreaterThanOrEqual(30); // the 30 s dip
    expect(caustic.alarms).toBe(1);
    expect(r.verdict).toBe("FAIL");
    expect(r.alarms[0]).toMatchObject({ metric: "temperature", phase: "caustic" });
    expect(r.alarms[0].cleared_at).toBeTruthy(); // back within limits for the debounce: cleared
    const history = await (await get(`${s.url}/api/devices/line-1/alarms`)).json();
    expect(history.events.map((e: { type: string }) => e.type)).toEqual(["alarm.raised", "alarm.cleared"]);
    const metrics = await (await get(`${s.url}/metrics`)).text();
    expect(metrics).toContain("sensorflow_alarms_raised_total 1");
    ws.close();
  }, 30_000);

  test("with history in PostgreSQL the report, its alarms and the stored verdict are the same", async () => {
    const s = await startWithRecipes(await postgresEnv());
    const sim = await playCycle(s, "dip");
    expect(sim.statuses).toEqual({ 201: sim.sent });
    const r = await report(s);
    expect(r.verdict).toBe("FAIL");
    expect(r.phases.map((p: { name: string; verdict: string }) => `${p.name} ${p.verdict}`)).toEqual([
      "pre-rinse PASS", "caustic FAIL", "intermediate rinse PASS", "acid PASS", "final rinse PASS",
    ]);
    expect(r.cycle.readings).toBe(sim.sent);
    expect(r.alarms).toHaveLength(1);
    let cycles: { cip_id: number; verdict?: string }[] = [];
    for (let i = 0; i < 750 && cycles[0]?.verdict === undefined; i++) {
      await Bun.sleep(20);
      cycles = (await (await get(`${s.url}/api/devices/line-1/cycles`)).json()).cycles;
    }
    expect(cycles[0]).toMatchObject({ cip_id: 1, verdict: "FAIL" });
  }, 30_000);

  test("a short dip inside the debounce raises no alarm", async () => {
    const s = await startWithRecipes();
    await playCycle(s, "short-dip");
    const r = await report(s);
    expect(r.alarms).toEqual([]);
    const caustic = r.phases.find((p: { name: string }) => p.name === "caustic");
    // The 3 s dip (plus the one-second heating ramp into the phase) stays under the 10 s debounce.
    expect(caustic.metrics.temperature.seconds_out_of_limits).toBeGreaterThanOrEqual(3);
    expect(caustic.metrics.temperature.seconds_out_of_limits).toBeLessThan(10);
    expect(caustic.metrics.temperature.verdict).toBe("PASS");
  });

  test("a value in the caution band gives CAUTION", async () => {
    const s = await startWithRecipes();
    await playCycle(s, "caution");
    const r = await report(s);
    expect(r.phases.find((p: { name: string }) => p.name === "caustic").metrics.temperature.verdict).toBe("CAUTION");
    expect(r.verdict).toBe("CAUTION");
  });

  test("while the cycle runs the report is provisional; active alarms are listed", async () => {
    const s = await startWithRecipes();
    let checked = false;
    await simulate({
      host: "127.0.0.1", port: s.port, device: "line-1", key: INGEST_KEY, recipe: RECIPE, speed: 1, fault: "dip",
      tick: async (ms) => {
        s.advance(ms);
        if (!checked && s.services.alarms.active("line-1").length > 0) {
          checked = true;
          const active = await (await get(`${s.url}/api/devices/line-1/alarms?active=true`)).json();
          expect(active.alarms[0]).toMatchObject({ metric: "temperature", phase: "caustic" });
          const provisional = await (await get(`${s.url}/api/devices/line-1/cycles/1/report`)).json();
          expect(provisional.provisional).toBe(true);
        }
      },
    });
    expect(checked).toBe(true);
  });
});

describe("recipes", () => {
  test("a recipe file with a mistake stops start-up with one sentence naming it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sensorflow-recipes-"));
    const cases: [string, string, string][] = [
      ["syntax.toml", "debounce_s = 10\n[recipes.x\n", "line 2"],
      ["field.toml", '[recipes.x]\nversion = "1"\n[[recipes.x.phases]]\nname = "caustic"\nmin_duration_s = "ten"\n', "min_duration_s"],
      ["device.toml", EXAMPLE_RECIPES.replace('line-1 = "dairy-5-step"', 'line-1 = "beer-3-step"'), "beer-3-step"],
      ["range.toml", EXAMPLE_RECIPES.replace("limits.temperature = { min = 60, max = 70 }", "limits.temperature = { min = 70, max = 60 }"), "min above max"],
    ];
    for (const [name, text, says] of cases) {
      writeFileSync(join(dir, name), text);
      const result = await run([process.execPath, "src/index.ts"], { RECIPES_FILE: join(dir, name), STORAGE: "memory", PORT: "0" });
      expect(result.code).toBe(2);
      const lines = result.stderr.trim().split("\n");
      expect(lines.length).toBe(1);
      expect(lines[0]).toContain(name);
      expect(lines[0]).toContain(says);
    }
  });

  test("`sensorflow recipes --example` prints the embedded example, which loads as it is", async () => {
    const result = await run([process.execPath, "src/index.ts", "recipes", "--example"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(EXAMPLE_RECIPES);
  });

  test("PUT /api/devices/:device assigns a recipe with the write key and keeps it across restarts", async () => {
    const s = await startWithRecipes();
    const put = (body: unknown, key = INGEST_KEY) =>
      fetch(`${s.url}/api/devices/line-9`, { method: "PUT", headers: { "content-type": "application/json", "x-api-key": key }, body: JSON.stringify(body) });
    expect((await put({ recipe: "dairy-5-step" }, READ_KEY)).status).toBe(401);
    const unknown = await put({ recipe: "nope" });
    expect(unknown.status).toBe(422);
    expect((await unknown.json()).message).toContain("dairy-5-step");
    expect((await put({ recipe: "dairy-5-step" })).status).toBe(200);
    expect(s.services.recipes!.recipeOf("line-9")?.name).toBe("dairy-5-step");
  });

  test("a board that sends its phase is reported as sent", async () => {
    const s = await startWithRecipes();
    await simulate({ host: "127.0.0.1", port: s.port, device: "line-1", key: INGEST_KEY, recipe: RECIPE, speed: 1, fault: "none", sendPhase: true, tick: async (ms) => s.advance(ms) });
    s.advance(11 * 60_000);
    const r = await report(s);
    expect(new Set(r.phases.map((p: { source: string }) => p.source))).toEqual(new Set(["sent"]));
    expect(r.verdict).toBe("PASS");
  });
});

const printing = needs("chromium", "pdftoppm");
printing.describe("the printable report", () => {
  printing.test("renders in headless Chromium, prints to PDF, and the PDF's page is not blank", async () => {
    const s = await startWithRecipes({ API_KEY_WS: "", ALLOW_UNAUTHENTICATED: "false" });
    await playCycle(s, "dip");
    await report(s);
    const dir = mkdtempSync(join(tmpdir(), "sensorflow-pdf-"));
    const html = await fetch(`${s.url}/api/devices/line-1/cycles/1/report?format=html`);
    expect(html.headers.get("content-type")).toContain("text/html");
    expect(html.headers.get("content-security-policy")).toContain("default-src 'self'");
    const page = await html.text();
    expect(page).toContain("line-1-000001");
    expect(page).toContain("FAIL");
    const pdf = join(dir, "report.pdf");
    const printed = await run(
      [printing.path("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", `--user-data-dir=${join(dir, "profile")}`, `--print-to-pdf=${pdf}`, "--no-pdf-header-footer",
        `${s.url}/api/devices/line-1/cycles/1/report?format=html`],
      { HOME: dir },
      60_000,
    );
    expect(printed.code).toBe(0);
    const png = join(dir, "page");
    expect((await run([printing.path("pdftoppm"), "-png", "-r", "60", "-f", "1", "-l", "1", pdf, png])).code).toBe(0);
    const image = await Bun.file(`${png}-1.png`).bytes();
    // Not blank: a page of text and tables compresses far worse than an empty white page.
    expect(image.byteLength).toBeGreaterThan(15_000);
    await Bun.write(join(new URL("../artifacts/", import.meta.url).pathname, "cycle-report.png"), image);
  }, 90_000);
});

describe("sensorflow simulate", () => {
  test("plays two boards (the second faulty, with a nan sensor) against a running server over the firmware's bytes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sensorflow-sim-"));
    writeFileSync(join(dir, "recipes.toml"), EXAMPLE_RECIPES.replace('line-1 = "dairy-5-step"', 'line-1 = "dairy-5-step"\nline-2 = "dairy-5-step"'));
    const { spawnServer } = await import("../helpers");
    const server = await spawnServer({ RECIPES_FILE: join(dir, "recipes.toml"), STORAGE: "sqlite", DATA_DIR: dir, RATE_LIMIT_PER_DEVICE: "0" });
    try {
      const result = await run(
        [process.execPath, "src/index.ts", "simulate", "--url", server.url, "--boards", "2", "--speed", "100000", "--fault", "nan"],
        {},
        60_000,
      );
      expect(result.code).toBe(0);
      expect(result.stdout).toContain("line-1: caustic");
      const lines = result.stdout.trim().split("\n");
      expect(lines.find((l) => l.startsWith("line-1:") && l.includes("readings"))).toMatch(/answers \{"201":\d+\}$/);
      // The nan reading is kept too (temperature null, named in faults): every post is a 201.
      expect(lines.find((l) => l.startsWith("line-2:") && l.includes("readings"))).toMatch(/answers \{"201":\d+\}$/);
      const faulty = await (await fetch(`${server.url}/api/devices/line-2/readings?limit=10000`)).json();
      expect(faulty.readings.filter((r: { faults?: string[] }) => r.faults?.includes("temperature")).length).toBe(1);
      const latest = await (await fetch(`${server.url}/api/devices/line-2/latest`)).json();
      expect(latest.phase).toBe("final rinse");
    } finally {
      await server.stop();
    }
  }, 90_000);
});
