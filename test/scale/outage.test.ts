// Redis goes away mid-run and comes back empty (no persistence): nothing crashes, every reading a
// board was told was stored (201) reaches every subscriber and the shared history, numbered, once.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { get, openWs, post, READ_KEY, type Frame, type WsClient } from "../helpers";
import { createDeployment, requireServices, type Deployment } from "./scale";

setDefaultTimeout(60_000);

const port = 21000 + Math.floor(Math.random() * 20000);
let redis: Bun.Subprocess | undefined;
let d: Deployment;
let urls: string[];

async function startRedis() {
  redis = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdout: "ignore", stderr: "ignore" });
  for (let i = 0; i < 100; i++) {
    const up = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then((s) => (s.end(), true), () => false);
    if (up) return;
    await Bun.sleep(50);
  }
  throw new Error("redis-server did not start");
}

beforeAll(async () => {
  await requireServices();
  await startRedis();
  d = await createDeployment({ redisUrl: `redis://127.0.0.1:${port}` });
  urls = (await Promise.all(["a", "b"].map((name) => d.start(name)))).map((i) => i.url);
}, 30_000);

afterAll(async () => {
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

test("killing Redis mid-run and starting it again: no crash, no acknowledged reading lost, delivery resumes", async () => {
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
  for (let tries = 0; tries < 40 && stored < 150; tries++) {
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
