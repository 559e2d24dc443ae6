// One dashboard that stops reading must not slow ingest or anyone else: it is closed with 1013.
// The server runs on a test host (a network namespace) whose TCP send buffers are capped at 64 KB,
// as on a small plant box; otherwise the kernel would quietly absorb megabytes of a stuck client's
// backlog, and 10 s at 500 readings/s would never reach the server's own limit.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { fanout } from "../bench/lib";
import { createTestHost, run, spawnServer, type TestHost } from "../helpers";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

// A raw client with a 2 KB receive buffer (Python's socket module can set it; Bun's WebSocket cannot).
const SLOW_CLIENT = new URL("slow-client.py", import.meta.url).pathname;

let host: TestHost;
beforeAll(async () => {
  host = await createTestHost(9);
  const tuned = await run(["ip", "netns", "exec", host.ns, "sysctl", "-w", "net.ipv4.tcp_wmem=4096 16384 65536"]);
  if (tuned.code !== 0) throw new Error(tuned.stderr);
});
afterAll(() => host.destroy());

describe("a subscriber that stops reading", () => {
  test("is closed with 1013 while 200 others get every reading in real time and ingest keeps its rate", async () => {
    const server = await spawnServer(
      { HOST: "0.0.0.0", ALLOW_UNAUTHENTICATED: "true", SLOW_CLIENT_BYTES: "65536", RATE_LIMIT_PER_DEVICE: "0", MAX_STREAMS: "0" },
      ["ip", "netns", "exec", host.ns, process.execPath, "src/index.ts"],
    );
    const url = server.url.replace("0.0.0.0", host.ip);
    try {
      // The run without the slow client is the yardstick.
      const alone = await fanout(url, "ws", 200, 500, 10_000);

      const slow = Bun.spawn(["python3", SLOW_CLIENT, host.ip, new URL(url).port, "/ws/sensor_updates", "1"], { stdout: "pipe" });
      let said = "";
      const opened = Promise.withResolvers<void>();
      void (async () => {
        for await (const chunk of slow.stdout) {
          said += new TextDecoder().decode(chunk);
          if (said.includes("open")) opened.resolve();
        }
      })();
      await opened.promise;
      slow.kill("SIGSTOP"); // it stops reading

      const withSlow = await fanout(url, "ws", 200, 500, 10_000);
      slow.kill("SIGCONT");
      for (let i = 0; i < 100 && !said.includes("closed"); i++) await Bun.sleep(100);
      slow.kill();

      console.log(
        `slow consumer: p99 ${alone.p99.toFixed(2)} ms alone, ${withSlow.p99.toFixed(2)} ms with the slow client; ` +
          `accepted/s ${alone.acceptedPerSecond.toFixed(0)} vs ${withSlow.acceptedPerSecond.toFixed(0)}; lost ${alone.lost} / ${withSlow.lost}`,
      );
      expect(said).toContain("closed 1013 too slow");
      expect(server.lines.some((line) => line.includes("subscriber too slow, closed"))).toBe(true);
      expect(alone.lost).toBe(0);
      expect(withSlow.lost).toBe(0);
      expect(withSlow.p99).toBeLessThanOrEqual(2 * alone.p99);
      expect(withSlow.acceptedPerSecond).toBeGreaterThanOrEqual(0.9 * alone.acceptedPerSecond);
    } finally {
      await server.stop();
    }
  }, 90_000);
});
