// Preloaded by `bun test` (bunfig.toml). At the end of the run it names every test that was skipped
// because this machine lacks something (test/needs.ts), with the reason and how to get it.
//
// Timeouts are not set here: Bun 1.4's setDefaultTimeout applies to the current file only (called
// from a preload it covers the first file and no other), and bunfig's `[test] timeout` is not read.
// Each test file calls setDefaultTimeout itself; test/suite.test.ts checks that none forgets.
import { afterAll } from "bun:test";
import { skipped } from "./needs";

afterAll(() => {
  if (skipped.length === 0) return;
  const byReason = new Map<string, typeof skipped>();
  for (const s of skipped) byReason.set(s.reason, [...(byReason.get(s.reason) ?? []), s]);
  const apt = [...new Set(skipped.flatMap((s) => s.apt))];
  const lines = [
    "",
    `SKIPPED ${skipped.length} test${skipped.length === 1 ? "" : "s"}: this machine lacks what they need.`,
  ];
  for (const [reason, tests] of byReason) {
    lines.push(`  because ${reason}:`);
    for (const t of tests) lines.push(`    - ${t.file}: ${t.name}`);
  }
  lines.push(
    `  To run them: \`bun run test:full\` (Debian, as root) installs what is missing, starts the services and runs every test` +
      (apt.length ? `; or apt-get install ${apt.join(" ")}` : "") +
      (skipped.some((s) => s.reason.includes("not root")) ? "; the network-namespace tests need root" : "") +
      ".",
  );
  console.error(lines.join("\n"));
});
