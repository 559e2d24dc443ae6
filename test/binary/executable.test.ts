// The compiled executable, as a plant PC runs it: no Bun, no Node, no PATH.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../package.json";
import { READ_KEY, READING, SseClient, WsClient, run, spawnServer } from "../helpers";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

const dir = mkdtempSync(join(tmpdir(), "sensorflow-bin-"));
const binary = join(dir, "sensorflow");

beforeAll(async () => {
  const built = await run([process.execPath, "run", "build", "--outfile", binary], {}, 120_000);
  if (built.code !== 0) throw new Error(`build failed: ${built.stderr}`);
}, 120_000);

afterAll(() => run(["rm", "-rf", dir]));

/** Runs the executable with an empty environment (env -i): nothing but what it carries. */
const bare = (args: string[], env: Record<string, string> = {}) =>
  run(["env", "-i", ...Object.entries(env).map(([k, v]) => `${k}=${v}`), binary, ...args]);

describe("the executable", () => {
  test("reports the package version and the commit it was built from", async () => {
    const result = await bare(["--version"]);
    expect(result.code).toBe(0);
    const commit = (await run(["git", "rev-parse", "--short=12", "HEAD"])).stdout.trim();
    expect(result.stdout).toStartWith(`sensorflow ${pkg.version} (commit ${commit}`);
  });

  test("needs only the C library, the loader and their companions", async () => {
    const result = await run(["ldd", binary]);
    const libraries = [...result.stdout.matchAll(/^\s*(\S+)/gm)].map((m) => m[1]!.split("/").pop()!).sort();
    expect(libraries).toEqual(["ld-linux-x86-64.so.2", "libc.so.6", "libdl.so.2", "libm.so.6", "libpthread.so.0", "linux-vdso.so.1"]);
  });

  test("runs under env -i, serves /health and the API reference from inside itself", async () => {
    const server = await spawnServer({}, ["env", "-i", "HOST=127.0.0.1", "PORT=0", `DATA_DIR=${dir}/data`, binary]);
    try {
      const health = await (await fetch(`${server.url}/health`)).json();
      expect(health).toMatchObject({ status: "healthy", version: pkg.version });
      const script = await fetch(`${server.url}/docs/assets/api-reference.js`);
      expect(script.status).toBe(200);
      expect((await script.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
      const posted = await fetch(`${server.url}/sensor_data`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(READING) });
      expect(posted.status).toBe(201);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  test("--help lists every flag and every variable of .env.example with its default", async () => {
    const result = await bare(["--help"]);
    expect(result.code).toBe(0);
    const example = await Bun.file(new URL("../../.env.example", import.meta.url)).text();
    const variables = [...example.matchAll(/^([A-Z_]+)=(.*)$/gm)];
    expect(variables.length).toBeGreaterThan(10);
    for (const [, name, value] of variables) {
      const line = result.stdout.split("\n").find((l) => l.trimStart().startsWith(name! + " "));
      expect(line, name).toBeDefined();
      expect(line!).toContain(`[${value || "none"}]`);
    }
    for (const flag of ["--port", "--host", "--env-file", "--data-dir", "--help", "--version"]) expect(result.stdout).toContain(flag);
  });

  test("settings: a flag wins over the environment, the environment over the .env file, the file over the default", async () => {
    const work = mkdtempSync(join(tmpdir(), "sensorflow-env-"));
    writeFileSync(join(work, "plant.env"), "TIMEZONE=Asia/Tokyo\nCIP_GAP_MINUTES=3\nPORT=1\n");
    const server = await spawnServer(
      { CIP_GAP_MINUTES: "4", PORT: "2" },
      ["env", "-i", "CIP_GAP_MINUTES=4", "PORT=2", "HOST=127.0.0.1", `DATA_DIR=${dir}/data`, binary, "--env-file", join(work, "plant.env"), "--port", "0"],
    );
    try {
      const startup = server.lines[0]!;
      expect(startup).toContain("timezone=Asia/Tokyo"); // .env over default
      expect(startup).toContain("cip_gap_minutes=4"); // environment over .env
      expect(new URL(server.url).port).not.toBe("2"); // flag over environment
      expect(startup).toContain("default_device=default"); // default
    } finally {
      await server.stop();
    }
    // Without --env-file, ./.env in the working directory is read.
    writeFileSync(join(work, ".env"), "DEFAULT_DEVICE=from-dotenv\nHOST=127.0.0.1\nPORT=0\n");
    const fromDotenv = await spawnServer({}, ["bash", "-c", `cd ${work} && exec env -i ${binary}`]);
    expect(fromDotenv.lines[0]).toContain("default_device=from-dotenv");
    expect(fromDotenv.lines[0]).toContain(`env_file=${join(work, ".env")}`);
    await fromDotenv.stop();
    // A plant PC keeps the executable and its .env in one folder and may start it from anywhere.
    const folder = mkdtempSync(join(tmpdir(), "sensorflow-pc-"));
    await run(["cp", binary, join(folder, "sensorflow")]);
    writeFileSync(join(folder, ".env"), `DEFAULT_DEVICE=beside-the-exe\nHOST=127.0.0.1\nPORT=0\nDATA_DIR=${folder}/data\n`);
    const beside = await spawnServer({}, ["bash", "-c", `cd / && exec env -i ${join(folder, "sensorflow")}`]);
    expect(beside.lines[0]).toContain("default_device=beside-the-exe");
    expect(beside.lines[0]).toContain(`env_file=${join(folder, ".env")}`);
    await beside.stop();
    const missing = await bare(["--env-file", join(work, "nope.env")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("nope.env");
  });

  test("with the MQTT bridge on it starts without a deprecation warning and says so once connected", async () => {
    const server = await spawnServer({}, ["env", "-i", "HOST=127.0.0.1", "PORT=0", "STORAGE=memory", "MQTT_URL=mqtt://127.0.0.1:1883", `MQTT_PREFIX=sf-bin-${process.pid}`, binary]);
    try {
      for (let i = 0; i < 100 && !server.lines.some((l) => l.includes("MQTT connected")); i++) await Bun.sleep(20);
      expect(server.lines.some((l) => l.includes("MQTT connected"))).toBe(true);
      expect(server.lines.join("\n")).not.toMatch(/DeprecationWarning|DEP0\d+/);
    } finally {
      await server.stop();
    }
  });

  test("healthcheck exits 0 while the server is healthy and 1 when nothing answers", async () => {
    const server = await spawnServer({}, ["env", "-i", "HOST=127.0.0.1", "PORT=0", `DATA_DIR=${dir}/data`, binary]);
    const port = new URL(server.url).port;
    expect((await bare(["healthcheck", "--port", port])).code).toBe(0);
    await server.stop();
    expect((await bare(["healthcheck", "--port", port])).code).toBe(1);
  });

  test("SIGTERM with a WebSocket and an SSE client attached: both see a clean close and the process exits 0 within 5 s", async () => {
    const server = await spawnServer({}, ["env", "-i", "HOST=127.0.0.1", "PORT=0", `DATA_DIR=${dir}/data`, `API_KEY_WS=${READ_KEY}`, "API_KEY=k", binary]);
    const ws = new WsClient(`${server.url.replace("http", "ws")}/ws/sensor_updates?api-key=${READ_KEY}`);
    await ws.opened;
    const sse = await SseClient.open(`${server.url}/api/stream`);
    await sse.next(); // the stream's opening comment
    const started = performance.now();
    server.proc.kill("SIGTERM");
    const closed = await ws.closed;
    expect(closed.code).toBe(1001);
    expect(closed.reason).toContain("shutting down");
    await expect(sse.next(5000)).rejects.toThrow("SSE stream ended");
    expect(await server.exited).toBe(0);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(server.lines.join("\n")).toContain("SIGTERM received");
  });
});
