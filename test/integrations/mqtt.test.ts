// The MQTT bridge against real Mosquitto brokers: the machine's own on 127.0.0.1:1883, and one this
// test starts on a port of its own when it needs to stop the broker and start it again.
import { afterEach, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { READ_KEY, READING, get, openWs, post, start, type Running } from "../helpers";
import { describe, needs } from "../needs";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

let server: Running | undefined;
const clients: MqttClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.end(true);
  await server?.stop();
  server = undefined;
});

const prefix = () => `sftest-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;

/** A subscriber that queues what it receives, as a SCADA bridge or Node-RED would see it. */
async function subscriber(url: string, topic: string, options: IClientOptions = {}) {
  const client = mqtt.connect(url, { reconnectPeriod: 100, ...options });
  clients.push(client);
  const messages: { topic: string; payload: string; retain: boolean }[] = [];
  client.on("message", (t, payload, packet) => messages.push({ topic: t, payload: payload.toString(), retain: packet.retain }));
  await new Promise<void>((resolve, reject) => {
    client.once("connect", () => client.subscribe(topic, { qos: 1 }, (error) => (error ? reject(error) : resolve())));
    client.once("error", reject);
  });
  /** The messages so far, once `count` of them (that pass `which`) have come, or after `timeoutMs`. */
  const waitFor = async (count: number, timeoutMs = 15_000, which: (m: (typeof messages)[number]) => boolean = () => true) => {
    const until = performance.now() + timeoutMs;
    while (messages.filter(which).length < count && performance.now() < until) await Bun.sleep(20);
    return messages;
  };
  return { client, messages, waitFor };
}

async function connected(s: Running) {
  for (let i = 0; i < 1000 && !s.services.mqtt?.stats().connected; i++) await Bun.sleep(20);
  expect(s.services.mqtt?.stats().connected).toBe(true);
}

describe("MQTT out", () => {
  test("a reading posted over HTTP arrives on <prefix>/<device>/reading with the same seq; a new subscriber gets the retained latest first", async () => {
    const p = prefix();
    server = await start({ MQTT_URL: "mqtt://127.0.0.1:1883", MQTT_PREFIX: p });
    await connected(server);
    const sub = await subscriber("mqtt://127.0.0.1:1883", `${p}/#`);
    const stored = await (await post(`${server.url}/api/devices/line-1/readings`, READING)).json();
    const messages = await sub.waitFor(5);
    const reading = messages.find((m) => m.topic === `${p}/line-1/reading`);
    expect(JSON.parse(reading!.payload)).toEqual({ ...stored, type: "reading" });
    expect(messages.some((m) => m.topic === `${p}/line-1/cycle` && JSON.parse(m.payload).type === "cycle.opened")).toBe(true);
    expect(messages.some((m) => m.topic === `${p}/status` && m.payload === "online")).toBe(true);
    expect(messages.find((m) => m.topic === `${p}/meta`)?.payload).toBe(
      JSON.stringify({ service: "sensorflow", units: { temperature: "°C", pressure: "bar", concentration: "%", flow: "m³/h" } }),
    );

    const late = await subscriber("mqtt://127.0.0.1:1883", `${p}/line-1/latest`);
    const [first] = await late.waitFor(1);
    expect(first!.retain).toBe(true);
    expect(JSON.parse(first!.payload).seq).toBe(stored.seq);
  });

  test("the server's state is retained on <prefix>/status: online, then offline when it stops", async () => {
    const p = prefix();
    server = await start({ MQTT_URL: "mqtt://127.0.0.1:1883", MQTT_PREFIX: p });
    await connected(server);
    await server.stop();
    server = undefined;
    const sub = await subscriber("mqtt://127.0.0.1:1883", `${p}/status`);
    const [status] = await sub.waitFor(1);
    expect(status).toMatchObject({ payload: "offline", retain: true });
  });
});

describe("MQTT in", () => {
  test("a reading published on <prefix>/<device>/ingest is validated, stored, numbered and reaches WebSocket subscribers; a malformed one is counted and ignored", async () => {
    const p = prefix();
    server = await start({ MQTT_URL: "mqtt://127.0.0.1:1883", MQTT_PREFIX: p, MQTT_INGEST: "true" });
    await connected(server);
    const ws = await openWs(`${server.ws}/ws?topics=devices/gw-3&api-key=${READ_KEY}`);
    await ws.nextOf("welcome");
    const board = mqtt.connect("mqtt://127.0.0.1:1883");
    clients.push(board);
    await new Promise((resolve) => board.once("connect", resolve));
    board.publish(`${p}/gw-3/ingest`, '{"temperature":71.25,"pressure":2.30,"concentration":0.80, "flow":1.20}', { qos: 1 });
    const reading = await ws.nextOf("reading", 15_000);
    expect(reading).toMatchObject({ device: "gw-3", temperature: 71.25, cip_id: 1 });
    expect((await (await get(`${server.url}/api/devices/gw-3/latest`)).json()).seq).toBe(reading.seq);

    for (const bad of ['{"temperature":nan}', "not json", '{"temperature":"hot","pressure":1,"concentration":1,"flow":1}']) board.publish(`${p}/gw-3/ingest`, bad, { qos: 1 });
    board.publish(`${p}/bad id!/ingest`, JSON.stringify(READING), { qos: 1 });
    for (let i = 0; i < 500 && (server.services.mqtt?.stats().ingestRejected ?? 0) < 4; i++) await Bun.sleep(20);
    expect(server.services.mqtt?.stats().ingestRejected).toBe(4);
    const metrics = await (await get(`${server.url}/metrics`)).text();
    expect(metrics).toContain('sensorflow_mqtt_ingest_total{result="rejected"} 4');
    expect(metrics).toContain('sensorflow_mqtt_ingest_total{result="accepted"} 1');
    // What the bridge publishes itself (reading, latest) never comes back in as a reading.
    await Bun.sleep(200);
    expect(ws.pending().filter((f) => f.type === "reading")).toEqual([]);
    ws.close();
  });
});

const ownBroker = needs("mosquitto");

/** A Mosquitto of this test's own on `port`, keeping its sessions on disk across a restart. */
function brokerOn(port: number) {
  const dir = mkdtempSync(join(tmpdir(), "sensorflow-mosquitto-"));
  chmodSync(dir, 0o777); // run as root, Mosquitto writes as its own user
  const conf = join(dir, "mosquitto.conf");
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location ${dir}/\n`);
  return async () => {
    const proc = Bun.spawn([ownBroker.path("mosquitto"), "-c", conf], { stdout: "ignore", stderr: "ignore" });
    for (let i = 0; i < 500; i++) {
      const up = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then((s) => (s.end(), true), () => false);
      if (up) return proc;
      if (proc.exitCode !== null) break;
      await Bun.sleep(20);
    }
    proc.kill("SIGKILL");
    throw new Error(`mosquitto did not listen on ${port}`);
  };
}

describe("when the broker goes away", () => {
  ownBroker.test("ingest carries on, messages wait in the bounded queue, and the queued ones arrive once the broker is back", async () => {
    const port = 21000 + (process.pid % 20000);
    const url = `mqtt://127.0.0.1:${port}`;
    const startBroker = brokerOn(port);
    let mosquitto = await startBroker();
    try {
      const p = prefix();
      server = await start({ MQTT_URL: url, MQTT_PREFIX: p, MQTT_QUEUE_MAX: "30" });
      await connected(server);
      // A persistent session: the broker keeps it (and what arrives for it) across its restart, so
      // it gets the queue whether the server or this subscriber reconnects first.
      const sub = await subscriber(url, `${p}/line-1/+`, { clientId: `${p}-sub`, clean: false });

      mosquitto.kill("SIGTERM"); // it writes its sessions to disk and goes
      await mosquitto.exited;
      for (let i = 0; i < 500 && server.services.mqtt?.stats().connected; i++) await Bun.sleep(20);
      expect(server.services.mqtt?.stats().connected).toBe(false);

      // 40 readings while the broker is away: every one is answered 201 at once.
      const seqs: number[] = [];
      for (let i = 0; i < 40; i++) {
        const response = await post(`${server.url}/api/devices/line-1/readings`, { ...READING, flow: i });
        expect(response.status).toBe(201);
        seqs.push((await response.json()).seq);
      }
      // The cycle, 40 readings and the retained latest (refreshed at most once a second of the
      // machine's time, so once or more as the burst takes): 42 messages or more for a queue of 30.
      // The bridge writes a burst's messages just after the burst: wait for them.
      const total = () => server!.services.mqtt!.stats().queued + server!.services.mqtt!.stats().dropped;
      for (let i = 0; i < 500 && total() < 42; i++) await Bun.sleep(20);
      // The queue holds 30; the oldest are dropped and counted.
      const during = server.services.mqtt!.stats();
      expect(during.queued).toBe(30);
      expect(during.dropped).toBeGreaterThanOrEqual(12);

      mosquitto = await startBroker();
      await connected(server);
      // The whole queue arrives, in order (not counting a retained copy sent on resubscribing).
      const queue = (await sub.waitFor(30, 30_000, (m) => !m.retain)).filter((m) => !m.retain).slice(0, 30);
      expect(queue).toHaveLength(30);
      const readings = queue.filter((m) => m.topic === `${p}/line-1/reading`).map((m) => JSON.parse(m.payload).seq);
      const latest = queue.filter((m) => m.topic === `${p}/line-1/latest`);
      expect(readings.length + latest.length).toBe(30); // the cycle was among the oldest, dropped
      // The newest readings, in order, up to the last one posted.
      expect(readings).toEqual(seqs.slice(seqs.length - readings.length));
      // Every message was queued or dropped: 1 cycle + 40 readings + the latest refreshes = 30 + dropped.
      const after = server.services.mqtt!.stats();
      expect(latest.length).toBeLessThanOrEqual(after.dropped - 11);
      const metrics = await (await get(`${server.url}/metrics`)).text();
      expect(metrics).toContain(`sensorflow_mqtt_messages_total{result="dropped"} ${after.dropped}`);
    } finally {
      mosquitto.kill();
    }
  }, 90_000);
});

describe("the README's Node-RED flow", () => {
  test("parses, wires only nodes it defines, and its topics carry what it reads", async () => {
    const readme = await Bun.file(new URL("../../README.md", import.meta.url)).text();
    const section = readme.slice(readme.indexOf("## Connect SCADA / Node-RED"));
    const text = section.slice(section.indexOf("```json\n") + 8, section.indexOf("```", section.indexOf("```json\n") + 8));
    const flow = JSON.parse(text) as { id: string; type: string; topic?: string; broker?: string; wires?: string[][]; rules?: { to: string }[] }[];
    const ids = new Set(flow.map((n) => n.id));
    for (const node of flow) for (const out of node.wires ?? []) for (const id of out) expect(ids).toContain(id);
    const inputs = flow.filter((n) => n.type === "mqtt in");
    expect(inputs.map((n) => n.topic)).toEqual(["sensorflow/+/reading", "sensorflow/+/alarm"]);
    for (const n of inputs) expect(ids).toContain(n.broker!);
    expect(flow.some((n) => n.type === "ui_gauge")).toBe(true);
    expect(readme).toContain("| `<prefix>/<device>/reading` |");

    // The flow's reading topic, with the default prefix, gets readings whose `temperature` the change node reads.
    server = await start({ MQTT_URL: "mqtt://127.0.0.1:1883" });
    await connected(server);
    const sub = await subscriber("mqtt://127.0.0.1:1883", inputs[0]!.topic!);
    await post(`${server.url}/api/devices/node-red-1/readings`, { ...READING, temperature: 73.5 });
    const [message] = await sub.waitFor(1);
    const field = flow.find((n) => n.type === "change")!.rules![0]!.to.replace("payload.", "");
    expect(JSON.parse(message!.payload)[field]).toBe(73.5);
  });
});
