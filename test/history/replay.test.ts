// A client that drops its connection and comes back with its last seq misses nothing.
import { afterAll, afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { READ_KEY, READING, SseClient, dropDatabases, openWs, post, postgresEnv, start, type Running } from "../helpers";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

let server: Running | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const storages = {
  sqlite: async () => ({ STORAGE: "sqlite", DATA_DIR: mkdtempSync(join(tmpdir(), "sensorflow-replay-")) }),
  memory: async () => ({ STORAGE: "memory" }),
  postgres: () => postgresEnv(),
};
afterAll(dropDatabases);

async function postMany(s: Running, count: number, device = "line-1") {
  const seqs: number[] = [];
  for (let i = 0; i < count; i++) {
    const response = await post(`${s.url}/api/devices/${device}/readings`, { ...READING, flow: i });
    seqs.push((await response.json()).seq);
  }
  return seqs;
}

for (const [name, storage] of Object.entries(storages)) {
  describe(`replay on reconnect (STORAGE=${name})`, () => {
    test("a WebSocket client that missed 100 readings gets exactly those, in order, then live ones", async () => {
      server = await start(await storage());
      const first = await openWs(`${server.ws}/ws?topics=devices/line-1&api-key=${READ_KEY}`);
      await first.nextOf("welcome");
      await postMany(server, 3);
      let last = 0;
      for (let i = 0; i < 3; i++) last = Number((await first.nextOf("reading")).seq);
      first.close();
      await first.closed;

      const missed = await postMany(server, 100);
      await postMany(server, 5, "line-2"); // another device: not on this topic

      const again = await openWs(`${server.ws}/ws?topics=devices/line-1&since=${last}&api-key=${READ_KEY}`);
      expect((await again.next()).type).toBe("welcome");
      const replayed = [];
      for (let i = 0; i < 100; i++) replayed.push(await again.next());
      expect(replayed.map((f) => f.seq)).toEqual(missed);
      expect(replayed.every((f) => f.type === "reading" && f.device === "line-1")).toBe(true);
      // Then the server says it is caught up: what follows is live.
      expect(await again.next()).toMatchObject({ type: "replayed", count: 100 });
      const [live] = await postMany(server, 1);
      const next = await again.next();
      expect(next.seq).toBe(live!);
      await Bun.sleep(30);
      expect(again.pending()).toEqual([]); // no duplicate at the seam
      again.close();
    });

    test("an SSE client reconnecting with Last-Event-ID gets exactly the 100 it missed, then live ones", async () => {
      server = await start(await storage());
      const first = await SseClient.open(`${server.url}/api/stream?topics=readings`);
      await postMany(server, 2);
      await first.nextEvent();
      const lastId = (await first.nextEvent()).id!;
      first.abort();

      const missed = await postMany(server, 100);
      const response = await fetch(`${server.url}/api/stream?topics=readings`, { headers: { "x-api-key": READ_KEY, "last-event-id": lastId } });
      const again = new SseClient(response);
      const ids = [];
      for (let i = 0; i < 100; i++) {
        const event = await again.nextEvent();
        expect(event.event).toBe("reading");
        ids.push(Number(event.id));
      }
      expect(ids).toEqual(missed);
      const [live] = await postMany(server, 1);
      expect(Number((await again.nextEvent()).id)).toBe(live!);
      again.controller.abort();
    });
  });
}

describe("replay limits", () => {
  test("a point older than what is kept is said explicitly, with the oldest seq available", async () => {
    server = await start({ STORAGE: "memory", REPLAY_MAX: "10" });
    const seqs = await postMany(server, 30);
    const sse = await SseClient.open(`${server.url}/api/stream?topics=readings&last_event_id=${seqs[0]}`);
    const gap = await sse.nextEvent();
    expect(gap.event).toBe("replay.gap");
    const notice = JSON.parse(gap.data!);
    expect(notice).toMatchObject({ requested: seqs[0], oldest: seqs[20] });
    const first = await sse.nextEvent();
    expect(Number(first.id)).toBe(notice.oldest);
    sse.abort();

    const ws = await openWs(`${server.ws}/ws?topics=readings&since=${seqs[0]}&api-key=${READ_KEY}`);
    await ws.nextOf("welcome");
    expect(await ws.next()).toMatchObject({ type: "replay.gap", requested: seqs[0], oldest: notice.oldest });
    ws.close();
  });

  test("subscribing by message with since replays that topic", async () => {
    server = await start({ STORAGE: "memory" });
    const seqs = await postMany(server, 5);
    const ws = await openWs(`${server.ws}/ws?api-key=${READ_KEY}`);
    await ws.nextOf("welcome");
    ws.send({ op: "subscribe", topic: "readings", since: seqs[2] });
    expect((await ws.next()).type).toBe("ack");
    expect([(await ws.next()).seq, (await ws.next()).seq]).toEqual([seqs[3], seqs[4]]);
    ws.close();
  });
});
