// The MQTT bridge for SCADA and Node-RED. Out: every published event goes to the plant's broker
// (`<prefix>/<device>/reading|cycle|alarm`, the latest reading retained on `<prefix>/<device>/latest`,
// the server's own state retained on `<prefix>/status` with a last will). In (MQTT_INGEST=true):
// readings on `<prefix>/<device>/ingest` take exactly the HTTP path. Publishing never waits on the
// broker: while it is away, messages wait in a bounded queue (the overflow is counted) and the client
// reconnects by itself.
import type { MqttClient } from "mqtt";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { DEVICE_ID, type Config } from "../../config";
import { ApiError } from "../../errors";
import { MAX_DEPTH, nestingDepth } from "../../body";
import type { Recorded } from "../../events";
import type { Logger } from "../../log";
import type { Ingest } from "../ingest/service";
import { ReadingBatch } from "../ingest/model";

const checkBatch = TypeCompiler.Compile(ReadingBatch);

export interface MqttStats {
  connected: boolean;
  queued: number;
  published: number;
  dropped: number;
  ingestAccepted: number;
  ingestRejected: number;
}

export interface MqttBridge {
  /** Called for every published event (the events' listener). */
  onEvent(event: Recorded): void;
  stats(): MqttStats;
  close(): Promise<void>;
}

type Outgoing = { topic: string; payload: string; retain: boolean };

export function createMqttBridge(config: Config, deps: { ingest: Ingest; log: Logger }): MqttBridge {
  const { log } = deps;
  const prefix = config.mqttPrefix;
  const qos = config.mqttQos;
  const status = `${prefix}/status`;
  // Loaded only when MQTT_URL is set: a server without a broker does not carry the client in memory.
  let client: MqttClient | undefined;
  const queue: Outgoing[] = [];
  let closing = false;
  const stats: MqttStats = { connected: false, queued: 0, published: 0, dropped: 0, ingestAccepted: 0, ingestRejected: 0 };

  const send = (message: Outgoing) => {
    client!.publish(message.topic, message.payload, { qos, retain: message.retain }, (error) => {
      if (error) {
        // Lost with the connection before the broker took it: back in the queue, sent again on reconnect.
        enqueue(message);
      } else stats.published++;
    });
  };
  const enqueue = (message: Outgoing) => {
    if (queue.length >= config.mqttQueueMax) {
      queue.shift();
      stats.dropped++;
    }
    queue.push(message);
  };

  const connect = (c: MqttClient) => {
    client = c;
    c.on("connect", () => {
      stats.connected = true;
      log.info("MQTT connected", { broker: new URL(config.mqttUrl).host, prefix });
      c.publish(status, "online", { qos: 1, retain: true });
      // What the values mean, retained for any SCADA tag browser that subscribes later.
      c.publish(`${prefix}/meta`, JSON.stringify({ service: "sensorflow", units: config.units }), { qos: 1, retain: true });
      if (config.mqttIngest) c.subscribe(`${prefix}/+/ingest`, { qos });
      for (const message of queue.splice(0)) send(message);
    });
    c.on("close", () => {
      if (stats.connected && !closing) log.warn("MQTT connection lost; queueing until it is back", { broker: new URL(config.mqttUrl).host });
      stats.connected = false;
    });
    c.on("error", (error) => log.warn("MQTT error", { error: error.message }));

    c.on("message", (topic, payload) => {
      // `<prefix>/<device>/ingest` only: what we publish ourselves never comes back in.
      const device = topic.slice(prefix.length + 1, -"/ingest".length);
      const reject = (reason: string) => {
        stats.ingestRejected++;
        log.warn("MQTT reading rejected", { topic, reason });
      };
      if (!topic.startsWith(`${prefix}/`) || !topic.endsWith("/ingest") || !DEVICE_ID.test(device)) return reject("not a device ingest topic");
      const text = payload.toString("utf8");
      if (text.length > config.maxBodyBytes) return reject("too large");
      if (nestingDepth(text) > MAX_DEPTH) return reject("nested too deep");
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return reject("not JSON (a failed sensor's nan?)");
      }
      if (!checkBatch.Check(body)) return reject("not a reading: four finite numbers temperature, pressure, concentration, flow");
      const refuse = (error: unknown) => reject(error instanceof ApiError ? error.message : String(error));
      try {
        const accepted = deps.ingest.accept(device, Array.isArray(body) ? body : [body]);
        if (Array.isArray(accepted)) stats.ingestAccepted += accepted.length;
        else accepted.then((list) => void (stats.ingestAccepted += list.length), refuse);
      } catch (error) {
        refuse(error);
      }
    });
  };
  void import("mqtt").then(({ default: mqtt }) => {
    if (closing) return;
    // The URL is taken apart here (WHATWG URL): given a string, mqtt.js calls Node's deprecated
    // url.parse(), and the executable prints a deprecation warning at start-up.
    const url = new URL(config.mqttUrl);
    const protocol = url.protocol.slice(0, -1) as "mqtt" | "mqtts" | "ws" | "wss" | "tcp" | "ssl";
    const defaultPort = { mqtt: 1883, tcp: 1883, mqtts: 8883, ssl: 8883, ws: 80, wss: 443 }[protocol];
    connect(mqtt.connect({
      protocol,
      hostname: url.hostname.replace(/^\[|\]$/g, ""),
      port: url.port ? Number(url.port) : defaultPort,
      path: url.pathname === "/" ? undefined : url.pathname,
      username: config.mqttUsername || decodeURIComponent(url.username) || undefined,
      password: config.mqttPassword || decodeURIComponent(url.password) || undefined,
      clientId: `sensorflow-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
      reconnectPeriod: 1000,
      connectTimeout: 5000,
      // Our own bounded queue holds what the broker has not taken; mqtt.js must not keep a second one.
      queueQoSZero: false,
      will: { topic: status, payload: Buffer.from("offline"), qos: 1, retain: true },
    }));
  });

  const topicOf = (event: Recorded): string | undefined => {
    if (event.type === "reading") return `${prefix}/${event.device}/reading`;
    if (event.type.startsWith("cycle.")) return `${prefix}/${event.device}/cycle`;
    if (event.type.startsWith("alarm.")) return `${prefix}/${event.device}/alarm`;
    return undefined;
  };

  // Messages of one burst of events are written together after the current task: the HTTP answer
  // never waits on MQTT encoding, and the socket gets one write instead of one per message.
  let pending: Outgoing[] = [];
  const flushPending = () => {
    const batch = pending;
    pending = [];
    const stream = client?.stream as { cork?: () => void; uncork?: () => void } | undefined;
    stream?.cork?.();
    for (const message of batch) {
      if (stats.connected) send(message);
      else enqueue(message);
    }
    stream?.uncork?.();
  };
  const later = (message: Outgoing) => {
    if (pending.length === 0) setImmediate(flushPending);
    pending.push(message);
  };

  // The retained latest is refreshed at most once a second per device (the last reading of that
  // second wins): a new subscriber still gets a value at most a second old, at half the traffic.
  const latest = new Map<string, { at: number; frame?: string; timer?: ReturnType<typeof setTimeout> }>();
  const publishLatest = (device: string, frame: string) => {
    const now = performance.now();
    let entry = latest.get(device);
    if (!entry) latest.set(device, (entry = { at: -Infinity }));
    if (now - entry.at >= 1000 && !entry.timer) {
      entry.at = now;
      later({ topic: `${prefix}/${device}/latest`, payload: frame, retain: true });
      return;
    }
    entry.frame = frame;
    entry.timer ??= setTimeout(() => {
      const e = latest.get(device)!;
      e.timer = undefined;
      e.at = performance.now();
      if (e.frame) later({ topic: `${prefix}/${device}/latest`, payload: e.frame, retain: true });
      e.frame = undefined;
    }, Math.max(0, 1000 - (now - entry.at)));
  };

  return {
    onEvent(event) {
      const topic = topicOf(event);
      if (!topic) return;
      later({ topic, payload: event.frame, retain: false });
      if (event.type === "reading") publishLatest(event.device, event.frame);
    },
    stats: () => ({ ...stats, queued: queue.length }),
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        for (const [device, entry] of latest) {
          if (entry.timer) clearTimeout(entry.timer);
          if (entry.frame) pending.push({ topic: `${prefix}/${device}/latest`, payload: entry.frame, retain: true });
        }
        flushPending();
        const c = client;
        if (!c) return resolve();
        if (!stats.connected) {
          c.end(true, {}, () => resolve());
          return;
        }
        c.publish(status, "offline", { qos: 1, retain: true }, () => c.end(false, {}, () => resolve()));
      }),
  };
}
