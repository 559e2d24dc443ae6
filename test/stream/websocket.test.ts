import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { READ_KEY, READING, SseClient, WsClient, openWs, post, start, type Running } from "../helpers";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

let server: Running;
beforeEach(async () => {
  server = await start({ MAX_WS_CONNECTIONS_PER_KEY: "2" });
});
afterEach(() => server.stop());

const ws = (path: string) => openWs(`${server.ws}${path}${path.includes("?") ? "&" : "?"}api-key=${READ_KEY}`);

describe("the original stream /ws/sensor_updates", () => {
  test("pushes every reading of every device at once, in the stored-reading shape", async () => {
    const client = await ws("/ws/sensor_updates");
    const stored = await (await post(`${server.url}/sensor_data`, READING)).json();
    await post(`${server.url}/api/devices/line-2/readings`, { ...READING, flow: 9 });
    const first = await client.next();
    expect(first).toEqual({ ...stored, type: "reading" });
    expect(Object.keys(first).slice(0, 8)).toEqual(Object.keys(stored));
    expect(await client.next()).toMatchObject({ device: "line-2", flow: 9 });
    client.close();
  });

  test("refuses a client without the read key", async () => {
    const client = new WsClient(`${server.ws}/ws/sensor_updates`);
    await expect(client.opened).rejects.toThrow();
    const response = await fetch(`${server.url}/ws/sensor_updates`, { headers: { upgrade: "websocket", connection: "upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" } });
    expect(response.status).toBe(401);
    expect((await response.json()).error).toBe("missing_api_key");
  });
});

describe("topic subscriptions on /ws", () => {
  test("a subscriber to one device's topic never sees another device's readings", async () => {
    const one = await ws("/ws?topics=devices/line-1");
    const two = await ws("/ws?topics=devices/line-2");
    expect(await one.next()).toMatchObject({ type: "welcome", topics: ["devices/line-1"] });
    await two.next();
    await post(`${server.url}/api/devices/line-2/readings`, { ...READING, flow: 2 });
    await post(`${server.url}/api/devices/line-1/readings`, { ...READING, flow: 1 });
    expect((await one.nextOf("reading")).flow).toBe(1);
    expect((await two.nextOf("reading")).flow).toBe(2);
    await Bun.sleep(50);
    expect(one.pending().filter((f) => f.type === "reading")).toEqual([]);
    expect(two.pending().filter((f) => f.type === "reading")).toEqual([]);
    one.close();
    two.close();
  });

  test("subscribe and unsubscribe messages are acknowledged and take effect", async () => {
    const client = await ws("/ws");
    expect(await client.next()).toMatchObject({ type: "welcome", topics: [] });
    client.send({ op: "subscribe", topic: "devices/line-1" });
    expect(await client.next()).toMatchObject({ type: "ack", op: "subscribe", topic: "devices/line-1", topics: ["devices/line-1"] });
    await post(`${server.url}/api/devices/line-1/readings`, READING);
    expect(await client.nextOf("reading")).toMatchObject({ device: "line-1" });
    client.send({ op: "unsubscribe", topic: "devices/line-1" });
    expect(await client.nextOf("ack")).toMatchObject({ op: "unsubscribe", topics: [] });
    await post(`${server.url}/api/devices/line-1/readings`, READING);
    client.send({ op: "ping" });
    // The pong comes after anything published before it; no reading arrives in between.
    expect((await client.next()).type).toBe("pong");
    client.close();
  });

  test("malformed and unknown messages get an error frame and the connection stays usable", async () => {
    const client = await ws("/ws?topics=readings");
    await client.next();
    client.send("not json");
    expect(await client.next()).toMatchObject({ type: "error", error: "malformed_message" });
    client.send({ op: "dance" });
    expect(await client.next()).toMatchObject({ type: "error", error: "invalid_message" });
    client.send({ op: "subscribe", topic: "../etc/passwd" });
    expect(await client.next()).toMatchObject({ type: "error", error: "invalid_topic" });
    await post(`${server.url}/sensor_data`, READING);
    expect(await client.next()).toMatchObject({ type: "reading" });
    client.close();
  });

  test("an unknown topic in ?topics= is refused with 400 before the upgrade", async () => {
    const response = await fetch(`${server.url}/ws?topics=readings,bogus&api-key=${READ_KEY}`, {
      headers: { upgrade: "websocket", connection: "upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" },
    });
    expect(response.status).toBe(400);
    expect((await response.json()).message).toContain("bogus");
  });

  test("cycle events and readings of a device both reach its device topic", async () => {
    const client = await ws("/ws?topics=devices/line-1");
    await client.next();
    await post(`${server.url}/api/devices/line-1/readings`, READING);
    expect((await client.next()).type).toBe("cycle.opened");
    expect((await client.next()).type).toBe("reading");
    client.close();
  });
});

describe("streams per key", () => {
  test("the stream over MAX_WS_CONNECTIONS_PER_KEY (WebSocket and SSE together) is closed with 1008 and a reason", async () => {
    const sse = await SseClient.open(`${server.url}/api/stream`);
    const first = await ws("/ws/sensor_updates");
    const third = new WsClient(`${server.ws}/ws/sensor_updates?api-key=${READ_KEY}`);
    const closed = await third.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toContain("MAX_WS_CONNECTIONS_PER_KEY=2");
    const overSse = await fetch(`${server.url}/api/stream`, { headers: { "x-api-key": READ_KEY } });
    expect(overSse.status).toBe(429);
    // Closing one frees its slot.
    first.close();
    await first.closed;
    await Bun.sleep(20);
    const again = await ws("/ws/sensor_updates");
    await post(`${server.url}/sensor_data`, READING);
    expect((await again.next()).type).toBe("reading");
    again.close();
    sse.abort();
  });
});
