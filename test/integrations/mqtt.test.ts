// The MQTT bridge against real Mosquitto brokers: the machine's own on 127.0.0.1:1883, and one this
// test starts on a port of its own when it needs to stop the broker and start it again.
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import mqtt, { type MqttClient } from "mqtt";
import { READ_KEY, READING, get, openWs, post, start, type Running } from "../helpers";

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
async function subscriber(url: string, topic: string) {
  const client = mqtt.connect(url, { reconnectPeriod: 100 });
  clients.push(client);
  const messages: { topic: string; payload: string; retain: boolean }[] = [];
  client.on("message", (t, payload, packet) => messages.push({ topic: t, payload: payload.toString(), retain: packet.retain }));
  await new Promise<void>((resolve, reject) => {
    client.once("connect", () => client.subscribe(topic, { qos: 1 }, (error) => (error ? reject(error) : resolve())));
    client.once("error", reject);
  });
  const waitFor = async (count: number, timeoutMs = 5000) => {
    for (let waited = 0; messages.length < count && waited < timeoutMs; waited += 20) await Bun.sleep(20);
    return messages;
  };
  return { client, messages, waitFor };
}

async function connected(s: Running) {
  for (let i = 0; i < 250 && !s.services.mqtt?.stats().connected; i++) await Bun.sleep(20);
  expect(s.services.mqtt?.stats().connected).toBe(true);
}

describe("MQTT out", () => {
  test("a reading posted over HTTP arrives on <prefix>/<device>/reading with the same seq; a new subscriber gets the retained latest first", async () => {
    const p = prefix();
    server = await start({ MQTT_URL: "mqtt://127.0.0.1:1883", MQTT_PREFIX: p });
    await connected(server);
    const sub = await subscriber("mqtt://127.0.0.1:1883", `${p}/#`);
    const stored = await (await post(`${server.url}/api/devices/line-1/readings`, READING)).json();
    const messages = await sub.waitFor(4);
    const reading = messages.find((m) => m.topic === `${p}/line-1/reading`);
    expect(JSON.parse(reading!.payload)).toEqual({ ...stored, type: "reading" });
    expect(messages.some((m) => m.topic === `${p}/line-1/cycle` && JSON.parse(m.payload).type === "cycle.opened")).toBe(true);
    expect(messages.some((m) => m.topic === `${p}/status` && m.payload === "online")).toBe(true);

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
    const reading = await ws.nextOf("reading", 5000);
    expect(reading).toMatchObject({ device: "gw-3", temperature: 71.25, cip_id: 1 });
    expect((await (await get(`${server.url}/api/devices/gw-3/latest`)).json()).seq).toBe(reading.seq);

    for (const bad of ['{"temperature":nan}', "not json", '{"temperature":"hot","pressure":1,"concentration":1,"flow":1}']) board.publish(`${p}/gw-3/ingest`, bad, { qos: 1 });
    board.publish(`${p}/bad id!/ingest`, JSON.stringify(READING), { qos: 1 });
    for (let i = 0; i < 100 && (server.services.mqtt?.stats().ingestRejected ?? 0) < 4; i++) await Bun.sleep(20);
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

describe("when the broker goes away", () => {
  test("ingest carries on, messages wait in the bounded queue, and the queued ones arrive once the broker is back", async () => {
    const port = 21000 + (process.pid % 20000);
    const url = `mqtt://127.0.0.1:${port}`;
    const broker = () => Bun.spawn(["mosquitto", "-p", String(port)], { stdout: "ignore", stderr: "ignore" });
    let mosquitto = broker();
    await Bun.sleep(300);
    const p = prefix();
    server = await start({ MQTT_URL: url, MQTT_PREFIX: p, MQTT_QUEUE_MAX: "30" });
    await connected(server);

    mosquitto.kill("SIGKILL");
    await mosquitto.exited;
    for (let i = 0; i < 100 && server.services.mqtt?.stats().connected; i++) await Bun.sleep(20);
    expect(server.services.mqtt?.stats().connected).toBe(false);

    // 40 readings while the broker is away: every one is answered 201 at once.
    const seqs: number[] = [];
    for (let i = 0; i < 40; i++) {
      const response = await post(`${server.url}/api/devices/line-1/readings`, { ...READING, flow: i });
      expect(response.status).toBe(201);
      seqs.push((await response.json()).seq);
    }
    await Bun.sleep(20); // the bridge writes a burst's messages just after the burst
    // The cycle, 40 readings and one retained latest (refreshed at most once a second): 42 messages
    // for a queue of 30, so the 12 oldest are dropped and counted.
    expect(server.services.mqtt?.stats()).toMatchObject({ queued: 30, dropped: 12 });

    mosquitto = broker();
    try {
      await Bun.sleep(150);
      const sub = await subscriber(url, `${p}/line-1/reading`);
      await connected(server);
      const messages = await sub.waitFor(29, 5000);
      // The newest readings, in order, up to the last one posted (the trailing retained latest may
      // have pushed one more out of the full queue before the broker came back).
      const got = messages.map((m) => JSON.parse(m.payload).seq);
      expect(got.length).toBeGreaterThanOrEqual(29);
      expect(got).toEqual(seqs.slice(seqs.length - got.length));
      const metrics = await (await get(`${server.url}/metrics`)).text();
      expect(metrics).toMatch(/sensorflow_mqtt_messages_total\{result="dropped"\} 1[23]/);
    } finally {
      mosquitto.kill();
    }
  }, 30_000);
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
