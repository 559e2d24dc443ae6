// CI keeps the benchmarks working: `bun run bench --quick` must run to the end and lose nothing.
// It asserts no timing: speed is compared in the full run, as ratios (README, "Performance").
import { expect, setDefaultTimeout, test } from "bun:test";
import { run } from "../helpers";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

test("bun run bench --quick runs every benchmark, with no ingest error and no lost message", async () => {
  const result = await run([process.execPath, "run", "bench", "--quick"], { HOME: process.env.HOME ?? "/root" }, 120_000);
  expect(result.stderr).not.toContain("problems:");
  expect(result.code).toBe(0);
  for (const section of ["Ingest", "Fan-out over WebSocket", "Fan-out over SSE", "Memory (RSS", "Compiled executable"]) {
    expect(result.stdout).toContain(section);
  }
  const report = await Bun.file(new URL("results/bench-quick.json", import.meta.url)).json();
  expect(report.problems).toEqual([]);
  for (const row of [...report.fanout, ...report.sse]) {
    expect(row.sensorflow.delivered).toBeGreaterThan(0);
    if (row.sensorflow.mode !== "saturation") expect(row.sensorflow.lost).toBe(0);
  }
}, 150_000);
