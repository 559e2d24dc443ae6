import { afterAll, afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { READING, dropDatabases, get, openWs, post, postgresEnv, start, type Running } from "../helpers";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

const MINUTE = 60_000;
let server: Running | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

// The same behaviour from either history store: embedded SQLite, and PostgreSQL (DATABASE_URL).
afterAll(dropDatabases);

const STORES = {
  sqlite: async (extra: Record<string, string> = {}) => ({
    STORAGE: "sqlite",
    DATA_DIR: mkdtempSync(join(tmpdir(), "sensorflow-history-")),
    ...extra,
  }),
  postgres: postgresEnv,
};

async function postReading(s: Running, device: string, values: Partial<typeof READING> = {}) {
  const response = await post(`${s.url}/api/devices/${device}/readings`, { ...READING, ...values });
  expect(response.status).toBe(201);
  return response.json();
}

for (const [kind, fresh] of Object.entries(STORES)) describe(`history in ${kind}`, () => {
  describe("state survives a restart", () => {
    test("latest reading, cycle number and seq carry on; a reading within the gap continues the cycle", async () => {
      const env = await fresh();
      server = await start(env);
      await postReading(server, "line-1");
      server.advance(11 * MINUTE);
      const before = await postReading(server, "line-1", { temperature: 81 });
      expect(before.cip_id).toBe(2);
      await server.stop();

      server = await start(env);
      server.advance(11 * MINUTE + 5 * MINUTE); // 5 minutes after the last reading
      const latest = await (await get(`${server.url}/api/devices/line-1/latest`)).json();
      expect(latest).toEqual(before);
      const after = await postReading(server, "line-1");
      expect(after.cip_id).toBe(2);
      expect(after.seq).toBe(before.seq + 1);
      server.advance(11 * MINUTE);
      expect((await postReading(server, "line-1")).cip_id).toBe(3);
    });

    test("with STORAGE=memory nothing is kept and history routes say so", async () => {
      server = await start({ STORAGE: "memory" });
      await postReading(server, "line-1");
      const response = await get(`${server.url}/api/devices/line-1/readings`);
      expect(response.status).toBe(404);
      expect((await response.json()).error).toBe("history_off");
    });
  });

  describe("history queries", () => {
    async function tenReadings() {
      server = await start(await fresh());
      const stored = [];
      for (let i = 0; i < 10; i++) {
        stored.push(await postReading(server, "line-1", { temperature: 60 + i, flow: i }));
        server.advance(10_000);
      }
      await postReading(server, "line-2");
      return stored;
    }

    test("a time range answers that device's readings in order, from inclusive, to exclusive", async () => {
      const stored = await tenReadings();
      // An unknown parameter (a browser's cache-buster) is ignored.
      const page = await (await get(`${server!.url}/api/devices/line-1/readings?from=${encodeURIComponent(stored[2].timestamp)}&to=${Date.parse(stored[5].timestamp)}&_=1`)).json();
      expect(page.readings).toEqual(stored.slice(2, 5));
      expect(page.next).toBeNull();
    });

    test("pages follow the next cursor until the end, in both orders", async () => {
      const stored = await tenReadings();
      const seen = [];
      let cursor = "";
      for (let i = 0; i < 10; i++) {
        const page = await (await get(`${server!.url}/api/devices/line-1/readings?limit=4${cursor}`)).json();
        seen.push(...page.readings);
        if (!page.next) break;
        cursor = `&cursor=${page.next}`;
      }
      expect(seen).toEqual(stored);
      const newest = await (await get(`${server!.url}/api/devices/line-1/readings?order=desc&limit=3`)).json();
      expect(newest.readings.map((r: { seq: number }) => r.seq)).toEqual(stored.slice(7).reverse().map((r) => r.seq));
      const next = await (await get(`${server!.url}/api/devices/line-1/readings?order=desc&limit=3&cursor=${newest.next}`)).json();
      expect(next.readings[0].seq).toBe(stored[6].seq);
    });

    test("format=csv answers a CSV with a header row", async () => {
      const stored = await tenReadings();
      const response = await get(`${server!.url}/api/devices/line-1/readings?format=csv&limit=2`);
      expect(response.headers.get("content-type")).toContain("text/csv");
      expect(response.headers.get("x-next-cursor")).toBe(String(stored[1].seq));
      const lines = (await response.text()).trim().split("\n");
      expect(lines[0]).toBe("timestamp,device,cip_id,seq,temperature (°C),pressure (bar),concentration (%),flow (m³/h),faults");
      expect(lines[1]).toBe(`${stored[0].timestamp},line-1,1,${stored[0].seq},60,2.3,0.8,0,`);
      expect(lines.length).toBe(3);
    });

    test("bucket=30s gives min/avg/max per bucket, as computed by hand", async () => {
      await tenReadings();
      // Readings every 10 s from 13:30:00 UTC: temperatures 60..69, flow 0..9.
      const page = await (await get(`${server!.url}/api/devices/line-1/readings?bucket=30s`)).json();
      expect(page.buckets.map((b: { count: number }) => b.count)).toEqual([3, 3, 3, 1]);
      expect(page.buckets[0]).toMatchObject({ start: "2024-01-15T10:30:00.000-03:00", temperature: { min: 60, avg: 61, max: 62 }, flow: { min: 0, avg: 1, max: 2 } });
      expect(page.buckets[3]).toMatchObject({ start: "2024-01-15T10:31:30.000-03:00", temperature: { min: 69, avg: 69, max: 69 } });
      const csv = await (await get(`${server!.url}/api/devices/line-1/readings?bucket=1m&format=csv`)).text();
      expect(csv.split("\n")[1]).toStartWith("2024-01-15T10:30:00.000-03:00,6,60,62.5,65,");
    });

    test("bad times and bucket sizes are refused with 422 naming the field", async () => {
      server = await start(await fresh());
      const bad = await get(`${server.url}/api/devices/line-1/readings?from=yesterday`);
      expect(bad.status).toBe(422);
      expect((await bad.json()).details[0].field).toBe("from");
      const bucket = await get(`${server.url}/api/devices/line-1/readings?bucket=5x`);
      expect(bucket.status).toBe(422);
      expect((await bucket.json()).details[0].field).toBe("bucket");
    });
  });

  describe("cycles", () => {
    test("each cycle's summary matches its readings, and its full record is there in JSON and CSV", async () => {
      server = await start(await fresh());
      for (const temperature of [70, 74, 78]) {
        await postReading(server, "line-1", { temperature, concentration: temperature / 50 });
        server.advance(30_000);
      }
      server.advance(11 * MINUTE);
      await postReading(server, "line-1", { temperature: 20 });
      const { cycles } = await (await get(`${server.url}/api/devices/line-1/cycles`)).json();
      expect(cycles.map((c: { cip_id: number; open: boolean }) => [c.cip_id, c.open])).toEqual([[2, true], [1, false]]);
      expect(cycles[1]).toMatchObject({
        started_at: "2024-01-15T10:30:00.000-03:00",
        ended_at: "2024-01-15T10:31:00.000-03:00",
        duration_s: 60,
        readings: 3,
        temperature: { min: 70, avg: 74, max: 78 },
        concentration: { min: 1.4, avg: 1.48, max: 1.56 },
        pressure: { min: 2.3, avg: 2.3, max: 2.3 },
      });
      expect(await (await get(`${server.url}/api/devices/line-1/cycles/1`)).json()).toEqual(cycles[1]);
      const record = await (await get(`${server.url}/api/devices/line-1/cycles/1/readings`)).json();
      expect(record.readings.map((r: { temperature: number }) => r.temperature)).toEqual([70, 74, 78]);
      const csv = await (await get(`${server.url}/api/devices/line-1/cycles/1/readings?format=csv`)).text();
      expect(csv.trim().split("\n").length).toBe(4);
      expect((await get(`${server.url}/api/devices/line-1/cycles/9`)).status).toBe(404);
    });

    test("a cycle closes by itself once the gap passes with no data, publishing its summary", async () => {
      server = await start(await fresh(), { cycleCheckMs: 20 });
      const client = await openWs(`${server.ws}/ws?topics=cycles&api-key=screen-key-1`);
      await client.nextOf("welcome");
      await postReading(server, "line-1", { temperature: 71 });
      await client.nextOf("cycle.opened");
      server.advance(11 * MINUTE);
      const closed = await client.nextOf("cycle.closed");
      expect(closed).toMatchObject({ device: "line-1", cip_id: 1, open: false, readings: 1, temperature: { min: 71, avg: 71, max: 71 } });
      const summary = await (await get(`${server.url}/api/devices/line-1/cycles/1`)).json();
      expect(summary.open).toBe(false);
      // The next reading opens cycle 2 without closing cycle 1 a second time.
      await postReading(server, "line-1");
      expect((await client.next()).type).toBe("cycle.opened");
      client.close();
    });
  });

  describe("retention", () => {
    test("readings older than RETENTION_DAYS are pruned, and /health reports the history's size", async () => {
      const env = await fresh({ RETENTION_DAYS: "1" });
      server = await start(env);
      await postReading(server, "line-1");
      await server.stop();
      server = await start(env);
      server.advance(25 * 60 * MINUTE);
      await postReading(server, "line-1", { temperature: 99 });
      await server.stop();
      server = await start(env); // pruning runs at start-up, then hourly
      server.advance(25 * 60 * MINUTE);
      let rows = [];
      for (let i = 0; i < 50; i++) {
        rows = (await (await get(`${server.url}/api/devices/line-1/readings`)).json()).readings;
        if (rows.length === 1) break;
        await Bun.sleep(10);
      }
      expect(rows.map((r: { temperature: number }) => r.temperature)).toEqual([99]);
      const health = await (await fetch(`${server.url}/health`)).json();
      expect(health.history).toMatchObject({ storage: kind, retention_days: 1, oldest_reading: "2024-01-16T11:30:00.000-03:00" });
      expect(health.history.bytes).toBeGreaterThan(0);
    });
  });
});
