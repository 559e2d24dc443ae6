import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { READ_KEY, READING, get, post, start, type Running } from "../helpers";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

let server: Running;
beforeEach(async () => {
  server = await start();
});
afterEach(() => server.stop());

describe("the latest reading", () => {
  test("before the first reading the answer is 404 with a JSON error, never invented zeros", async () => {
    for (const path of ["/sensor_data", "/api/sensor_data", "/api/devices/line-1/latest"]) {
      const response = await get(server.url + path);
      expect(response.status).toBe(404);
      const body = await response.json();
      expect(body.error).toBe("no_reading");
      expect(body.message).toContain("yet");
    }
  });

  test("the original paths answer the default device's latest reading", async () => {
    await post(`${server.url}/sensor_data`, { ...READING, temperature: 60 });
    await post(`${server.url}/api/sensor_data`, { ...READING, temperature: 61 });
    for (const path of ["/sensor_data", "/api/sensor_data"]) {
      const latest = await (await get(server.url + path)).json();
      expect(latest).toMatchObject({ temperature: 61, device: "default", cip_id: 1 });
    }
  });

  test("DEFAULT_DEVICE names the device the original paths post to", async () => {
    await server.stop();
    server = await start({ DEFAULT_DEVICE: "cip-line-7" });
    await post(`${server.url}/sensor_data`, READING);
    const latest = await (await get(`${server.url}/api/devices/cip-line-7/latest`)).json();
    expect(latest.device).toBe("cip-line-7");
  });

  test("each device keeps its own latest reading", async () => {
    await post(`${server.url}/api/devices/line-1/readings`, { ...READING, flow: 1 });
    await post(`${server.url}/api/devices/line-2/readings`, { ...READING, flow: 2 });
    expect((await (await get(`${server.url}/api/devices/line-1/latest`)).json()).flow).toBe(1);
    expect((await (await get(`${server.url}/api/devices/line-2/latest`)).json()).flow).toBe(2);
  });

  test("the device list gives each device's latest reading, current cycle and last seen time", async () => {
    await post(`${server.url}/api/devices/line-2/readings`, READING);
    server.advance(5_000);
    await post(`${server.url}/api/devices/line-1/readings`, READING);
    const { devices } = await (await get(`${server.url}/api/devices`)).json();
    expect(devices.map((d: { device: string }) => d.device)).toEqual(["line-1", "line-2"]);
    expect(devices[1]).toMatchObject({
      device: "line-2",
      cip_id: 1,
      cycle_started: "2024-01-15T10:30:00.000-03:00",
      last_seen: "2024-01-15T10:30:00.000-03:00",
      latest: { ...READING, device: "line-2" },
    });
    expect(devices[0].last_seen).toBe("2024-01-15T10:30:05.000-03:00");
  });

  test("reading data needs a key from API_KEY_WS, in the header or the api-key query parameter", async () => {
    await post(`${server.url}/sensor_data`, READING);
    expect((await get(`${server.url}/sensor_data`, null)).status).toBe(401);
    expect((await get(`${server.url}/api/devices`, "board-key-1")).status).toBe(401);
    expect((await get(`${server.url}/sensor_data?api-key=${READ_KEY}`, null)).status).toBe(200);
    expect((await get(`${server.url}/api/devices`)).status).toBe(200);
  });
});
