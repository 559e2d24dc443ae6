// Protected mode: with no key configured the server answers its own machine only. The refused peer
// is real: a client in a network namespace this test creates, reaching the server over a veth pair.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { INGEST_KEY, READING, READ_KEY, createTestHost, post, run, start, type Running, type TestHost } from "../helpers";
import { needs } from "../needs";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

// The peer is a network namespace: root and iproute2.
const netns = needs("root", "ip");
let peer: TestHost;
const HOST_IP = () => peer.hostIp;
const PEER_IP = () => peer.ip;

/** Runs fetch from inside the test host, so the server sees its address as the client. */
async function fetchFromPeer(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const script = `const r = await fetch(${JSON.stringify(url)}, ${JSON.stringify(init)}); console.log(JSON.stringify({ status: r.status, body: await r.text() }));`;
  const result = await run(peer.exec([process.execPath, "-e", script]));
  if (result.code !== 0) throw new Error(`peer fetch failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as { status: number; body: string };
}

netns.beforeAll(async () => {
  peer = await createTestHost(7);
});
netns.afterAll(() => peer.destroy());

async function listenOnBoth(env: Record<string, string>): Promise<Running & { remote: string }> {
  const server = await start(env, {}, { hostname: "0.0.0.0" });
  return Object.assign(server, { remote: `http://${HOST_IP()}:${server.port}` });
}

netns.describe("protected mode (no key configured)", () => {
  netns.test("a client on another machine is refused with 403 saying how to open the server", async () => {
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
      expect(server.logs.some((line) => line.includes("loopback_only") && line.includes(`peer=${PEER_IP()}`))).toBe(true);
      // This machine is served without a key.
      expect((await post(`http://127.0.0.1:${server.port}/sensor_data`, READING, null)).status).toBe(201);
    } finally {
      await server.stop();
    }
  });

  netns.test("ALLOW_UNAUTHENTICATED=true opens it to every client on purpose", async () => {
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

  netns.test("with keys configured a board on the network posts with its key", async () => {
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
