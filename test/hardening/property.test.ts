// Property-based: whatever JSON a board sends, and whatever a WebSocket client says, the answer is
// documented and the server's state stays right.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import fc from "fast-check";
import { READ_KEY, READING, openWs, post, start, type Running } from "../helpers";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

let server: Running;
beforeAll(async () => {
  server = await start();
});
afterAll(() => server.stop());

const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
const metric = fc.oneof(finite, fc.string(), fc.boolean(), fc.constant(null), fc.array(finite, { maxLength: 2 }), fc.integer());
const reading = fc.record(
  { temperature: metric, pressure: metric, concentration: metric, flow: metric, extra: fc.jsonValue({ maxDepth: 3 }) },
  { requiredKeys: [] },
);

const METRICS = ["temperature", "pressure", "concentration", "flow"] as const;
const NUMBER_TEXT = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;
const FAILED_TEXT = /^\s*[-+]?(nan|inf(inity)?)(\([^)]*\))?\s*$/i;

/** What the original path stores for a value older firmware may send: the number, null (a failed sensor), or undefined (refused). */
function legacyValue(value: unknown): number | null | undefined {
  if (value === null) return null;
  if (typeof value === "number") return value;
  if (typeof value !== "string") return undefined;
  if (FAILED_TEXT.test(value)) return null;
  if (!NUMBER_TEXT.test(value)) return undefined;
  const number = Number(value.trim());
  return Number.isFinite(number) ? number : null;
}

describe("the ingest schema", () => {
  const unchanged = async (before: string) => {
    const after = await (await fetch(`${server.url}/sensor_data`, { headers: { "x-api-key": READ_KEY } })).text();
    expect(after).toBe(before);
  };

  test("the device path: any JSON body is either stored exactly (four numbers, null for a failed sensor) or refused with 400/422 and nothing changes", async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(reading, fc.jsonValue({ maxDepth: 4 })), async (body) => {
        const before = await (await fetch(`${server.url}/api/devices/prop/latest`, { headers: { "x-api-key": READ_KEY } })).text();
        const response = await post(`${server.url}/api/devices/prop/readings`, JSON.stringify(body));
        const answer = await response.json();
        const valid =
          typeof body === "object" && body !== null && !Array.isArray(body) &&
          METRICS.every((k) => typeof (body as Record<string, unknown>)[k] === "number" || (body as Record<string, unknown>)[k] === null);
        if (valid) {
          expect(response.status).toBe(201);
          for (const k of METRICS) expect(answer[k]).toBe((body as Record<string, number | null>)[k]);
          const faults = METRICS.filter((k) => (body as Record<string, unknown>)[k] === null);
          expect(answer.faults).toEqual(faults.length > 0 ? faults : undefined);
        } else if (!Array.isArray(body)) {
          expect([400, 422]).toContain(response.status);
          expect(typeof answer.message).toBe("string");
          const after = await (await fetch(`${server.url}/api/devices/prop/latest`, { headers: { "x-api-key": READ_KEY } })).text();
          expect(after).toBe(before);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("the original path: any firmware-like body is stored as its values say (quoted digits, nan, absent sensors) or refused and nothing changes", async () => {
    await fc.assert(
      fc.asyncProperty(reading, async (body) => {
        const before = await (await fetch(`${server.url}/sensor_data`, { headers: { "x-api-key": READ_KEY } })).text();
        const response = await post(`${server.url}/sensor_data`, JSON.stringify(body));
        const answer = await response.json();
        const given = METRICS.filter((k) => k in body);
        const values = given.map((k) => legacyValue((body as Record<string, unknown>)[k]));
        if (given.length > 0 && values.every((v) => v !== undefined)) {
          expect(response.status).toBe(201);
          for (const k of METRICS) expect(answer[k]).toBe(k in body ? legacyValue((body as Record<string, unknown>)[k]) : null);
        } else {
          expect([400, 422]).toContain(response.status);
          expect(typeof answer.message).toBe("string");
          await unchanged(before);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("the WebSocket client protocol", () => {
  test("any message gets an ack, a pong or an error frame, and the connection keeps delivering", async () => {
    const ws = await openWs(`${server.ws}/ws?topics=readings&api-key=${READ_KEY}`);
    await ws.nextOf("welcome");
    const topic = fc.oneof(fc.constantFrom("readings", "cycles", "alarms", "devices/line-1"), fc.string());
    const message = fc.oneof(
      fc.record({ op: fc.constantFrom("subscribe", "unsubscribe"), topic, since: fc.option(fc.nat(), { nil: undefined }) }, { requiredKeys: ["op"] }),
      fc.record({ op: fc.constant("ping") }),
      fc.jsonValue({ maxDepth: 3 }),
      fc.string().map((text) => ({ raw: text })),
    );
    await fc.assert(
      fc.asyncProperty(message, async (m) => {
        ws.send(typeof m === "object" && m !== null && "raw" in m ? String(m.raw) : JSON.stringify(m));
        // Replayed events may follow an ack; the first frame is the answer to the message.
        const answer = await ws.next().catch((error) => {
          throw new Error(`no answer to ${JSON.stringify(m)}: ${error}`);
        });
        expect(["ack", "pong", "error"]).toContain(answer.type as string);
        await Bun.sleep(0);
        ws.pending();
      }),
      { numRuns: 200 },
    );
    // Past WS_MESSAGE_RATE the answers were rate_limited errors; once the bucket refills, it listens again.
    await Bun.sleep(1100);
    ws.send({ op: "subscribe", topic: "readings" });
    await ws.nextOf("ack");
    await post(`${server.url}/sensor_data`, READING);
    expect((await ws.nextOf("reading")).device).toBe("default");
    ws.close();
  });
});
