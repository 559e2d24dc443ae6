import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { FIRMWARE_BODY, INGEST_KEY, READING, firmwareRequest, get, post, rawHttp, start, type Running } from "../helpers";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

let server: Running;
beforeEach(async () => {
  server = await start();
});
afterEach(() => server.stop());

describe("a board posting readings", () => {
  test("the firmware's exact bytes over a new TCP connection get 201 and a reply that fits its 1,024-byte buffer", async () => {
    for (const path of ["/sensor_data", "/api/sensor_data"]) {
      const reply = await rawHttp(server.port, firmwareRequest(path));
      expect(reply.startsWith("HTTP/1.1 201")).toBe(true);
      expect(Buffer.byteLength(reply, "latin1")).toBeLessThan(1024);
      const body = JSON.parse(reply.slice(reply.indexOf("\r\n\r\n") + 4));
      expect(body).toMatchObject({ ...READING, cip_id: 1, device: "default" });
    }
  });

  test("the stored reading has the original's fields in order, then device and seq", async () => {
    const response = await post(`${server.url}/sensor_data`, FIRMWARE_BODY);
    expect(response.status).toBe(201);
    expect(response.headers.get("content-type")).toContain("application/json");
    const body = await response.json();
    expect(Object.keys(body)).toEqual(["temperature", "pressure", "concentration", "flow", "timestamp", "cip_id", "device", "seq"]);
    expect(body.timestamp).toBe("2024-01-15T10:30:00.000-03:00");
    expect(body.seq).toBeGreaterThan(0);
  });

  test("a failed sensor's nan or inf is kept as null and named in faults; the other values are stored and the server carries on", async () => {
    const reply = await rawHttp(server.port, firmwareRequest("/sensor_data", '{"temperature":nan,"pressure":2.30,"concentration":0.80, "flow":-inf}'));
    expect(reply.startsWith("HTTP/1.1 201")).toBe(true);
    const body = JSON.parse(reply.slice(reply.indexOf("\r\n\r\n") + 4));
    expect(body).toMatchObject({ temperature: null, pressure: 2.3, concentration: 0.8, flow: null, faults: ["temperature", "flow"], device: "default" });
    expect((await post(`${server.url}/sensor_data`, READING)).status).toBe(201);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });

  test("truncated JSON gets 400 and nothing is stored", async () => {
    const response = await post(`${server.url}/sensor_data`, '{"temperature":75.5,"pressure":');
    expect(response.status).toBe(400);
    expect((await response.json()).error).toBe("malformed_json");
    expect((await get(`${server.url}/sensor_data`)).status).toBe(404);
  });

  test("a schema violation gets 422 naming the field", async () => {
    const device = (body: unknown) => post(`${server.url}/api/devices/line-1/readings`, body);
    const legacy = (body: unknown) => post(`${server.url}/sensor_data`, body);
    const cases: [() => Promise<Response>, string][] = [
      [() => device({ ...READING, temperature: "75.5" }), "temperature"],
      [() => device({ pressure: 2.3, concentration: 0.8, flow: 1.2 }), "temperature"],
      [() => device(FIRMWARE_BODY.replace("2.30", "1e999")), "pressure"],
      [() => legacy({ ...READING, temperature: "hot" }), "temperature"],
      [() => legacy({ humidity: 40 }), "temperature"],
      [() => legacy({ ...READING, sensor_id: "../etc/passwd" }), "sensor_id"],
    ];
    for (const [send, field] of cases) {
      const response = await send();
      expect(response.status).toBe(422);
      const error = await response.json();
      expect(error.error).toBe("invalid_body");
      expect(error.details[0].field).toBe(field);
      expect(error.message).toContain(field);
    }
  });

  test("unknown extra fields are ignored", async () => {
    const response = await post(`${server.url}/sensor_data`, { ...READING, rssi: -70, board: "pico" });
    expect(response.status).toBe(201);
    const body = await response.json();
    expect(body.rssi).toBeUndefined();
    expect(body.board).toBeUndefined();
  });

  test("a body over MAX_BODY_BYTES gets 413 before it is read", async () => {
    const response = await post(`${server.url}/sensor_data`, { ...READING, padding: "x".repeat(300_000) });
    expect(response.status).toBe(413);
    expect((await response.json()).error).toBe("body_too_large");
  });

  test("a body that is not JSON gets 415 naming the type to send", async () => {
    const response = await fetch(`${server.url}/sensor_data`, {
      method: "POST",
      headers: { "x-api-key": INGEST_KEY, "content-type": "application/x-www-form-urlencoded" },
      body: "temperature=75.5",
    });
    expect(response.status).toBe(415);
    expect((await response.json()).message).toContain("application/json");
  });

  test("a missing or wrong key gets 401 and the reading is not stored", async () => {
    const missing = await post(`${server.url}/sensor_data`, READING, null);
    expect(missing.status).toBe(401);
    expect((await missing.json()).error).toBe("missing_api_key");
    const wrong = await post(`${server.url}/sensor_data`, READING, "not-a-key");
    expect(wrong.status).toBe(401);
    expect((await wrong.json()).error).toBe("invalid_api_key");
    expect((await get(`${server.url}/sensor_data`)).status).toBe(404);
  });

  test("a read key cannot post readings", async () => {
    expect((await post(`${server.url}/sensor_data`, READING, "screen-key-1")).status).toBe(401);
  });
});

describe("per-device readings", () => {
  test("one reading for a named device is stored under that device", async () => {
    const response = await post(`${server.url}/api/devices/line-1/readings`, READING);
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({ ...READING, device: "line-1", cip_id: 1 });
  });

  test("a batch is stored in order and answered with every stored reading", async () => {
    const batch = Array.from({ length: 5 }, (_, i) => ({ ...READING, temperature: 70 + i }));
    const response = await post(`${server.url}/api/devices/line-1/readings`, batch);
    expect(response.status).toBe(201);
    const stored = await response.json();
    expect(stored.map((r: { temperature: number }) => r.temperature)).toEqual([70, 71, 72, 73, 74]);
    const seqs = stored.map((r: { seq: number }) => r.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const latest = await (await get(`${server.url}/api/devices/line-1/latest`)).json();
    expect(latest.temperature).toBe(74);
  });

  test("a batch with one bad reading stores nothing and names the bad one", async () => {
    const batch = [READING, READING, { ...READING, concentration: "high" }];
    const response = await post(`${server.url}/api/devices/line-1/readings`, batch);
    expect(response.status).toBe(422);
    expect((await response.json()).details[0].field).toBe("[2].concentration");
    expect((await get(`${server.url}/api/devices/line-1/latest`)).status).toBe(404);
  });

  test("a batch of 1,000 is accepted and one of 1,001 is refused (with room for them in MAX_BODY_BYTES)", async () => {
    await server.stop();
    server = await start({ MAX_BODY_BYTES: "131072" });
    const ok = await post(`${server.url}/api/devices/line-1/readings`, Array(1000).fill(READING));
    expect(ok.status).toBe(201);
    expect((await ok.json()).length).toBe(1000);
    const over = await post(`${server.url}/api/devices/line-2/readings`, Array(1001).fill(READING));
    expect(over.status).toBe(422);
    expect((await get(`${server.url}/api/devices/line-2/latest`)).status).toBe(404);
  });

  test("an invalid device id gets 422 naming the device", async () => {
    for (const device of ["-starts-with-dash", "a".repeat(65), "has%20space"]) {
      const response = await post(`${server.url}/api/devices/${device}/readings`, READING);
      expect(response.status).toBe(422);
      expect((await response.json()).details[0].field).toBe("device");
    }
  });
});
