// `bun test/bench/soak.ts [--duration 120] [--devices 20] [--readers 20]`: a bounded soak. Boards post
// with a new connection per reading (as the firmware does), readers follow over WebSocket and SSE and
// drop their connection at random, resuming with their last seq. At the end: zero 5xx, zero readings
// lost for any reader, and the server's RSS within 20% of its value after warm-up. Exit 1 otherwise.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startServer } from "./lib";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: { duration: { type: "string" }, devices: { type: "string" }, readers: { type: "string" } },
});
const durationMs = Number(values.duration ?? 120) * 1000;
const devices = Number(values.devices ?? 20);
const readers = Number(values.readers ?? 20);
const INGEST = "soak-board-key";
const READ = "soak-screen-key";

const server = await startServer(
  "sensorflow",
  [process.execPath, "src/index.ts"],
  { API_KEY: INGEST, API_KEY_WS: READ, DATA_DIR: mkdtempSync(join(tmpdir(), "sensorflow-soak-")), MAX_WS_CONNECTIONS_PER_KEY: "0" },
);

const accepted = new Set<number>();
const statuses = new Map<number, number>();
let stopping = false;

function postReading(device: string, i: number): Promise<void> {
  const body = `{"temperature":${70 + (i % 10)},"pressure":2.30,"concentration":0.80, "flow":1.20}`;
  const request =
    `POST /api/devices/${device}/readings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
    `X-API-Key: ${INGEST}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
  return new Promise((resolve) => {
    let reply = "";
    const done = () => {
      const status = Number(reply.slice(9, 12)) || 0;
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      const seq = reply.match(/"seq":(\d+)/);
      if (status === 201 && seq) accepted.add(Number(seq[1]));
      resolve();
    };
    Bun.connect({
      hostname: "127.0.0.1",
      port: server.port,
      socket: {
        open: (socket) => void socket.write(request),
        data: (_s, data) => void (reply += data.toString("latin1")),
        close: done,
        error: done,
      },
    }).catch(done);
  });
}

/** A reader: what it has seen, and a way to drop and resume its connection. */
interface Reader {
  kind: "ws" | "sse";
  seen: Set<number>;
  duplicates: number;
  first: number;
  last: number;
  reconnects: number;
  drop(): void;
  connect(): void;
}

function reader(kind: "ws" | "sse"): Reader {
  let close = () => {};
  const r: Reader = {
    kind,
    seen: new Set(),
    duplicates: 0,
    first: 0,
    last: 0,
    reconnects: 0,
    drop: () => close(),
    connect() {
      const onEvent = (seq: number) => {
        if (r.seen.has(seq)) r.duplicates++;
        r.seen.add(seq);
        if (r.first === 0) r.first = seq;
        if (seq > r.last) r.last = seq;
      };
      const since = r.last;
      if (kind === "ws") {
        const ws = new WebSocket(`${server.url.replace("http", "ws")}/ws?topics=readings&api-key=${READ}${since ? `&since=${since}` : ""}`);
        ws.onmessage = (event) => {
          const frame = JSON.parse(String(event.data)) as { type: string; seq: number };
          if (frame.type === "reading") onEvent(frame.seq);
        };
        close = () => ws.close();
      } else {
        const controller = new AbortController();
        const headers: Record<string, string> = { "x-api-key": READ };
        if (since) headers["last-event-id"] = String(since);
        void fetch(`${server.url}/api/stream?topics=readings`, { headers, signal: controller.signal })
          .then(async (response) => {
            const decoder = new TextDecoder();
            let buffer = "";
            for await (const chunk of response.body!) {
              buffer += decoder.decode(chunk, { stream: true });
              let end: number;
              while ((end = buffer.indexOf("\n\n")) >= 0) {
                const block = buffer.slice(0, end);
                buffer = buffer.slice(end + 2);
                if (block.includes("event: reading")) onEvent(Number(block.match(/^id: (\d+)/m)![1]));
              }
            }
          })
          .catch(() => {});
        close = () => controller.abort();
      }
    },
  };
  return r;
}

const all: Reader[] = Array.from({ length: readers }, (_, i) => reader(i % 2 === 0 ? "ws" : "sse"));
for (const r of all) r.connect();
await Bun.sleep(500);

const started = performance.now();
const end = started + durationMs;
const boards = Array.from({ length: devices }, async (_, d) => {
  for (let i = 0; performance.now() < end && i < 1_000_000; i++) {
    const t0 = performance.now();
    await postReading(`board-${d}`, i);
    await Bun.sleep(Math.max(0, 100 - (performance.now() - t0)));
  }
});

// Random disconnects: every second or so one reader drops and comes back up to 2 s later.
const chaos = (async () => {
  while (performance.now() < end - 3000) {
    await Bun.sleep(500 + Math.random() * 1000);
    const r = all[Math.floor(Math.random() * all.length)]!;
    r.drop();
    r.reconnects++;
    await Bun.sleep(Math.random() * 2000);
    if (!stopping) r.connect();
  }
})();

let warmRss = 0;
const warmUp = setTimeout(() => (warmRss = server.rssKb()), Math.min(30_000, durationMs / 4));
await Promise.all([...boards, chaos]);
stopping = true;
clearTimeout(warmUp);
const endRss = server.rssKb();

// Let everyone catch up (up to a minute on a loaded machine; it ends as soon as they have), then count.
const lastAccepted = Math.max(...accepted);
for (let waited = 0; waited < 60_000 && all.some((r) => r.last < lastAccepted); waited += 100) await Bun.sleep(100);
let lost = 0;
let duplicates = 0;
for (const r of all) {
  for (const seq of accepted) if (seq >= r.first && !r.seen.has(seq)) lost++;
  duplicates += r.duplicates;
  r.drop();
}
await server.stop();

const errors5xx = [...statuses].filter(([s]) => s >= 500 || s === 0).reduce((n, [, c]) => n + c, 0);
const rssChange = warmRss > 0 ? (endRss - warmRss) / warmRss : 0;
const report = {
  seconds: durationMs / 1000,
  devices,
  readers: { websocket: all.filter((r) => r.kind === "ws").length, sse: all.filter((r) => r.kind === "sse").length },
  readingsAccepted: accepted.size,
  statuses: Object.fromEntries(statuses),
  reconnects: all.reduce((n, r) => n + r.reconnects, 0),
  lost,
  duplicates,
  errors5xx,
  rssMb: { afterWarmUp: +(warmRss / 1024).toFixed(1), end: +(endRss / 1024).toFixed(1), change: `${(rssChange * 100).toFixed(1)}%` },
};
console.log(JSON.stringify(report, null, 2));
const problems = [
  ...(lost > 0 ? [`${lost} readings lost`] : []),
  ...(duplicates > 0 ? [`${duplicates} duplicates`] : []),
  ...(errors5xx > 0 ? [`${errors5xx} 5xx or failed requests`] : []),
  ...(Math.abs(rssChange) > 0.2 ? [`RSS moved ${(rssChange * 100).toFixed(1)}% after warm-up`] : []),
  ...(accepted.size === 0 ? ["nothing was accepted"] : []),
];
if (problems.length > 0) {
  console.error(`soak failed: ${problems.join("; ")}`);
  process.exit(1);
}
console.log("soak passed");
