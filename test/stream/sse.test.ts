import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { READING, SseClient, get, post, start, type Running } from "../helpers";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

let server: Running;
afterEach(() => server.stop());

describe("Server-Sent Events at /api/stream", () => {
  test("delivers each reading with id: seq and event: reading", async () => {
    server = await start();
    const sse = await SseClient.open(`${server.url}/api/stream?topics=readings`);
    expect(sse.response.headers.get("content-type")).toContain("text/event-stream");
    const stored = await (await post(`${server.url}/sensor_data`, READING)).json();
    const event = await sse.nextEvent();
    expect(event.event).toBe("reading");
    expect(event.id).toBe(String(stored.seq));
    expect(JSON.parse(event.data!)).toEqual({ ...stored, type: "reading" });
    sse.abort();
  });

  test("only the asked-for topics arrive", async () => {
    server = await start();
    const sse = await SseClient.open(`${server.url}/api/stream?topics=devices/line-2,cycles`);
    await post(`${server.url}/api/devices/line-1/readings`, READING);
    await post(`${server.url}/api/devices/line-2/readings`, READING);
    const events = [await sse.nextEvent(), await sse.nextEvent(), await sse.nextEvent()];
    expect(events.map((e) => `${e.event}:${JSON.parse(e.data!).device}`)).toEqual([
      "cycle.opened:line-1",
      "cycle.opened:line-2",
      "reading:line-2",
    ]);
    sse.abort();
  });

  test("an idle stream gets keep-alive comments and outlives the server's idle timeout", async () => {
    server = await start({ SSE_KEEPALIVE_SECONDS: "0.5" }, {}, { idleTimeout: 1 });
    const sse = await SseClient.open(`${server.url}/api/stream`);
    // Three keep-alives, half a second apart at the least: the stream is still open well past the
    // server's 1 s idle timeout (however late a loaded machine sends them).
    let keepAlives = 0;
    while (keepAlives < 3) if ((await sse.next()).comment === "keep-alive") keepAlives++;
    await post(`${server.url}/sensor_data`, READING);
    expect((await sse.nextEvent()).event).toBe("reading");
    sse.abort();
  });

  test("a client that leaves frees its stream slot", async () => {
    server = await start();
    const sse = await SseClient.open(`${server.url}/api/stream`);
    expect(server.services.streams.sseCount()).toBe(1);
    sse.abort();
    for (let i = 0; i < 1000 && server.services.streams.sseCount() > 0; i++) await Bun.sleep(10);
    expect(server.services.streams.sseCount()).toBe(0);
    expect(server.services.slots.count()).toBe(0);
  });

  test("needs the read key and valid topics", async () => {
    server = await start();
    expect((await get(`${server.url}/api/stream`, null)).status).toBe(401);
    const bad = await get(`${server.url}/api/stream?topics=devices/`);
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toBe("invalid_topic");
  });
});
