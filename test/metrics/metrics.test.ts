import { afterEach, expect, setDefaultTimeout, test } from "bun:test";
import { READING, SseClient, get, openWs, post, start, type Running } from "../helpers";
import { describe, needs } from "../needs";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

let server: Running;
afterEach(() => server?.stop());

/** Sample values of a metric family, keyed by its label set as written. */
function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const match = line.match(/^([a-z_]+)(\{[^}]*\})? (\S+)$/);
    if (match && match[1] === name) out.set(match[2] ?? "", Number(match[3]));
  }
  return out;
}

const scrape = async () => {
  const response = await get(`${server.url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/plain");
  return response.text();
};

const promtool = needs("promtool");

describe("/metrics", () => {
  promtool.test("is valid Prometheus text exposition by promtool's own check", async () => {
    server = await start();
    await post(`${server.url}/api/devices/line-1/readings`, READING);
    const text = await scrape();
    const check = Bun.spawn([promtool.path("promtool"), "check", "metrics"], { stdin: new Blob([text]), stdout: "pipe", stderr: "pipe", timeout: 30_000 });
    const [stdout, stderr, code] = await Promise.all([new Response(check.stdout).text(), new Response(check.stderr).text(), check.exited]);
    expect(stdout + stderr).toBe("");
    expect(code).toBe(0);
  });

  test("counters move when readings arrive and when they are rejected, by reason", async () => {
    server = await start();
    const before = samples(await scrape(), "sensorflow_readings_total");
    expect(before.get('{result="accepted"}') ?? 0).toBe(0);
    await post(`${server.url}/sensor_data`, READING);
    await post(`${server.url}/api/devices/line-1/readings`, [READING, READING, READING]);
    await post(`${server.url}/sensor_data`, '{"temperature":75.5,"pressure":');
    await post(`${server.url}/sensor_data`, { ...READING, flow: "x" });
    await post(`${server.url}/sensor_data`, READING, "wrong-key");
    const after = await scrape();
    const readings = samples(after, "sensorflow_readings_total");
    expect(readings.get('{result="accepted"}')).toBe(4);
    expect(readings.get('{result="rejected",reason="malformed_json"}')).toBe(1);
    expect(readings.get('{result="rejected",reason="invalid_body"}')).toBe(1);
    expect(readings.get('{result="rejected",reason="invalid_api_key"}')).toBe(1);
    expect(samples(after, "sensorflow_ingest_duration_seconds_count").get("")).toBe(2);
    // 4 readings on two topics each, plus two cycle.opened events on two topics each.
    expect(samples(after, "sensorflow_messages_published_total").get("")).toBe(12);
  });

  test("per-device last seen and current cycle, and live streams", async () => {
    server = await start();
    await post(`${server.url}/api/devices/line-1/readings`, READING);
    server.advance(11 * 60_000);
    await post(`${server.url}/api/devices/line-1/readings`, READING);
    const ws = await openWs(`${server.ws}/ws/sensor_updates?api-key=screen-key-1`);
    const sse = await SseClient.open(`${server.url}/api/stream`);
    const text = await scrape();
    expect(samples(text, "sensorflow_device_cycle").get('{device="line-1"}')).toBe(2);
    expect(samples(text, "sensorflow_device_last_seen_timestamp_seconds").get('{device="line-1"}')).toBe(Date.parse("2024-01-15T13:41:00Z") / 1000);
    const streams = samples(text, "sensorflow_streams");
    expect(streams.get('{kind="websocket"}')).toBe(1);
    expect(streams.get('{kind="sse"}')).toBe(1);
    expect(samples(text, "sensorflow_process_resident_memory_bytes").get("")).toBeGreaterThan(1_000_000);
    ws.close();
    sse.abort();
  });

  test("needs the read key unless METRICS_PUBLIC=true", async () => {
    server = await start();
    expect((await get(`${server.url}/metrics`, null)).status).toBe(401);
    await server.stop();
    server = await start({ METRICS_PUBLIC: "true" });
    expect((await get(`${server.url}/metrics`, null)).status).toBe(200);
  });
});
