// The README is the front door: its commands and examples must work as written.
import { expect, setDefaultTimeout, test } from "bun:test";
import { VARIABLES } from "../../src/config";
import { run, spawnServer } from "../helpers";
import { describe, needs } from "../needs";
import pkg from "../../package.json";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

const readme = await Bun.file(new URL("../../README.md", import.meta.url)).text();
const blocks = (lang: string) => [...readme.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]!.trim());

// The examples are curl commands, run as written.
const curl = needs("curl");

describe("README", () => {
  test("the quick start installs the pinned Bun and runs the start script, and the test command is bun test", () => {
    const commands = blocks("sh");
    expect(commands).toContain(`npm i -g bun@${pkg.packageManager.split("@")[1]} && bun install && bun run start`);
    expect(commands).toContain("bun test");
    expect(pkg.scripts.start).toBe("bun run src/index.ts");
  });

  curl.test("its curl examples work as written against a fresh server with the embedded defaults", async () => {
    const server = await spawnServer({ TIMEZONE: "UTC" });
    const hostPort = new URL(server.url).host;
    try {
      const examples = blocks("sh").filter((block) => block.startsWith("curl") && block.includes("localhost:8000"));
      expect(examples.length).toBeGreaterThanOrEqual(6);
      for (const example of examples) {
        const command = example.replaceAll("localhost:8000", hostPort);
        const streaming = example.includes("-sN");
        const result = await run(["timeout", "1", "bash", "-c", command]);
        if (streaming) {
          expect(result.code).toBe(124); // still streaming when cut off
          expect(result.stdout).toContain(": subscribed to readings,cycles");
        } else {
          expect(result.code, `${example}\n${result.stderr}`).toBe(0);
          const body = JSON.parse(result.stdout);
          expect(body.error, example).toBeUndefined();
        }
      }
    } finally {
      await server.stop();
    }
  });

  curl.test("the keyed board example works once API_KEY is set", async () => {
    const server = await spawnServer({ API_KEY: "k-123", API_KEY_WS: "r-456" });
    try {
      const example = blocks("sh").find((block) => block.includes("SERVER:8000"))!;
      const command = example.replace("SERVER:8000", new URL(server.url).host) + " -s -o /dev/null -w '%{http_code}'";
      const result = await run(["bash", "-c", command], { API_KEY: "k-123" });
      expect(result.stdout).toBe("201");
    } finally {
      await server.stop();
    }
  });

  test("the sample answer is the stored-reading shape", () => {
    const sample = JSON.parse(blocks("json")[0]!);
    expect(Object.keys(sample)).toEqual(["temperature", "pressure", "concentration", "flow", "timestamp", "cip_id", "device", "seq"]);
  });

  test("every configuration variable is in .env.example with its default, and in the README", async () => {
    const example = await Bun.file(new URL("../../.env.example", import.meta.url)).text();
    for (const [name, variable] of Object.entries(VARIABLES)) {
      // DATA_DIR is left commented out (the container sets its own); every other line is live.
      expect(example).toContain(name === "DATA_DIR" ? `\n# ${name}=${variable.default}\n` : `\n${name}=${variable.default}\n`);
      expect(readme).toContain(`\`${name}\``);
    }
  });
});
