import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createClock, offsetMinutes } from "../../src/clock";
import { READING, post, start, type Running } from "../helpers";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

let server: Running | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe("health", () => {
  test("is public and answers the original's fields", async () => {
    server = await start();
    const { url } = server;
    for (const path of ["/health", "/api/health"]) {
      const response = await fetch(url + path);
      expect(response.status).toBe(200);
      const body = await response.json();
      expect(body).toMatchObject({ status: "healthy", service: "sensorflow", version: "3.0.0", timestamp: "2024-01-15T10:30:00.000-03:00" });
      expect(typeof body.uptime_s).toBe("number");
    }
  });
});

describe("API documentation", () => {
  test("/docs serves the API reference page and /docs/json the OpenAPI document", async () => {
    server = await start();
    const { url } = server;
    const page = await fetch(`${url}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    // Offline plants: the page's script comes from this server, not a CDN.
    const html = await page.text();
    const scripts = [...html.matchAll(/<script[^>]*src="([^"]+)"/g)].map((m) => m[1]!);
    expect(scripts).toEqual(["/docs/assets/api-reference.js"]);
    expect(html).not.toMatch(/https?:\/\/(cdn|unpkg|fonts)/);
    const script = await fetch(url + scripts[0]);
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toContain("javascript");
    expect((await script.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
    const spec = await (await fetch(`${url}/docs/json`)).json();
    expect(spec.info.title).toBe("SensorFlow API");
    expect(spec.info.version).toBe("3.0.0");
  });

  test("every route has a summary, a tag and response schemas; ingest routes document their body", async () => {
    server = await start();
    const { url } = server;
    const spec = await (await fetch(`${url}/docs/json`)).json();
    const expected = [
      "post /sensor_data",
      "post /api/sensor_data",
      "get /sensor_data",
      "get /api/sensor_data",
      "post /api/devices/{device}/readings",
      "get /api/devices",
      "get /api/devices/{device}/latest",
      "get /api/stream",
      "get /health",
      "get /api/health",
    ];
    const operations: string[] = [];
    for (const [path, methods] of Object.entries(spec.paths as Record<string, Record<string, { summary?: string; tags?: string[]; responses?: object; requestBody?: object }>>)) {
      for (const [method, op] of Object.entries(methods)) {
        operations.push(`${method} ${path}`);
        expect(op.summary, `${method} ${path}`).toBeTruthy();
        expect(op.tags?.length, `${method} ${path}`).toBeGreaterThan(0);
        expect(Object.keys(op.responses ?? {}).length, `${method} ${path}`).toBeGreaterThan(0);
        if (method === "post") expect(op.requestBody, `${method} ${path}`).toBeTruthy();
      }
    }
    for (const operation of expected) expect(operations).toContain(operation);
  });
});

describe("time", () => {
  test("timestamps are the server's receive time in TIMEZONE, with milliseconds and the offset", async () => {
    server = await start({ TIMEZONE: "Asia/Kolkata" });
    server.advance(123);
    const { url } = server;
    const stored = await (await post(`${url}/sensor_data`, READING)).json();
    expect(stored.timestamp).toBe("2024-01-15T19:00:00.123+05:30");
  });

  test("the offset follows daylight saving time", () => {
    const clock = createClock("Europe/Berlin");
    expect(clock.iso(Date.parse("2024-01-15T12:00:00.000Z"))).toBe("2024-01-15T13:00:00.000+01:00");
    expect(clock.iso(Date.parse("2024-07-15T12:00:00.000Z"))).toBe("2024-07-15T14:00:00.000+02:00");
    // The switch at 01:00 UTC on 2024-03-31: one millisecond either side.
    expect(clock.iso(Date.parse("2024-03-31T00:59:59.999Z"))).toBe("2024-03-31T01:59:59.999+01:00");
    expect(clock.iso(Date.parse("2024-03-31T01:00:00.000Z"))).toBe("2024-03-31T03:00:00.000+02:00");
    expect(offsetMinutes("America/Sao_Paulo", Date.parse("2024-01-15T12:00:00Z"))).toBe(-180);
    expect(createClock("UTC").iso(0)).toBe("1970-01-01T00:00:00.000+00:00");
  });
});
