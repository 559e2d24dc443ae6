// What a test needs from the machine beyond Bun and the three services (Redis, PostgreSQL, Mosquitto
// on loopback): a tool found on the PATH, a Docker engine that answers, or root.
//
//   const browser = needs("chromium");
//   browser.beforeAll(...);  browser.test("...", ...);  browser.path("chromium")
//
// Where something is missing, its tests are skipped, and test/setup.ts names each of them with the
// reason at the end of the run. In strict mode (CI=true or SENSORFLOW_TEST_STRICT=1) nothing is
// skipped: the same tests fail, saying what is missing.
import { afterAll as bunAfterAll, beforeAll as bunBeforeAll, describe as bunDescribe, test as bunTest } from "bun:test";
import { relative } from "node:path";

export const STRICT = process.env.CI === "true" || process.env.SENSORFLOW_TEST_STRICT === "1";

/** What each need is called on the PATH and which Debian package brings it. */
const KNOWN = {
  chromium: { names: ["chromium", "chromium-browser"], apt: "chromium" },
  pdftoppm: { names: ["pdftoppm"], apt: "poppler-utils" },
  promtool: { names: ["promtool"], apt: "prometheus" },
  nginx: { names: ["nginx"], apt: "nginx-light" },
  docker: { names: ["docker"], apt: "docker.io" },
  "docker-compose": { names: ["docker-compose"], apt: "docker-compose" },
  ip: { names: ["ip"], apt: "iproute2" },
  python3: { names: ["python3"], apt: "python3" },
  openssl: { names: ["openssl"], apt: "openssl" },
  mosquitto: { names: ["mosquitto"], apt: "mosquitto" },
  "redis-server": { names: ["redis-server"], apt: "redis-server" },
  curl: { names: ["curl"], apt: "curl" },
} as const;

export type Tool = keyof typeof KNOWN;
export type Need = Tool | "root";

export interface Skipped {
  file: string;
  name: string;
  reason: string;
  apt: string[];
}

// One list for the whole run: Bun evaluates this module once and shares it across test files.
const shared = globalThis as typeof globalThis & { __sensorflowSkipped?: Skipped[] };
export const skipped: Skipped[] = (shared.__sensorflowSkipped ??= []);

const ROOT = new URL("..", import.meta.url).pathname;

/** Every executable called `name` on the PATH, in PATH order. */
function onPath(name: string): string[] {
  const found: string[] = [];
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (!dir) continue;
    const path = Bun.which(name, { PATH: dir });
    if (path && !found.includes(path)) found.push(path);
  }
  return found;
}

/** A Docker client on the PATH whose engine answers (the first one that does), or why there is none. */
function findDocker(): { path?: string; problem?: string } {
  const clients = onPath("docker");
  if (clients.length === 0) return { problem: "no docker on PATH" };
  const said: string[] = [];
  for (const path of clients) {
    const info = Bun.spawnSync([path, "info", "--format", "{{.ServerVersion}}"], { stdout: "pipe", stderr: "pipe", timeout: 15_000 });
    if (info.exitCode === 0 && info.stdout.toString().trim()) return { path };
    said.push(`${path}: ${(info.stderr.toString().trim().split("\n")[0] ?? "").slice(0, 160) || `exit ${info.exitCode}`}`);
  }
  return { problem: `no Docker engine answers \`docker info\` (${said.join("; ")})` };
}

const resolved = new Map<Need, { path?: string; problem?: string }>();
function resolve(need: Need): { path?: string; problem?: string } {
  let found = resolved.get(need);
  if (found) return found;
  if (need === "root") found = process.getuid?.() === 0 ? { path: "root" } : { problem: "not root (network namespaces need root)" };
  else if (need === "docker") found = findDocker();
  else {
    const path = KNOWN[need].names.map((name) => Bun.which(name)).find(Boolean);
    found = path ? { path } : { problem: `no ${KNOWN[need].names.join(" or ")} on PATH` };
  }
  resolved.set(need, found);
  return found;
}

/** The absolute path of a tool (the working client for "docker"); throws saying why there is none. */
export function tool(name: Tool): string {
  const found = resolve(name);
  if (!found.path) throw new Error(found.problem);
  return found.path;
}

/** The file of the test being registered, from the call stack. */
function callerFile(): string {
  const line = new Error().stack?.split("\n").find((l) => /\.test\.ts:\d+/.test(l));
  const path = line?.match(/\(?((?:\/|[A-Za-z]:)[^():]+\.test\.ts):\d+/)?.[1];
  return path ? relative(ROOT, path) : "(unknown file)";
}

type Fn = () => void | Promise<unknown>;

export interface Gate {
  /** True when everything needed is here. */
  readonly ok: boolean;
  /** What is missing, in one sentence ("" when nothing is). */
  readonly reason: string;
  /** The absolute path of a tool this gate needs (the working Docker client for "docker"). */
  path(tool: Tool): string;
  test(name: string, fn: Fn, timeout?: number): void;
  /** The same as this module's `describe` (a block whose name prefixes skipped tests' names). */
  describe(name: string, fn: () => void): void;
  beforeAll(fn: Fn, timeout?: number): void;
  afterAll(fn: Fn, timeout?: number): void;
}

// The names of the describe blocks being registered, so a skipped test is named in full.
const scope: string[] = [];

/** bun:test's describe, keeping track of the block's name for the skipped-tests report. */
export function describe(name: string, fn: () => void): void {
  bunDescribe(name, () => {
    scope.push(name);
    try {
      fn();
    } finally {
      scope.pop();
    }
  });
}

/** Tests that run only where every need is met (or fail saying why, in strict mode). */
export function needs(...wanted: Need[]): Gate {
  const missing = wanted.map((need) => ({ need, ...resolve(need) })).filter((r) => r.problem);
  const ok = missing.length === 0;
  const reason = missing.map((m) => m.problem).join("; ");
  const apt = missing.flatMap((m) => (m.need === "root" ? [] : [KNOWN[m.need].apt]));
  const gate: Gate = {
    ok,
    reason,
    path: tool,
    test(name, fn, timeout) {
      if (ok) return void bunTest(name, fn, timeout);
      const full = [...scope, name].join(" > ");
      if (STRICT) {
        return void bunTest(name, () => {
          throw new Error(`${reason}. Strict mode (CI=true or SENSORFLOW_TEST_STRICT=1) fails instead of skipping; \`bun run test:full\` installs what is missing.`);
        });
      }
      skipped.push({ file: callerFile(), name: full, reason, apt });
      bunTest.skip(name, fn);
    },
    describe,
    beforeAll(fn, timeout) {
      if (ok) bunBeforeAll(fn, timeout);
    },
    afterAll(fn, timeout) {
      if (ok) bunAfterAll(fn, timeout);
    },
  };
  return gate;
}
