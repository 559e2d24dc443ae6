// One dashboard that stops reading must not cost anyone else anything: it is closed with 1013 and
// the others get every reading. The server runs on a test host (a network namespace) whose TCP send
// buffers are capped at 64 KB, as on a small plant box; otherwise the kernel would quietly absorb
// megabytes of a stuck client's backlog, and 10 s at 500 readings/s would never reach the server's
// own limit. How much the stuck client costs the others in latency and ingest rate is a figure of
// the benchmark (`bun run bench --only slow-consumer`), not an assertion here: it depends on the machine.
import { expect, setDefaultTimeout } from "bun:test";
import { fanout } from "../bench/lib";
import { createTestHost, run, spawnServer, type TestHost, stuckSubscriber } from "../helpers";
import { needs } from "../needs";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

// A raw client with a 2 KB receive buffer (Python's socket module can set it; Bun's WebSocket cannot).
// The test host is a network namespace (root, iproute2); the stuck client is Python.
const { beforeAll, afterAll, describe, test, path } = needs("root", "ip", "python3");

let host: TestHost;
beforeAll(async () => {
  host = await createTestHost(9);
  const tuned = await run(host.exec(["sysctl", "-w", "net.ipv4.tcp_wmem=4096 16384 65536"]));
  if (tuned.code !== 0) throw new Error(tuned.stderr);
});
afterAll(() => host.destroy());

describe("a subscriber that stops reading", () => {
  test("is closed with 1013 while 200 others get every reading", async () => {
    const server = await spawnServer(
      { HOST: "0.0.0.0", ALLOW_UNAUTHENTICATED: "true", SLOW_CLIENT_BYTES: "65536", RATE_LIMIT_PER_DEVICE: "0", MAX_STREAMS: "0" },
      host.exec([process.execPath, "src/index.ts"]),
    );
    const url = server.url.replace("0.0.0.0", host.ip);
    try {
      const slow = await stuckSubscriber(path("python3"), host.ip, new URL(url).port);

      // 200 subscribers, 500 readings a second for 10 s; they may take up to a minute to catch up
      // on a loaded machine before anything missing counts as lost.
      const others = await fanout(url, "ws", 200, 500, 10_000, 60_000);
      const said = await slow.release(300);

      console.log(`slow consumer: ${others.posted} readings to 200 others, lost ${others.lost}, p99 ${others.p99.toFixed(2)} ms`);
      expect(said).toContain("closed 1013 too slow");
      expect(server.lines.some((line) => line.includes("subscriber too slow, closed"))).toBe(true);
      expect(others.posted).toBeGreaterThan(0);
      expect(others.lost).toBe(0);
    } finally {
      await server.stop();
    }
  }, 120_000);
});
