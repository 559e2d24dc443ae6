// Webhooks to a local receiver: alarm and verdict posts, signed, retried with backoff.
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "smol-toml";
import { EXAMPLE_RECIPES } from "../../src/modules/recipes/example";
import type { Recipe } from "../../src/modules/recipes/model";
import { SIGNATURE_HEADER, sign } from "../../src/modules/webhooks/service";
import { simulate } from "../../src/simulate";
import { INGEST_KEY, get, start, type Running } from "../helpers";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

const RECIPE = (parse(EXAMPLE_RECIPES) as unknown as { recipes: Record<string, Recipe> }).recipes["dairy-5-step"]!;
const SECRET = "plant-webhook-secret";
let server: Running | undefined;
let receiver: ReturnType<typeof Bun.serve> | undefined;
afterEach(async () => {
  await server?.stop();
  await receiver?.stop(true);
  server = receiver = undefined;
});

interface Received {
  event: string;
  body: Record<string, unknown>;
  signatureValid: boolean;
}

/** A webhook receiver on 127.0.0.1 that fails the first `failures` requests with 500. */
function receive(failures = 0) {
  const received: Received[] = [];
  let calls = 0;
  receiver = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      calls++;
      if (calls <= failures) return new Response("busy", { status: 500 });
      const text = await request.text();
      received.push({
        event: request.headers.get("x-sensorflow-event") ?? "",
        body: JSON.parse(text) as Record<string, unknown>,
        signatureValid: request.headers.get(SIGNATURE_HEADER) === sign(SECRET, text),
      });
      return new Response("ok");
    },
  });
  return { url: `http://127.0.0.1:${receiver.port}/hook`, received, calls: () => calls };
}

async function withRecipes(env: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), "sensorflow-hooks-"));
  writeFileSync(join(dir, "recipes.toml"), EXAMPLE_RECIPES);
  return start({ STORAGE: "sqlite", DATA_DIR: dir, RECIPES_FILE: join(dir, "recipes.toml"), WEBHOOK_SECRET: SECRET, ...env }, { cycleCheckMs: 20 });
}

describe("webhooks", () => {
  test("a receiver gets the alarm raised and cleared and the cycle's verdict, each with a valid signature", async () => {
    const hook = receive();
    server = await withRecipes({ WEBHOOK_URLS: hook.url });
    const s = server;
    await simulate({ host: "127.0.0.1", port: s.port, device: "line-1", key: INGEST_KEY, recipe: RECIPE, speed: 1, fault: "dip", tick: async (ms) => s.advance(ms) });
    s.advance(11 * 60_000);
    for (let i = 0; i < 750 && hook.received.length < 3; i++) await Bun.sleep(20);
    expect(hook.received.map((r) => r.event)).toEqual(["alarm.raised", "alarm.cleared", "cycle.verdict"]);
    expect(hook.received.every((r) => r.signatureValid)).toBe(true);
    expect(hook.received[0]!.body).toMatchObject({ device: "line-1", phase: "caustic", metric: "temperature" });
    expect(hook.received[2]!.body).toMatchObject({ device: "line-1", cip_id: 1, verdict: "FAIL" });
    const metrics = await (await get(`${s.url}/metrics`)).text();
    expect(metrics).toContain('sensorflow_webhook_deliveries_total{result="delivered"} 3');
  }, 30_000);

  test("a receiver that fails twice still gets the message on the third try", async () => {
    const hook = receive(2);
    server = await withRecipes({ WEBHOOK_URLS: hook.url, WEBHOOK_BACKOFF_MS: "20" });
    const s = server;
    const alarmed = Promise.withResolvers<void>();
    await simulate({
      host: "127.0.0.1", port: s.port, device: "line-1", key: INGEST_KEY, recipe: RECIPE, speed: 1, fault: "dip",
      tick: async (ms) => {
        s.advance(ms);
        if (s.services.alarms.active().length > 0) alarmed.resolve();
      },
    });
    await alarmed.promise;
    for (let i = 0; i < 750 && hook.received.length < 1; i++) await Bun.sleep(20);
    expect(hook.calls()).toBeGreaterThanOrEqual(3);
    expect(hook.received[0]).toMatchObject({ event: "alarm.raised", signatureValid: true });
    const stats = s.services.webhooks!.stats();
    expect(stats.retried).toBe(2);
    expect(stats.delivered).toBeGreaterThanOrEqual(1);
  }, 30_000);
});
