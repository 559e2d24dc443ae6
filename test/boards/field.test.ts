// Field readiness: the boards already in the field post with nothing changed but their build
// settings, each generation's exact bytes over raw TCP, from this machine and from a real peer on
// another network (a network namespace); per-device keys; keyless boards on a trusted network.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { INGEST_KEY, READ_KEY, createTestHost, get, post, rawHttp, run, spawnServer, start, type Running, type TestHost } from "../helpers";
import { needs } from "../needs";
import { BOARD_ID, GENERATIONS, REQUEST_BUFFER, RESPONSE_BUFFER } from "./firmware";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

// The peer on another network is a network namespace: root and iproute2.
const netns = needs("root", "ip");

const CURRENT = GENERATIONS.at(-1)!;
const status = (reply: string) => Number(reply.slice(9, 12));
const bodyOf = (reply: string) => JSON.parse(reply.slice(reply.indexOf("\r\n\r\n") + 4));

async function makeKey(server: Running, device: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.url}/api/admin/keys`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ device, label: "return line, north wall" }),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as { id: string; key: string; device: string };
}

describe("every firmware generation, from this machine", () => {
  let server: Running;
  beforeAll(async () => {
    server = await start();
  });
  afterAll(() => server.stop());

  for (const generation of GENERATIONS) {
    test(`${generation.name}: its exact bytes are stored, and the answer fits the board's 1 KB buffer`, async () => {
      // A board with a key header uses the shared key; the current firmware carries one in its TARGET_PATH.
      const path = generation === CURRENT ? `/sensor_data?api-key=${INGEST_KEY}` : "/sensor_data";
      const reply = await rawHttp(server.port, generation.request({ ip: "192.168.0.10", port: server.port, path, key: INGEST_KEY }));
      expect(status(reply)).toBe(201);
      expect(reply.length).toBeLessThan(RESPONSE_BUFFER);
      const stored = bodyOf(reply);
      expect(stored.device).toBe(generation.sensorId ?? "default");
      expect(stored.humidity).toBeUndefined();
      expect(stored.faults).toBeUndefined();
      if (generation.sensorId) {
        // Older boards measure temperature, humidity and pressure (hPa): no concentration or flow sensor.
        expect(stored).toMatchObject({ temperature: 24.31, pressure: 1013.25, concentration: null, flow: null });
      } else expect(stored).toMatchObject({ temperature: 75.5, pressure: 2.3, concentration: 0.8, flow: 1.2 });
      expect(await (await get(`${server.url}/api/devices/${stored.device}/latest`)).json()).toEqual(stored);
    });

    test(`${generation.name}: with no key or a wrong one it is refused with 401 and nothing is stored`, async () => {
      const before = (await (await get(`${server.url}/api/devices`)).json()).devices.length;
      const keyless = await rawHttp(server.port, CURRENT.request({ ip: "192.168.0.10", port: server.port, path: "/api/devices/nokey/readings", key: "" }));
      expect(status(keyless)).toBe(401);
      expect(bodyOf(keyless).error).toBe("missing_api_key");
      const wrong = await rawHttp(server.port, generation.request({ ip: "192.168.0.10", port: server.port, path: "/api/devices/nokey/readings?api-key=guess", key: "guess" }));
      expect(status(wrong)).toBe(401);
      expect((await (await get(`${server.url}/api/devices`)).json()).devices.length).toBe(before);
    });
  }

  test("the longest request the current firmware's 2,048-byte buffer can send is taken: TARGET_PATH up to about 1,800 characters", async () => {
    const base = CURRENT.request({ ip: "192.168.100.200", port: server.port, path: `/api/devices/line-1/readings?api-key=${INGEST_KEY}&pad=`, key: "" });
    const pad = "x".repeat(REQUEST_BUFFER - 1 - base.length);
    const longest = CURRENT.request({ ip: "192.168.100.200", port: server.port, path: `/api/devices/line-1/readings?api-key=${INGEST_KEY}&pad=${pad}`, key: "" });
    expect(longest.length).toBe(REQUEST_BUFFER - 1);
    expect(longest.split("\r\n")[0]!.length).toBeGreaterThan(1800);
    const reply = await rawHttp(server.port, longest);
    expect(status(reply)).toBe(201);
    expect(bodyOf(reply).device).toBe("line-1");
  });
});

describe("per-device keys", () => {
  test("a board's own key posts only for its own device, from any path, and is never written to a log", async () => {
    const server = await start({ ADMIN_KEY: "" });
    try {
      const made = await makeKey(server, "line-1");
      expect(made.key).toMatch(/^sf_[a-z0-9]{8}_[A-Za-z0-9_-]{32}$/);
      // The current firmware, key in its TARGET_PATH, posting to the original path: it lands on its device.
      for (const path of [`/sensor_data?api-key=${made.key}`, `/api/devices/line-1/readings?api-key=${made.key}`]) {
        const reply = await rawHttp(server.port, CURRENT.request({ ip: "10.0.5.1", port: server.port, path, key: "" }));
        expect(status(reply)).toBe(201);
        expect(bodyOf(reply).device).toBe("line-1");
      }
      // A leaked key cannot post as another circuit, whichever way the device is named.
      for (const [path, body] of [
        ["/api/devices/line-2/readings", '{"temperature":75.50,"pressure":2.30,"concentration":0.80, "flow":1.20}'],
        ["/sensor_data", '{"temperature":75.50,"pressure":2.30,"concentration":0.80, "flow":1.20,"device":"line-2"}'],
      ] as const) {
        const refused = await post(`${server.url}${path}`, body, made.key);
        expect(refused.status).toBe(403);
        expect((await refused.json()).error).toBe("device_key_mismatch");
      }
      expect((await get(`${server.url}/api/devices/line-2/latest`)).status).toBe(404);
      // Listed without the key; the key itself appears nowhere in the logs.
      const list = await (await fetch(`${server.url}/api/admin/keys`)).json();
      expect(list.keys).toEqual([{ id: made.id, device: "line-1", label: "return line, north wall", created_at: expect.any(String), revoked_at: null }]);
      expect(JSON.stringify(list)).not.toContain(made.key.slice(12));
      expect(server.logs.join("\n")).not.toContain(made.key.slice(12));
      expect(server.logs.join("\n")).toContain(made.id);
    } finally {
      await server.stop();
    }
  });

  test("revoking a key refuses it at once; keys survive a restart; the shared API_KEY keeps working", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sensorflow-keys-"));
    const env = { STORAGE: "sqlite", DATA_DIR: dir };
    let server = await start(env);
    const kept = await makeKey(server, "line-1");
    const revoked = await makeKey(server, "line-2");
    const gone = await fetch(`${server.url}/api/admin/keys/${revoked.id}`, { method: "DELETE" });
    expect(gone.status).toBe(200);
    expect((await gone.json()).revoked_at).not.toBeNull();
    expect((await post(`${server.url}/api/devices/line-2/readings`, '{"temperature":1,"pressure":1,"concentration":1,"flow":1}', revoked.key)).status).toBe(401);
    await server.stop();
    server = await start(env);
    try {
      expect((await post(`${server.url}/api/devices/line-1/readings`, '{"temperature":1,"pressure":1,"concentration":1,"flow":1}', kept.key)).status).toBe(201);
      expect((await post(`${server.url}/api/devices/line-2/readings`, '{"temperature":1,"pressure":1,"concentration":1,"flow":1}', revoked.key)).status).toBe(401);
      expect((await post(`${server.url}/api/devices/line-9/readings`, '{"temperature":1,"pressure":1,"concentration":1,"flow":1}', INGEST_KEY)).status).toBe(201);
      expect((await fetch(`${server.url}/api/admin/keys/zzzzzzzz`, { method: "DELETE" })).status).toBe(404);
    } finally {
      await server.stop();
    }
  });

  test("the admin API needs ADMIN_KEY when one is set", async () => {
    const server = await start({ ADMIN_KEY: "plant-admin-key" });
    try {
      const missing = await fetch(`${server.url}/api/admin/keys`);
      expect(missing.status).toBe(401);
      expect((await missing.json()).message).toContain("ADMIN_KEY");
      expect((await fetch(`${server.url}/api/admin/keys`, { headers: { "x-api-key": INGEST_KEY } })).status).toBe(401);
      await makeKey(server, "line-1", { "x-api-key": "plant-admin-key" });
      const bad = await fetch(`${server.url}/api/admin/keys`, { method: "POST", headers: { "content-type": "application/json", "x-api-key": "plant-admin-key" }, body: '{"device":"../x"}' });
      expect(bad.status).toBe(422);
    } finally {
      await server.stop();
    }
  });

  test("the command line makes, lists and revokes keys on the running server", async () => {
    const server = await spawnServer({ API_KEY: INGEST_KEY, API_KEY_WS: READ_KEY });
    try {
      const cli = (...args: string[]) => run([process.execPath, "src/index.ts", ...args, "--url", server.url]);
      const added = await cli("keys", "add", "line-3", "--label", "CIP return, tank 3");
      expect(added.code).toBe(0);
      const key = /sf_[a-z0-9]{8}_[A-Za-z0-9_-]{32}/.exec(added.stdout)?.[0];
      expect(key).toBeDefined();
      expect(added.stdout).toContain("shown once");
      const id = key!.slice(3, 11);
      expect((await post(`${server.url}/api/devices/line-3/readings`, '{"temperature":1,"pressure":1,"concentration":1,"flow":1}', key!)).status).toBe(201);
      const listed = await cli("keys", "list");
      expect(listed.stdout).toContain(id);
      expect(listed.stdout).toContain("line-3");
      expect(listed.stdout).not.toContain(key!);
      expect((await cli("keys", "revoke", id)).code).toBe(0);
      expect((await post(`${server.url}/api/devices/line-3/readings`, '{"temperature":1,"pressure":1,"concentration":1,"flow":1}', key!)).status).toBe(401);
      const unknown = await cli("keys", "revoke", "zzzzzzzz");
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain("no device key");
      const address = await cli("addresses", "set", "10.0.5.21", "line-4");
      expect(address.code).toBe(0);
      expect((await cli("addresses", "list")).stdout).toContain("10.0.5.21");
    } finally {
      await server.stop();
    }
  });
});

netns.describe("boards on another network (a real peer in a network namespace)", () => {
  let peer: TestHost;
  netns.beforeAll(async () => {
    peer = await createTestHost(11);
  });
  netns.afterAll(() => peer.destroy());

  /** Sends raw bytes from inside the peer's namespace and returns the whole answer. */
  async function rawFromPeer(port: number, bytes: string): Promise<string> {
    const script = `
      const chunks = [];
      await new Promise((resolve, reject) => Bun.connect({ hostname: ${JSON.stringify(peer.hostIp)}, port: ${port}, socket: {
        open: (s) => void s.write(${JSON.stringify(bytes)}), data: (_s, d) => void chunks.push(Buffer.from(d)),
        close: resolve, error: (_s, e) => reject(e) } }));
      process.stdout.write(Buffer.concat(chunks).toString("latin1"));`;
    const result = await run(peer.exec([process.execPath, "-e", script]));
    if (result.code !== 0) throw new Error(`peer failed: ${result.stderr}`);
    return result.stdout;
  }

  netns.test("each generation posts from the network with its key; without one it is refused", async () => {
    const server = await start({}, {}, { hostname: "0.0.0.0" });
    try {
      const made = await makeKey(server, "line-1");
      for (const generation of GENERATIONS) {
        const key = generation === CURRENT ? "" : INGEST_KEY;
        const path = generation === CURRENT ? `/sensor_data?api-key=${made.key}` : "/sensor_data";
        const reply = await rawFromPeer(server.port, generation.request({ ip: peer.hostIp, port: server.port, path, key }));
        expect(status(reply), generation.name).toBe(201);
        expect(bodyOf(reply).device).toBe(generation.sensorId ?? (generation === CURRENT ? "line-1" : "default"));
      }
      const keyless = await rawFromPeer(server.port, CURRENT.request({ ip: peer.hostIp, port: server.port, path: "/sensor_data", key: "" }));
      expect(status(keyless)).toBe(401);
      // The admin API is for this machine only while no ADMIN_KEY is set.
      const admin = await rawFromPeer(server.port, `GET /api/admin/keys HTTP/1.1\r\nHost: ${peer.hostIp}\r\nConnection: close\r\n\r\n`);
      expect(status(admin)).toBe(403);
    } finally {
      await server.stop();
    }
  });

  netns.test("INGEST_NETWORKS lets keyless boards of that network post, and DEVICE_ADDRESSES names their device", async () => {
    // The /30 the peer and this machine share (its network address is one below this machine's end).
    const [a, b, c, d] = peer.hostIp.split(".");
    const network = `${a}.${b}.${c}.${Number(d) - 1}/30`;
    const server = await start({ INGEST_NETWORKS: network, DEVICE_ADDRESSES: `${peer.ip}=line-7` }, {}, { hostname: "0.0.0.0" });
    try {
      const reply = await rawFromPeer(server.port, CURRENT.request({ ip: peer.hostIp, port: server.port, path: "/sensor_data", key: "" }));
      expect(status(reply)).toBe(201);
      expect(bodyOf(reply).device).toBe("line-7");
      // The older firmware names itself: its sensor_id wins over the address.
      const named = await rawFromPeer(server.port, GENERATIONS[1]!.request({ ip: peer.hostIp, port: server.port, path: "/sensor_data", key: "" }));
      expect(bodyOf(named).device).toBe(BOARD_ID);
      // Outside that network a key is still needed (this machine is not in it: it holds the shared key).
      const addresses = await (await fetch(`${server.url}/api/admin/addresses`)).json();
      expect(addresses.addresses).toEqual([{ address: peer.ip, device: "line-7", source: "config" }]);
    } finally {
      await server.stop();
    }
  });

  netns.test("a device named for an address through the admin API takes effect at once", async () => {
    const server = await start({ INGEST_NETWORKS: `${peer.ip}/32` }, {}, { hostname: "0.0.0.0" });
    try {
      const before = await rawFromPeer(server.port, CURRENT.request({ ip: peer.hostIp, port: server.port, path: "/sensor_data", key: "" }));
      expect(bodyOf(before).device).toBe("default");
      const set = await fetch(`${server.url}/api/admin/addresses/${peer.ip}`, { method: "PUT", headers: { "content-type": "application/json" }, body: '{"device":"line-8"}' });
      expect(set.status).toBe(200);
      const after = await rawFromPeer(server.port, CURRENT.request({ ip: peer.hostIp, port: server.port, path: "/sensor_data", key: "" }));
      expect(bodyOf(after).device).toBe("line-8");
      expect((await fetch(`${server.url}/api/admin/addresses/${peer.ip}`, { method: "DELETE" })).status).toBe(200);
      const reset = await rawFromPeer(server.port, CURRENT.request({ ip: peer.hostIp, port: server.port, path: "/sensor_data", key: "" }));
      expect(bodyOf(reset).device).toBe("default");
    } finally {
      await server.stop();
    }
  });
});
