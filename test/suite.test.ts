// The suite's own rules, checked where a new test file would break them.
import { expect, setDefaultTimeout, test } from "bun:test";
import { Glob } from "bun";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

const ROOT = new URL("..", import.meta.url).pathname;

test("every test file sets its own default timeout (Bun 1.4 applies setDefaultTimeout per file and ignores bunfig's)", async () => {
  const files = [...new Glob("**/*.test.ts").scanSync({ cwd: `${ROOT}test` })].sort();
  expect(files.length).toBeGreaterThan(20);
  const without: string[] = [];
  for (const file of files) {
    const source = await Bun.file(`${ROOT}test/${file}`).text();
    if (!/^setDefaultTimeout\(\d[\d_]*\);/m.test(source)) without.push(file);
  }
  expect(without).toEqual([]);
});
