import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { READING, openWs, post, start, type Running } from "../helpers";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

let server: Running;
afterEach(() => server.stop());

const postAt = async (path = "/sensor_data") => (await post(server.url + path, READING)).json();
const MINUTE = 60_000;

describe("cleaning cycle numbering", () => {
  test("the first reading opens cycle 1 and readings within the gap stay in it", async () => {
    server = await start();
    expect((await postAt()).cip_id).toBe(1);
    server.advance(9 * MINUTE);
    expect((await postAt()).cip_id).toBe(1);
    server.advance(10 * MINUTE);
    expect((await postAt()).cip_id).toBe(1);
  });

  test("a reading 11 minutes after the last one opens cycle 2", async () => {
    server = await start();
    await postAt();
    server.advance(11 * MINUTE);
    expect((await postAt()).cip_id).toBe(2);
    server.advance(11 * MINUTE);
    expect((await postAt()).cip_id).toBe(3);
  });

  test("CIP_GAP_MINUTES takes decimals", async () => {
    server = await start({ CIP_GAP_MINUTES: "0.5" });
    await postAt();
    server.advance(29_000);
    expect((await postAt()).cip_id).toBe(1);
    server.advance(31_000);
    expect((await postAt()).cip_id).toBe(2);
  });

  test("each device counts its own cycles", async () => {
    server = await start();
    await postAt("/api/devices/line-1/readings");
    server.advance(11 * MINUTE);
    await postAt("/api/devices/line-2/readings");
    expect((await postAt("/api/devices/line-1/readings")).cip_id).toBe(2);
    expect((await postAt("/api/devices/line-2/readings")).cip_id).toBe(1);
  });

  test("opening a cycle publishes the closed cycle's summary and the new cycle on the cycles topic", async () => {
    server = await start();
    const client = await openWs(`${server.ws}/ws?topics=cycles&api-key=screen-key-1`);
    await client.nextOf("welcome");
    await postAt();
    const first = await client.nextOf("cycle.opened");
    expect(first).toMatchObject({ device: "default", cip_id: 1, started_at: "2024-01-15T10:30:00.000-03:00" });
    server.advance(30_000);
    await postAt();
    server.advance(11 * MINUTE);
    const reading = await postAt();
    const closed = await client.nextOf("cycle.closed");
    expect(closed).toMatchObject({ device: "default", cip_id: 1, readings: 2, duration_s: 30, ended_at: "2024-01-15T10:30:30.000-03:00" });
    const opened = await client.nextOf("cycle.opened");
    expect(opened).toMatchObject({ device: "default", cip_id: 2 });
    expect(Number(closed.seq)).toBeLessThan(Number(opened.seq));
    expect(Number(opened.seq)).toBeLessThan(reading.seq);
    client.close();
  });
});
