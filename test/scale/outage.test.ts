// Redis goes away mid-run and comes back empty (no persistence): nothing crashes, every reading a
// board was told was stored (201) reaches every subscriber and the shared history, numbered, once.
import { expect, setDefaultTimeout, test } from "bun:test";
import { get, openWs, post, READ_KEY, run, type Frame, type WsClient } from "../helpers";
import { needs } from "../needs";
import { createDeployment, requireServices, type Deployment } from "./scale";

setDefaultTimeout(60_000);

// The outage is a redis-server of the test's own, killed and started again.
const ownRedis = needs("redis-server");
const port = 21000 + Math.floor(Math.random() * 20000);
let redis: Bun.Subprocess | undefined;
let d: Deployment;
let urls: string[];

async function startRedis(on = port) {
  redis = Bun.spawn([ownRedis.path("redis-server"), "--port", String(on), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdout: "ignore", stderr: "ignore" });
  for (let i = 0; i < 500; i++) {
    const up = await Bun.connect({ hostname: "127.0.0.1", port: on, socket: { data() {} } }).then((s) => (s.end(), true), () => false);
    if (up) return;
    await Bun.sleep(50);
  }
  throw new Error("redis-server did not start");
}

ownRedis.beforeAll(async () => {
  await requireServices();
  await startRedis();
  d = await createDeployment({ redisUrl: `redis://127.0.0.1:${port}` });
  urls = (await Promise.all(["a", "b"].map((name) => d.start(name)))).map((i) => i.url);
}, 30_000);

ownRedis.afterAll(async () => {
  await d?.destroy();
  redis?.kill("SIGKILL");
});

/** Final (numbered) readings on `ws`, by flow, until every one of `count` flows has come. */
async function finals(ws: WsClient, count: number, into: Frame[], timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  const flows = () => new Set(into.filter((f) => f.seq !== null).map((f) => f.flow)).size;
  while (flows() < count && Date.now() < deadline) {
    const frame = await ws.next(Math.max(1, deadline - Date.now())).catch(() => null);
    if (frame?.type === "reading") into.push(frame);
  }
}

ownRedis.test("killing Redis mid-run and starting it again: no crash, no acknowledged reading lost, delivery resumes", async () => {
  const subscribers = await Promise.all(urls.map((url) => openWs(`${url.replace("http", "ws")}/ws?api-key=${READ_KEY}&topics=readings`)));
  const frames: Frame[][] = [[], []];
  const collecting = subscribers.map((ws, i) => finals(ws, 150, frames[i]!, 45_000));

  const statuses: number[] = [];
  let degraded: Record<string, unknown> | undefined;
  for (let i = 0; i < 150; i++) {
    if (i === 40) redis!.kill("SIGKILL");
    if (i === 70) degraded = (await (await fetch(`${urls[0]}/health`)).json()) as Record<string, unknown>;
    if (i === 90) await startRedis(); // empty: it kept nothing
    const reply = await post(`${urls[i % 2]}/api/devices/outage-${i % 3}/readings`, { temperature: 70, pressure: 2, concentration: 1, flow: i });
    statuses.push(reply.status);
    await Bun.sleep(15);
  }
  expect(statuses.filter((s) => s !== 201)).toEqual([]);
  expect(degraded).toMatchObject({ status: "degraded", bus: { status: "down", instance: "a" } });
  expect((degraded!.bus as { outbox: number }).outbox).toBeGreaterThan(0);

  await Promise.all(collecting);
  for (const received of frames) {
    const numbered = received.filter((f) => f.seq !== null);
    // Every flow 0..149 exactly once, numbered, in increasing seq order.
    expect(numbered.map((f) => f.flow as number).sort((a, b) => a - b)).toEqual(Array.from({ length: 150 }, (_, i) => i));
    const seqs = numbered.map((f) => f.seq as number);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(150);
    // Cycle numbering carried on across Redis's restart: one cycle per board.
    expect(new Set(numbered.map((f) => f.cip_id))).toEqual(new Set([1]));
  }
  // During the outage each instance showed its own readings at once, marked provisional.
  expect(frames[0]!.some((f) => f.provisional === true && f.seq === null)).toBe(true);

  // The shared history has every one of them, once.
  let stored = 0;
  for (let tries = 0; tries < 300 && stored < 150; tries++) {
    await Bun.sleep(100);
    stored = 0;
    for (let k = 0; k < 3; k++) stored += ((await (await get(`${urls[1]}/api/devices/outage-${k}/readings`)).json()) as { readings: unknown[] }).readings.length;
  }
  expect(stored).toBe(150);

  for (const url of urls) {
    const health = (await (await fetch(`${url}/health`)).json()) as { status: string; bus: { outbox: number; reconnects: number } };
    expect(health.status).toBe("healthy");
    expect(health.bus.outbox).toBe(0);
    expect(health.bus.reconnects).toBeGreaterThanOrEqual(1);
  }
  for (const instance of d.instances) expect(instance.proc.exitCode).toBeNull();
  if (process.env.DEBUG_SCALE) console.log(d.instances.map((i) => i.lines.filter((l) => /Redis|outbox/.test(l)).join("\n")).join("\n---\n"), frames[0]!.filter((f) => f.provisional).length);
  for (const ws of subscribers) ws.close();
});

ownRedis.test("an instance started while Redis is down serves degraded, and shares what it took once Redis comes up", async () => {
  const later = port + 1;
  const instance = await d.start("late", { BUS_URL: `redis://127.0.0.1:${later}`, BUS_NAMESPACE: `${d.namespace}-late` });
  const health = (await (await fetch(`${instance.url}/health`)).json()) as { status: string; bus: { status: string } };
  expect(health).toMatchObject({ status: "degraded", bus: { status: "down" } });
  const ws = await openWs(`${instance.url.replace("http", "ws")}/ws?api-key=${READ_KEY}&topics=readings`);
  const reply = await post(`${instance.url}/api/devices/early/readings`, { temperature: 70, pressure: 2, concentration: 1, flow: 7 });
  expect(reply.status).toBe(201);
  expect(await reply.json()).toMatchObject({ flow: 7, seq: null, provisional: true, cip_id: 1 });
  expect(await ws.nextOf("reading")).toMatchObject({ flow: 7, seq: null, provisional: true });

  const first = redis;
  await startRedis(later);
  const numbered = await ws.nextOf("reading", 10_000);
  expect(numbered).toMatchObject({ flow: 7, cip_id: 1, device: "early" });
  // Numbered past every seq already in the shared history (this database has the first test's).
  const stored = (await (await get(`${d.instances[0]!.url}/api/devices/outage-0/readings?order=desc&limit=1`)).json()) as { readings: { seq: number }[] };
  expect(numbered.seq as number).toBeGreaterThan(stored.readings[0]!.seq);
  expect(numbered.provisional).toBeUndefined();
  const after = (await (await fetch(`${instance.url}/health`)).json()) as { status: string; bus: { outbox: number } };
  expect(after).toMatchObject({ status: "healthy", bus: { outbox: 0 } });
  ws.close();
  redis?.kill("SIGKILL");
  redis = first;
});

test("start-up says in one sentence what is missing: a database with the bus, recipes with the bus, a database that cannot be reached", async () => {
  const bus = await run([process.execPath, "src/index.ts"], { BUS_URL: "redis://127.0.0.1:6379", PORT: "0" });
  expect(bus.code).toBe(2);
  expect(bus.stderr).toContain("DATABASE_URL must be set when BUS_URL is set");
  const recipes = await run([process.execPath, "src/index.ts"], { BUS_URL: "redis://127.0.0.1:6379", STORAGE: "memory", RECIPES_FILE: "recipes.toml", PORT: "0" });
  expect(recipes.code).toBe(2);
  expect(recipes.stderr).toContain("RECIPES_FILE must be empty when BUS_URL is set");
  const unreachable = await run([process.execPath, "src/index.ts"], { DATABASE_URL: `postgres://postgres@127.0.0.1:${port + 2}/none`, PORT: "0" }, 20_000);
  expect(unreachable.code).toBe(2);
  expect(unreachable.stderr).toContain("DATABASE_URL could not be used");
});
