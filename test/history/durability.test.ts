// What a crash may cost: a SIGKILL right after a 201, then a restart on the same data.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { READING, spawnServer } from "../helpers";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

/** Posts at least `count` readings and for at least `minMs`, SIGKILLs the server, restarts it and counts what it kept. */
async function crashAndCount(env: Record<string, string>, count: number, minMs = 0) {
  const server = await spawnServer({ STORAGE: "sqlite", RATE_LIMIT_PER_DEVICE: "0", ...env });
  const acked: { seq: number; at: number }[] = [];
  // The process is SIGKILLed below; if an assertion fails first, it must not outlive the test.
  const cleanup = setTimeout(() => server.proc.kill("SIGKILL"), 60_000);
  const started = performance.now();
  for (let i = 0; (i < count || performance.now() - started < minMs) && i < 20_000; i++) {
    const response = await fetch(`${server.url}/sensor_data`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ...READING, flow: i }) });
    expect(response.status).toBe(201);
    acked.push({ seq: (await response.json()).seq, at: performance.now() });
  }
  const killedAt = performance.now();
  server.proc.kill("SIGKILL");
  await server.exited;
  clearTimeout(cleanup);

  const again = await spawnServer({ STORAGE: "sqlite", RATE_LIMIT_PER_DEVICE: "0", ...env });
  const kept = new Set<number>();
  try {
    let cursor = "";
    for (let page = 0; page < 100; page++) {
      const body = await (await fetch(`${again.url}/api/devices/default/readings?limit=1000${cursor}`)).json();
      for (const r of body.readings) kept.add(r.seq);
      if (!body.next) break;
      cursor = `&cursor=${body.next}`;
    }
  } finally {
    await again.stop();
  }
  return { acked, kept, killedAt };
}

describe("durability", () => {
  test("with FLUSH_INTERVAL_MS=0 every acknowledged reading survives a SIGKILL", async () => {
    const { acked, kept } = await crashAndCount({ DATA_DIR: mkdtempSync(join(tmpdir(), "sf-crash-")), FLUSH_INTERVAL_MS: "0" }, 300);
    expect(acked.filter((a) => !kept.has(a.seq))).toEqual([]);
  });

  test("with the default write-behind, a SIGKILL loses at most the readings acknowledged since the last flush", async () => {
    const interval = 20;
    // Posting for 3 s: a writer that did not flush every interval would lose seconds of readings.
    const { acked, kept, killedAt } = await crashAndCount({ DATA_DIR: mkdtempSync(join(tmpdir(), "sf-crash-")), FLUSH_INTERVAL_MS: String(interval) }, 300, 3000);
    const lost = acked.filter((a) => !kept.has(a.seq));
    // What is lost is the newest readings only, nothing older was skipped.
    expect(lost).toEqual(acked.slice(acked.length - lost.length));
    // Acknowledged shortly before the kill: one interval, plus a second of slack for a loaded
    // machine running the flush timer late (on an idle one it is a reading or two).
    for (const reading of lost) expect(killedAt - reading.at).toBeLessThan(interval + 1000);
    expect(kept.size).toBeGreaterThan(0);
  });
});
