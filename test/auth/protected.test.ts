// Protected mode: with no key configured the server answers its own machine only. The refused peer
// is real: a client in a network namespace this test creates, reaching the server over a veth pair.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { INGEST_KEY, READING, READ_KEY, post, run, start, type Running } from "../helpers";

const id = process.pid % 100000;
const ns = `sf-test-${id}`;
const hostIf = `sfh${id}`;
const HOST_IP = "10.231.7.1";
const PEER_IP = "10.231.7.2";

async function sh(...cmd: string[]) {
  const result = await run(cmd);
  if (result.code !== 0) throw new Error(`${cmd.join(" ")} failed: ${result.stderr}`);
}

/** Runs fetch from inside the namespace, so the server sees PEER_IP as the client. */
async function fetchFromPeer(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const script = `const r = await fetch(${JSON.stringify(url)}, ${JSON.stringify(init)}); console.log(JSON.stringify({ status: r.status, body: await r.text() }));`;
  const result = await run(["ip", "netns", "exec", ns, process.execPath, "-e", script]);
  if (result.code !== 0) throw new Error(`peer fetch failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as { status: number; body: string };
}

beforeAll(async () => {
  // Needs root and iproute2, as on CI and the developers' machines (see README, "Tests").
  await run(["ip", "netns", "del", ns]);
  await sh("ip", "netns", "add", ns);
  await sh("ip", "link", "add", hostIf, "type", "veth", "peer", "name", "sfpeer", "netns", ns);
  await sh("ip", "addr", "add", `${HOST_IP}/30`, "dev", hostIf);
  await sh("ip", "link", "set", hostIf, "up");
  await sh("ip", "netns", "exec", ns, "ip", "addr", "add", `${PEER_IP}/30`, "dev", "sfpeer");
  await sh("ip", "netns", "exec", ns, "ip", "link", "set", "sfpeer", "up");
});

afterAll(async () => {
  await run(["ip", "link", "del", hostIf]);
  await run(["ip", "netns", "del", ns]);
});

async function listenOnBoth(env: Record<string, string>): Promise<Running & { remote: string }> {
  const server = await start(env, {}, { hostname: "0.0.0.0" });
  return Object.assign(server, { remote: `http://${HOST_IP}:${server.port}` });
}

describe("protected mode (no key configured)", () => {
  test("a client on another machine is refused with 403 saying how to open the server", async () => {
    const server = await listenOnBoth({ API_KEY: "", API_KEY_WS: "" });
    try {
      const refused = await fetchFromPeer(`${server.remote}/sensor_data`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(READING),
      });
      expect(refused.status).toBe(403);
      const error = JSON.parse(refused.body);
      expect(error.error).toBe("loopback_only");
      expect(error.message).toContain("API_KEY");
      expect(error.message).toContain("ALLOW_UNAUTHENTICATED=true");
      expect((await fetchFromPeer(`${server.remote}/sensor_data`)).status).toBe(403);
      expect(server.logs.some((line) => line.includes("loopback_only") && line.includes(`peer=${PEER_IP}`))).toBe(true);
      // This machine is served without a key.
      expect((await post(`http://127.0.0.1:${server.port}/sensor_data`, READING, null)).status).toBe(201);
    } finally {
      await server.stop();
    }
  });

  test("ALLOW_UNAUTHENTICATED=true opens it to every client on purpose", async () => {
    const server = await listenOnBoth({ API_KEY: "", API_KEY_WS: "", ALLOW_UNAUTHENTICATED: "true" });
    try {
      const posted = await fetchFromPeer(`${server.remote}/sensor_data`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(READING),
      });
      expect(posted.status).toBe(201);
      expect((await fetchFromPeer(`${server.remote}/sensor_data`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });

  test("with keys configured a board on the network posts with its key", async () => {
    const server = await listenOnBoth({});
    try {
      const posted = await fetchFromPeer(`${server.remote}/sensor_data`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": INGEST_KEY },
        body: JSON.stringify(READING),
      });
      expect(posted.status).toBe(201);
      const read = await fetchFromPeer(`${server.remote}/sensor_data`, { headers: { "x-api-key": READ_KEY } });
      expect(JSON.parse(read.body)).toMatchObject(READING);
    } finally {
      await server.stop();
    }
  });
});

describe("keys", () => {
  test("are never written to the log, even when wrong ones are tried", async () => {
    const server = await start({ API_KEY: "secret-board-key,second-board-key", API_KEY_WS: "secret-screen-key" });
    try {
      await post(`${server.url}/sensor_data`, READING, "secret-board-key");
      await post(`${server.url}/sensor_data`, READING, "guessed-key-123");
      await fetch(`${server.url}/sensor_data?api-key=secret-screen-key`);
      await fetch(`${server.url}/sensor_data?api-key=guessed-key-456`);
      const all = server.logs.join("\n");
      expect(all).toContain("invalid_api_key");
      for (const key of ["secret-board-key", "second-board-key", "secret-screen-key", "guessed-key-123", "guessed-key-456"]) {
        expect(all).not.toContain(key);
      }
    } finally {
      await server.stop();
    }
  });

  test("any key of a comma-separated list is accepted", async () => {
    const server = await start({ API_KEY: "a-key, b-key" });
    try {
      expect((await post(`${server.url}/sensor_data`, READING, "a-key")).status).toBe(201);
      expect((await post(`${server.url}/sensor_data`, READING, "b-key")).status).toBe(201);
      expect((await post(`${server.url}/sensor_data`, READING, "c-key")).status).toBe(401);
    } finally {
      await server.stop();
    }
  });
});
