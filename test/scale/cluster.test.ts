// Several instances behind a balancer share one stream (Redis) and one history (PostgreSQL).
// Three SensorFlow processes, real Redis and PostgreSQL on loopback.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { get, openWs, post, READ_KEY, SseClient, type Frame, type WsClient } from "../helpers";
import { createDeployment, requireServices, sseReadingIds, type Deployment } from "./scale";

const reading = (flow: number) => ({ temperature: 70, pressure: 2, concentration: 1.1, flow });

/** Reading frames on `ws` until `count` have come (or the time is up). */
async function readings(ws: WsClient, count: number, timeoutMs = 15_000): Promise<Frame[]> {
  const out: Frame[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < count && Date.now() < deadline) {
    const frame = await ws.next(Math.max(1, deadline - Date.now())).catch(() => null);
    if (frame?.type === "reading") out.push(frame);
  }
  return out;
}

const wsUrl = (url: string, query: string) => `${url.replace("http", "ws")}/ws?api-key=${READ_KEY}&${query}`;

setDefaultTimeout(30_000);

let d: Deployment;
let urls: string[];

// The instances are separate processes on the real clock. A 3 s gap is far longer than any pause
// between two posts of one loop, even on a loaded machine, and the tests wait longer than it (a
// wait can only be longer, never shorter) where they want a new cycle.
const GAP_MS = 3000;

beforeAll(async () => {
  await requireServices();
  d = await createDeployment({ env: { CIP_GAP_MINUTES: String(GAP_MS / 60_000) } });
  urls = (await Promise.all(["a", "b", "c"].map((name) => d.start(name)))).map((i) => i.url);
}, 30_000);

afterAll(async () => {
  await d?.destroy();
});

describe("three instances sharing Redis and PostgreSQL", () => {
  test("subscribers on every instance get every reading posted to any instance, once, in seq order", async () => {
    const subscribers = await Promise.all(urls.map((url) => openWs(wsUrl(url, "topics=readings"))));
    const acknowledged: number[] = [];
    // Three boards posting at once, each request to the next instance round the balancer.
    for (let round = 0; round < 20; round++) {
      const replies = await Promise.all(
        [0, 1, 2].map((board) => post(`${urls[(round + board) % 3]}/api/devices/fanout-${board}/readings`, reading(round * 3 + board))),
      );
      for (const reply of replies) {
        expect(reply.status).toBe(201);
        acknowledged.push(((await reply.json()) as { seq: number }).seq);
      }
    }
    const received = await Promise.all(subscribers.map((ws) => readings(ws, 60)));
    const expected = [...acknowledged].sort((a, b) => a - b);
    for (const frames of received) {
      const seqs = frames.map((f) => f.seq as number);
      expect(seqs).toEqual(expected); // all 60, each once, in seq order
    }
    // Nothing more trickles in afterwards (no second copy).
    await Bun.sleep(300);
    for (const ws of subscribers) expect(ws.pending().filter((f) => f.type === "reading")).toEqual([]);
    for (const ws of subscribers) ws.close();
  });

  test("a board whose readings alternate between instances gets one cip_id sequence", async () => {
    const cycles = await openWs(wsUrl(urls[0]!, "topics=cycles"));
    const cipIds: number[] = [];
    for (let i = 0; i < 6; i++) cipIds.push(((await (await post(`${urls[i % 3]}/api/devices/alternating/readings`, reading(i))).json()) as { cip_id: number }).cip_id);
    await Bun.sleep(GAP_MS + 500); // past CIP_GAP_MINUTES
    for (let i = 0; i < 6; i++) cipIds.push(((await (await post(`${urls[(i + 1) % 3]}/api/devices/alternating/readings`, reading(i))).json()) as { cip_id: number }).cip_id);
    expect(cipIds).toEqual([1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]);

    // The cycle events up to the second cycle's opening (cycle 2 closes by itself later).
    const events: Frame[] = [];
    while (!events.some((e) => e.type === "cycle.opened" && e.cip_id === 2)) {
      const frame = await cycles.next(15_000);
      if (frame.device === "alternating") events.push(frame);
    }
    expect(events.map((e) => `${e.type} ${e.cip_id}`)).toEqual(["cycle.opened 1", "cycle.closed 1", "cycle.opened 2"]);
    expect(events[1]).toMatchObject({ readings: 6, flow: { min: 0, max: 5, avg: 2.5 } });
    cycles.close();
  });

  test("readings of one device arriving at all three instances at the same moment open one cycle, and one instance closes it", async () => {
    const cycles = await openWs(wsUrl(urls[1]!, "topics=cycles"));
    const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => post(`${urls[i % 3]}/api/devices/race/readings`, reading(i))));
    const bodies = (await Promise.all(replies.map((r) => r.json()))) as { cip_id: number; seq: number }[];
    expect(new Set(bodies.map((b) => b.cip_id))).toEqual(new Set([1]));
    expect(new Set(bodies.map((b) => b.seq)).size).toBe(30);
    // Every instance's idle check sees the cycle go quiet; exactly one closing is published. Wait
    // for it, then a second more (three of each instance's idle checks) for a second one.
    const events: Frame[] = [];
    while (!events.some((e) => e.type === "cycle.closed")) {
      const frame = await cycles.next(GAP_MS + 15_000);
      if (frame.device === "race") events.push(frame);
    }
    for (let quiet = performance.now() + 1000; performance.now() < quiet; ) {
      const frame = await cycles.next(Math.max(1, quiet - performance.now())).catch(() => null);
      if (frame?.device === "race") events.push(frame);
    }
    expect(events.map((e) => `${e.type} ${e.cip_id}`)).toEqual(["cycle.opened 1", "cycle.closed 1"]);
    expect(events[1]).toMatchObject({ readings: 30 });
    cycles.close();
  });

  test("a client that drops from one instance resumes on another with its last seq and misses nothing", async () => {
    const first = await openWs(wsUrl(urls[0]!, "topics=devices/resume"));
    for (let i = 0; i < 5; i++) expect((await post(`${urls[i % 3]}/api/devices/resume/readings`, reading(i))).status).toBe(201);
    const seen = await readings(first, 5);
    expect(seen).toHaveLength(5);
    first.close();
    const last = seen[4]!.seq as number;
    const missed: number[] = [];
    for (let i = 5; i < 15; i++) missed.push(((await (await post(`${urls[(i % 2) + 1]}/api/devices/resume/readings`, reading(i))).json()) as { seq: number }).seq);

    const second = await openWs(wsUrl(urls[2]!, `topics=devices/resume&since=${last}`));
    const replayed = await readings(second, 10);
    expect(replayed.map((f) => f.seq)).toEqual(missed);
    expect(replayed.map((f) => f.flow)).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    // And live after the replay, with no duplicate.
    const live = ((await (await post(`${urls[0]}/api/devices/resume/readings`, reading(99))).json()) as { seq: number }).seq;
    expect((await readings(second, 1)).map((f) => f.seq)).toEqual([live]);
    second.close();
  });

  test("SSE resumes on another instance with Last-Event-ID", async () => {
    const seqs: number[] = [];
    for (let i = 0; i < 4; i++) seqs.push(((await (await post(`${urls[i % 3]}/api/devices/sse-resume/readings`, reading(i))).json()) as { seq: number }).seq);
    const leave = new AbortController();
    const headers = { "x-api-key": READ_KEY, "last-event-id": String(seqs[0]) };
    const sse = new SseClient(await fetch(`${urls[1]}/api/stream?topics=devices/sse-resume`, { headers, signal: leave.signal }));
    expect(await sseReadingIds(sse, 3)).toEqual(seqs.slice(1));
    leave.abort();
  });

  test("history written through one instance is read through another", async () => {
    const written: number[] = [];
    for (let i = 0; i < 5; i++) written.push(((await (await post(`${urls[0]}/api/devices/history-x/readings`, reading(i))).json()) as { seq: number }).seq);
    // Instance a writes its batch within FLUSH_INTERVAL_MS; instance c reads the shared database.
    let rows: { seq: number; flow: number }[] = [];
    for (let tries = 0; tries < 300 && rows.length < 5; tries++) {
      await Bun.sleep(50);
      rows = ((await (await get(`${urls[2]}/api/devices/history-x/readings`)).json()) as { readings: { seq: number; flow: number }[] }).readings;
    }
    expect(rows.map((r) => r.seq)).toEqual(written);
    const cycles = (await (await get(`${urls[1]}/api/devices/history-x/cycles`)).json()) as { cycles: { cip_id: number; readings: number }[] };
    expect(cycles.cycles[0]).toMatchObject({ cip_id: 1, readings: 5 });
    // The latest reading is the same through every instance.
    for (const url of urls) {
      const latest = (await (await get(`${url}/api/devices/history-x/latest`)).json()) as { seq: number };
      expect(latest.seq).toBe(written[4]!);
    }
  });

  test("health names the instance and its bus; metrics say the bus is up", async () => {
    const health = (await (await fetch(`${urls[1]}/health`)).json()) as { status: string; bus: { status: string; instance: string }; history: { storage: string } };
    expect(health).toMatchObject({ status: "healthy", bus: { status: "up", instance: "b" }, history: { storage: "postgres" } });
    const metrics = await (await get(`${urls[1]}/metrics`)).text();
    expect(metrics).toContain('sensorflow_bus_up{instance="b"} 1');
  });
});
