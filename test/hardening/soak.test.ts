// The bounded soak (SOAK_SECONDS, default 30 here; `bun run test:full` and CI run 120, and
// `bun test/bench/soak.ts --duration N` runs as long as you like): boards posting
// connection-per-request, readers on WebSocket and SSE dropping and resuming at random. Zero 5xx,
// zero lost, stable memory.
import { expect, setDefaultTimeout, test } from "bun:test";
import { run } from "../helpers";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

const seconds = Number(process.env.SOAK_SECONDS ?? 30);

test(`a ${seconds} s soak loses nothing, answers no 5xx and keeps its memory`, async () => {
  const result = await run([process.execPath, "test/bench/soak.ts", "--duration", String(seconds)], { HOME: process.env.HOME ?? "/root" }, (seconds + 120) * 1000);
  console.log(result.stdout.trim());
  expect(result.stderr).not.toContain("soak failed");
  expect(result.code).toBe(0);
  const report = JSON.parse(result.stdout.slice(result.stdout.indexOf("{"), result.stdout.lastIndexOf("}") + 1));
  expect(report.lost).toBe(0);
  expect(report.errors5xx).toBe(0);
  // The boards aim at 200 readings/s; a tenth of that proves they ran, however loaded the machine is.
  expect(report.readingsAccepted).toBeGreaterThan(seconds * 20);
  expect(report.reconnects).toBeGreaterThan(0);
}, (seconds + 150) * 1000);
