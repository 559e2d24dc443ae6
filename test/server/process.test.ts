// The server as a user starts it: a separate process configured from its environment.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { READING, run, spawnServer } from "../helpers";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

const entry = [process.execPath, "src/index.ts"];

describe("starting the server", () => {
  test("with no key configured it serves this machine and the start-up line says how to open it to boards", async () => {
    const server = await spawnServer({ TIMEZONE: "UTC", CIP_GAP_MINUTES: "7.5" });
    for (let i = 0; i < 1000 && !server.lines.some((line) => line.includes("Set API_KEY=")); i++) await Bun.sleep(10);
    const startup = server.lines.join("\n");
    expect(startup).toContain("listening on http://127.0.0.1:");
    expect(startup).toContain("timezone=UTC");
    expect(startup).toContain("cip_gap_minutes=7.5");
    expect(startup).toContain("this machine only");
    expect(startup).toContain("Set API_KEY=");
    const response = await fetch(`${server.url}/sensor_data`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(READING) });
    expect(response.status).toBe(201);
    expect(await server.stop()).toBe(0);
  });

  test("a bad value stops start-up with one sentence naming the variable", async () => {
    for (const [name, value] of [["PORT", "abc"], ["CIP_GAP_MINUTES", "-1"], ["TIMEZONE", "Mars/Olympus"], ["LOG_FORMAT", "xml"]] as const) {
      const result = await run(entry, { [name]: value });
      expect(result.code).toBe(2);
      const lines = result.stderr.trim().split("\n");
      expect(lines.length).toBe(1);
      expect(lines[0]).toContain(name);
      expect(lines[0]).toContain(value);
    }
  });

  test("a second copy on the same port fails loudly instead of sharing it", async () => {
    const first = await spawnServer({});
    const port = new URL(first.url).port;
    const second = await run(entry, { HOST: "127.0.0.1", PORT: port });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`cannot listen on 127.0.0.1:${port}`);
    await first.stop();
  });

  test("under NODE_ENV=production a validation error still names the field", async () => {
    const server = await spawnServer({ NODE_ENV: "production" });
    const response = await fetch(`${server.url}/sensor_data`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...READING, flow: "fast" }),
    });
    expect(response.status).toBe(422);
    const body = await response.json();
    expect(body.details).toEqual([{ field: "flow", message: "Expected number" }]);
    await server.stop();
  });

  test("LOG_FORMAT=json writes one JSON object per line", async () => {
    const server = await spawnServer({ LOG_FORMAT: "json" });
    await fetch(`${server.url}/nowhere`);
    await server.stop();
    const parsed = server.lines.filter(Boolean).map((line) => JSON.parse(line));
    expect(parsed.some((entry) => entry.msg === "request rejected" && entry.status === 404 && entry.peer === "127.0.0.1")).toBe(true);
  });

  test("SIGTERM stops it cleanly with exit code 0", async () => {
    const server = await spawnServer({});
    expect(await server.stop("SIGTERM")).toBe(0);
  });
});
