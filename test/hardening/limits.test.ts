import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { INGEST_KEY, READ_KEY, READING, SseClient, WsClient, get, openWs, post, run, spawnServer, start, type Running } from "../helpers";
import { needs } from "../needs";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

let server: Running | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe("plausible ranges", () => {
  test("a value outside LIMIT_<METRIC> gets 422 naming the field and the range; nothing of the batch is stored", async () => {
    server = await start({ LIMIT_TEMPERATURE: "-20..150", LIMIT_FLOW: "0.." });
    const hot = await post(`${server.url}/sensor_data`, { ...READING, temperature: 151 });
    expect(hot.status).toBe(422);
    const body = await hot.json();
    expect(body.error).toBe("out_of_range");
    expect(body.details).toEqual([{ field: "temperature", message: "151 is outside the plausible range -20..150 (LIMIT_TEMPERATURE)" }]);
    const batch = await post(`${server.url}/api/devices/line-1/readings`, [READING, { ...READING, flow: -1 }]);
    expect((await batch.json()).details[0].field).toBe("[1].flow");
    expect((await get(`${server.url}/api/devices/line-1/latest`)).status).toBe(404);
    expect((await post(`${server.url}/sensor_data`, { ...READING, temperature: 150 })).status).toBe(201);
  });

  test("a malformed range stops start-up naming the variable", async () => {
    const result = await run([process.execPath, "src/index.ts"], { LIMIT_PRESSURE: "10..2" });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("LIMIT_PRESSURE");
  });
});

describe("rate limits", () => {
  test("a flooding board gets 429 with Retry-After while another board carries on", async () => {
    server = await start({ RATE_LIMIT_PER_DEVICE: "5", RATE_LIMIT_PER_KEY: "0" });
    const statuses = [];
    for (let i = 0; i < 8; i++) statuses.push((await post(`${server.url}/api/devices/flood/readings`, READING)).status);
    expect(statuses).toEqual([201, 201, 201, 201, 201, 429, 429, 429]);
    const refused = await post(`${server.url}/api/devices/flood/readings`, READING);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect((await refused.json()).error).toBe("rate_limited");
    expect((await post(`${server.url}/api/devices/quiet/readings`, READING)).status).toBe(201);
    server.advance(1000); // a second later the bucket has refilled
    expect((await post(`${server.url}/api/devices/flood/readings`, READING)).status).toBe(201);
  });

  test("a key is limited across all its devices", async () => {
    server = await start({ RATE_LIMIT_PER_DEVICE: "0", RATE_LIMIT_PER_KEY: "3", API_KEY: `${INGEST_KEY},other-key` });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await post(`${server.url}/api/devices/d${i}/readings`, READING)).status);
    expect(statuses).toEqual([201, 201, 201, 429]);
    expect((await post(`${server.url}/api/devices/d9/readings`, READING, "other-key")).status).toBe(201);
  });
});

describe("stream limits", () => {
  test("MAX_STREAMS caps live streams in all: a WebSocket over it is closed with 1013, SSE gets 429", async () => {
    server = await start({ MAX_STREAMS: "2", MAX_WS_CONNECTIONS_PER_KEY: "0" });
    const a = await openWs(`${server.ws}/ws/sensor_updates?api-key=${READ_KEY}`);
    const b = await SseClient.open(`${server.url}/api/stream`);
    const c = new WsClient(`${server.ws}/ws/sensor_updates?api-key=${READ_KEY}`);
    const closed = await c.closed;
    expect(closed.code).toBe(1013);
    expect(closed.reason).toContain("MAX_STREAMS=2");
    const sse = await get(`${server.url}/api/stream`);
    expect(sse.status).toBe(429);
    expect(sse.headers.get("retry-after")).toBeTruthy();
    a.close();
    b.abort();
  });

  test("a WebSocket client sending faster than WS_MESSAGE_RATE gets error frames, then is heard again", async () => {
    server = await start({ WS_MESSAGE_RATE: "5" });
    const ws = await openWs(`${server.ws}/ws?api-key=${READ_KEY}`);
    await ws.nextOf("welcome");
    for (let i = 0; i < 8; i++) ws.send({ op: "ping" });
    const answers = [];
    for (let i = 0; i < 8; i++) answers.push((await ws.next()).type);
    expect(answers.filter((t) => t === "pong").length).toBe(5);
    expect(answers.filter((t) => t === "error").length).toBe(3);
    await Bun.sleep(1100);
    ws.send({ op: "ping" });
    expect((await ws.next()).type).toBe("pong");
    ws.close();
  });
});

describe("browsers", () => {
  test("CORS_ORIGINS lets a listed origin call the API and its preflight through, and no other", async () => {
    server = await start({ CORS_ORIGINS: "http://scada.plant.local" });
    const preflight = await fetch(`${server.url}/api/devices`, {
      method: "OPTIONS",
      headers: { origin: "http://scada.plant.local", "access-control-request-method": "GET", "access-control-request-headers": "x-api-key" },
    });
    expect(preflight.headers.get("access-control-allow-origin")).toBe("http://scada.plant.local");
    expect(preflight.headers.get("access-control-allow-headers")).toContain("x-api-key");
    const other = await fetch(`${server.url}/api/devices`, { headers: { origin: "http://evil.example", "x-api-key": READ_KEY } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });

  test("the docs page carries a strict CSP, refuses framing and says nosniff", async () => {
    server = await start();
    const docs = await fetch(`${server.url}/docs`);
    expect(docs.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(docs.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(docs.headers.get("x-content-type-options")).toBe("nosniff");
    expect(docs.headers.get("x-frame-options")).toBe("DENY");
  });
});

const openssl = needs("openssl"); // makes the test's self-signed certificate
openssl.describe("TLS", () => {
  openssl.test("with TLS_CERT_FILE/TLS_KEY_FILE it serves HTTPS and WSS, and PLAIN_PORT keeps plain HTTP for boards", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sensorflow-tls-"));
    const made = await run([openssl.path("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
      "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"]);
    expect(made.code).toBe(0);
    const ca = await Bun.file(join(dir, "cert.pem")).text();
    const plainPort = 20000 + (process.pid % 20000);
    const tls = await spawnServer({
      TLS_CERT_FILE: join(dir, "cert.pem"),
      TLS_KEY_FILE: join(dir, "key.pem"),
      PLAIN_PORT: String(plainPort),
      API_KEY: INGEST_KEY,
      API_KEY_WS: READ_KEY,
    });
    try {
      expect(tls.url).toStartWith("https://");
      const posted = await fetch(`http://127.0.0.1:${plainPort}/sensor_data`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": INGEST_KEY },
        body: JSON.stringify(READING),
      });
      expect(posted.status).toBe(201);
      const latest = await fetch(`${tls.url}/sensor_data`, { headers: { "x-api-key": READ_KEY }, tls: { ca } });
      expect((await latest.json()).temperature).toBe(READING.temperature);
      const wss = new WebSocket(`${tls.url.replace("https", "wss")}/ws/sensor_updates?api-key=${READ_KEY}`, { tls: { ca } } as unknown as string[]);
      await new Promise((resolve, reject) => ((wss.onopen = resolve), (wss.onerror = reject)));
      const frame = new Promise<string>((resolve) => (wss.onmessage = (event) => resolve(String(event.data))));
      await fetch(`http://127.0.0.1:${plainPort}/sensor_data`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": INGEST_KEY },
        body: JSON.stringify({ ...READING, flow: 7 }),
      });
      expect(JSON.parse(await frame).flow).toBe(7);
      wss.close();
      // Without the certificate's CA the client refuses: it really is TLS.
      await expect(fetch(`${tls.url}/health`)).rejects.toThrow();
    } finally {
      await tls.stop();
    }
  });
});
