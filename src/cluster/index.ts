// Several instances, one stream (BUS_URL). Each reading goes to Redis once, through one Lua script
// that numbers it (global seq), applies the cycle rule for its device and appends it to a bounded
// Redis stream. Every instance reads that stream in order and fans each entry out to its own
// subscribers through the local bus (Bun's native pub/sub), so a subscriber anywhere gets every
// reading once, in seq order, and an instance never delivers its own readings twice: it delivers
// them when they come back from the stream, like everyone else's.
//
// While Redis is unreachable an instance keeps accepting readings: they are kept in its outbox (on
// disk), shown at once to its own subscribers as provisional (no seq), and shared, numbered, once
// Redis is back. It reconnects by itself with backoff and reports `degraded` meanwhile.
import { RedisClient } from "bun";
import type { Bus } from "../bus";
import type { Clock } from "../clock";
import type { Config } from "../config";
import { frameOf, topicsOf, type Events, type Recorded, type Recorder } from "../events";
import type { Logger } from "../log";
import type { Metrics } from "../metrics";
import { addToCycle, emptyStats, type Cycles, type CycleState } from "../modules/cycles/service";
import { METRICS } from "../modules/cycles/model";
import { checkRanges, type Ingest } from "../modules/ingest/service";
import type { Sample, StoredReading } from "../modules/readings/model";
import { faultsOf } from "../modules/ingest/samples";
import type { LatestStore } from "../modules/readings/service";
import type { Store } from "../store/types";
import { cycleOf, eventOf } from "./frames";
import { createOutbox, type Outbox, type Pending } from "./outbox";
import { SCRIPT, SEED } from "./script";

export interface BusStatus {
  up: boolean;
  instance: string;
  /** When the link to Redis was lost (ms), while it is down. */
  downSince: number | null;
  outbox: number;
  reconnects: number;
}

export interface Cluster {
  ingest: Ingest;
  /** Connects (or, if Redis is away, starts degraded and keeps trying); resolves once state is loaded or the first try failed. */
  start(): Promise<void>;
  /** Closes the cycles of devices silent for longer than the gap (atomically: one instance wins). */
  closeIdle(ms: number): void;
  /** Hands every event this instance numbered to `listener` (integrations), once across all instances. */
  listen(listener: (event: Recorded) => void): void;
  status(): BusStatus;
  stop(): Promise<void>;
}

const sha1 = (text: string) => new Bun.CryptoHasher("sha1").update(text).digest("hex");
const SCRIPT_SHA = sha1(SCRIPT);
const SEED_SHA = sha1(SEED);
/** How far seq jumps when Redis lost its data, so that an instance that was behind cannot reuse a number. */
const SEQ_MARGIN = 100_000;

type Reply = string | number | null | Reply[] | { [key: string]: Reply };
type Entry = [id: string, fields: string[]];

/** XREAD answers a map (RESP3) or a list of [stream, entries] (RESP2). */
function entriesOf(reply: Reply): Entry[] {
  if (reply === null || typeof reply !== "object") return [];
  if (Array.isArray(reply)) return reply.flatMap((stream) => ((stream as Reply[])[1] ?? []) as unknown as Entry[]);
  return Object.values(reply).flatMap((entries) => entries as unknown as Entry[]);
}

function field(fields: string[], name: string): string {
  const i = fields.indexOf(name);
  return i >= 0 && i % 2 === 0 ? fields[i + 1]! : "";
}

/** A reading's JSON up to `"cip_id":`, the rest is filled in once its number and cycle are known. */
function headOf(input: Sample, timestamp: string): string {
  const json = JSON.stringify({
    temperature: input.temperature ?? null, pressure: input.pressure ?? null, concentration: input.concentration ?? null, flow: input.flow ?? null, timestamp,
  });
  return `${json.slice(0, -1)},"cip_id":`;
}

/** The values as the script takes them ("" where there is none), then what follows `seq` in the reading's JSON. */
function valuesOf(input: Sample): Pending["values"] {
  const text = (value: number | null | undefined) => (value === null || value === undefined ? "" : String(value));
  const faults = faultsOf(input);
  return [text(input.temperature), text(input.pressure), text(input.concentration), text(input.flow), faults.length > 0 ? `,"faults":${JSON.stringify(faults)}` : ""];
}

export function createCluster(deps: {
  config: Config;
  clock: Clock;
  log: Logger;
  bus: Bus;
  /** Numbers nothing here: it publishes what the stream delivers and keeps the replay window. */
  events: Events;
  /** Where `events` keeps the replay window. */
  replay: Recorder;
  cycles: Cycles;
  latest: LatestStore;
  store: Store;
  metrics: Pick<Metrics, "accepted">;
}): Cluster {
  const { config, clock, log, bus, events, replay, cycles, latest, store, metrics } = deps;
  const ns = `{${config.busNamespace}}`;
  const keys = { seq: `${ns}:seq`, stream: `${ns}:stream`, devices: `${ns}:devices`, device: (d: string) => `${ns}:device:${d}` };
  const gapMs = config.cipGapMinutes * 60_000;
  const ranged = Object.keys(config.limits).length > 0;
  const outbox: Outbox = createOutbox(config.storage === "memory" && !config.databaseUrl ? null : config.dataDir);
  const listeners: ((event: Recorded) => void)[] = [];
  /** The seq of the last event applied to each device's copy here (the device hash's `seq`). */
  const deviceSeq = new Map<string, number>();

  let state: "down" | "connecting" | "up" | "stopped" = "down";
  let command: RedisClient | null = null;
  let reader: RedisClient | null = null;
  let generation = 0;
  let attempt = 0;
  let reconnects = 0;
  let downSince: number | null = clock.now();
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let loaded = false;
  let lastId = "0-0";
  let draining = false;
  const closing = new Set<string>();

  const client = () => new RedisClient(config.busUrl, { autoReconnect: false, enableOfflineQueue: false, connectionTimeout: 2000 });
  const dropClients = () => {
    for (const c of [command, reader]) {
      try {
        c?.close();
      } catch {
        // already closed
      }
    }
    command = reader = null;
  };

  /** Drops the clients and tries again after a growing, jittered wait (0.1 s … 5 s). */
  const retry = () => {
    state = "down";
    generation++;
    dropClients();
    const delay = Math.min(5000, 100 * 2 ** attempt++) * (0.5 + Math.random() / 2);
    retryTimer = setTimeout(() => void connect(), delay);
  };

  /** The link is gone: serve this instance's subscribers, keep readings in the outbox, reconnect. */
  const fail = (error: unknown) => {
    if (state !== "up") return;
    downSince = clock.now();
    log.warn("Redis bus unreachable: serving this instance's subscribers only; readings wait in the outbox", { error: String(error), instance: config.instanceId });
    retry();
  };

  const evalsha = async (sha: string, source: string, keyList: string[], args: string[]): Promise<Reply> => {
    const c = command;
    if (!c) throw new Error("Redis is not connected");
    try {
      return (await c.send("EVALSHA", [sha, String(keyList.length), ...keyList, ...args])) as Reply;
    } catch (error) {
      // A restarted Redis has forgotten the script: send it once in full.
      if (!String(error).includes("NOSCRIPT")) throw error;
      return (await c.send("EVAL", [source, String(keyList.length), ...keyList, ...args])) as Reply;
    }
  };

  /** A device's copy here as the hash fields the script keeps (for SEED). */
  const hashOf = (device: string, cycle: CycleState) => {
    const json = latest.get(device)?.json;
    const h: Record<string, string> = {
      device, cip: String(cycle.cipId), started: String(cycle.startedMs), last: String(cycle.lastMs), n: String(cycle.readings),
      closed: cycle.closed ? "1" : "0", seq: String(deviceSeq.get(device) ?? 0), ...(json && { latest: json }),
    };
    for (const m of METRICS) {
      const s = cycle.stats[m];
      h[`mn_${m}`] = Number.isFinite(s.min) ? String(s.min) : "";
      h[`mx_${m}`] = Number.isFinite(s.max) ? String(s.max) : "";
      h[`sm_${m}`] = String(s.sum);
      h[`ct_${m}`] = String(s.n);
    }
    return h;
  };

  const seed = async () => {
    const args = [String(events.lastSeq()), String(SEQ_MARGIN)];
    for (const [device, cycle] of cycles.devices()) args.push(keys.device(device), JSON.stringify(hashOf(device, cycle)));
    const restored = (await evalsha(SEED_SHA, SEED, [keys.seq, keys.devices], args)) as number;
    if (restored > 0) log.warn("Redis had lost device state; put back from this instance's copy", { devices: restored });
  };

  /** Runs the script, putting the counter back first if Redis restarted empty. */
  const run = async (mode: "ingest" | "close", device: string, extra: string[]): Promise<Reply[]> => {
    const keyList = [keys.seq, keys.stream, keys.device(device), keys.devices];
    const args = [mode, JSON.stringify(device), device, String(config.replayMax), String(gapMs), ...extra];
    try {
      return (await evalsha(SCRIPT_SHA, SCRIPT, keyList, args)) as Reply[];
    } catch (error) {
      if (!String(error).includes("NOSEED")) throw error;
      await seed();
      return (await evalsha(SCRIPT_SHA, SCRIPT, keyList, args)) as Reply[];
    }
  };

  /** What the script numbered: kept in the shared history and handed to integrations, here only. */
  const numbered = (device: string, out: Reply[]): string[] => {
    const jsons: string[] = [];
    // With nobody to hand events to (memory store, no integrations), only the answer is needed.
    const keep = store.shared || listeners.length > 0;
    for (let i = 0; i < out.length; i += 4) {
      const type = String(out[i]);
      const payload = String(out[i + 2]);
      if (type === "reading") jsons.push(payload);
      if (!keep) continue;
      const event = eventOf(type, Number(out[i + 1]), device, payload, clock.iso, cycleOf(String(out[i + 3])));
      const recorded: Recorded = Object.assign(event, { frame: frameOf(event.json, type) });
      if (store.shared) store.record(recorded);
      for (const listener of listeners) listener(recorded);
    }
    return jsons;
  };

  const lost = (error: unknown) => command === null || !command.connected || /connection|closed|socket|timeout/i.test(String(error));

  const drain = async () => {
    if (draining) return;
    draining = true;
    let shared = 0;
    try {
      while (state === "up") {
        const rows = outbox.peek(200);
        if (rows.length === 0) break;
        // Consecutive rows of one device go in one script call, in arrival order.
        let i = 0;
        while (i < rows.length && state === "up") {
          let j = i + 1;
          while (j < rows.length && rows[j]!.device === rows[i]!.device) j++;
          const group = rows.slice(i, j);
          const out = await run("ingest", group[0]!.device, [String(group.length), ...group.flatMap((r) => [String(r.ms), r.head, ...r.values])]);
          outbox.remove(group.map((r) => r.id));
          numbered(group[0]!.device, out);
          shared += group.length;
          i = j;
        }
      }
      if (shared > 0 && outbox.size() === 0) log.info("outbox empty: every reading taken during the outage is shared", { readings: shared });
    } catch (error) {
      if (lost(error)) fail(error);
      else log.error("sharing readings from the outbox failed; they stay there", { error: String(error) });
    } finally {
      draining = false;
    }
  };

  /** During an outage: keep the readings, show them to this instance's subscribers now, share them later. */
  const provisional = (device: string, rows: Omit<Pending, "id">[]): string[] => {
    outbox.add(rows);
    const current = cycles.get(device);
    const jsons = rows.map((row) => {
      const cip = current === undefined ? 1 : row.ms - current.lastMs > gapMs ? current.cipId + 1 : current.cipId;
      const json = `${row.head}${cip},"device":${JSON.stringify(device)},"seq":null${row.values[4]},"provisional":true}`;
      const event = { seq: -1, type: "reading", frame: frameOf(json, "reading") };
      for (const topic of topicsOf("reading", device)) bus.publish(topic, event);
      return json;
    });
    if (state === "up") void drain();
    return jsons;
  };

  /** One stream entry, delivered here: this instance's copy of the device, the replay window, the subscribers. */
  const deliver = ([id, fields]: Entry, live: boolean) => {
    lastId = id;
    const seq = Number.parseInt(id, 10);
    const type = field(fields, "t");
    const device = field(fields, "d");
    const event = eventOf(type, seq, device, field(fields, "p"), clock.iso);
    if (!live) {
      // Loading the window at start: kept for replay, not news to anyone.
      replay.record(Object.assign(event, { frame: frameOf(event.json, type) }));
      events.seen(seq);
      return;
    }
    if (seq > (deviceSeq.get(device) ?? 0)) {
      deviceSeq.set(device, seq);
      const reading = event.reading;
      if (reading) {
        let cycle = cycles.get(device);
        if (!cycle || cycle.cipId !== reading.cip_id) {
          cycle = { cipId: reading.cip_id, startedMs: event.ms, lastMs: event.ms, readings: 0, closed: false, stats: emptyStats() };
          cycles.restore(device, cycle);
        }
        addToCycle(cycle, event.ms, reading);
        latest.set(device, { reading, json: event.json });
      } else if (event.cycle) {
        const current = cycles.get(device);
        if (type === "cycle.closed" && current?.cipId === event.cycle.cipId) current.closed = true;
        else cycles.restore(device, event.cycle.state);
      }
    }
    events.emit(event);
  };

  const tail = async (gen: number, c: RedisClient) => {
    while (state === "up" && gen === generation) {
      let reply: Reply;
      try {
        reply = (await c.send("XREAD", ["BLOCK", "1000", "COUNT", "1000", "STREAMS", keys.stream, lastId])) as Reply;
      } catch (error) {
        if (gen === generation) fail(error);
        return;
      }
      if (gen !== generation) return;
      for (const entry of entriesOf(reply)) deliver(entry, true);
    }
  };

  /** First connection: the replay window from the stream, then each device's cycle and latest reading. */
  const load = async (c: RedisClient) => {
    let from = "-";
    for (;;) {
      const page = (await c.send("XRANGE", [keys.stream, from, "+", "COUNT", "10000"])) as Entry[];
      for (const entry of page) deliver(entry, false);
      if (page.length < 10000) break;
      from = `(${page[page.length - 1]![0]}`;
    }
    if (lastId === "0-0") lastId = `${Number((await c.send("GET", [keys.seq])) ?? 0)}-0`;
    const devices = (await c.send("SMEMBERS", [keys.devices])) as string[];
    const hashes = await Promise.all(devices.map((d) => c.send("HGETALL", [keys.device(d)]) as Promise<Record<string, string> | string[]>));
    devices.forEach((device, i) => {
      const raw = hashes[i]!;
      const h: Record<string, string> = Array.isArray(raw) ? Object.fromEntries(raw.flatMap((_, j) => (j % 2 === 0 ? [[raw[j], raw[j + 1]]] : []))) : raw;
      if (h.cip === undefined) return;
      const cycle = cycleOf(`${h.cip}|${h.started}|${h.last}|${h.n}|${h.closed}`);
      for (const m of METRICS) {
        cycle.stats[m] = { min: h[`mn_${m}`] ? Number(h[`mn_${m}`]) : Infinity, max: h[`mx_${m}`] ? Number(h[`mx_${m}`]) : -Infinity, sum: Number(h[`sm_${m}`] ?? 0), n: Number(h[`ct_${m}`] ?? h.n ?? 0) };
      }
      cycles.restore(device, cycle);
      deviceSeq.set(device, Number(h.seq ?? 0));
      if (h.latest) latest.set(device, { reading: JSON.parse(h.latest) as StoredReading, json: h.latest });
    });
    loaded = true;
  };

  async function connect(): Promise<void> {
    if (state === "stopped") return;
    state = "connecting";
    const gen = ++generation;
    const reconnecting = loaded;
    try {
      command = client();
      reader = client();
      await Promise.all([command.connect(), reader.connect()]);
      // Numbering state first: nothing is numbered before the counter is right.
      await seed();
      if (!loaded) await load(command);
      if (gen !== generation) return;
      if (reconnecting) {
        reconnects++;
        log.info("Redis bus reachable again", { down_s: Math.round((clock.now() - (downSince ?? clock.now())) / 100) / 10, outbox: outbox.size() });
      } else log.info("Redis bus connected", { instance: config.instanceId, namespace: config.busNamespace });
      state = "up";
      attempt = 0;
      downSince = null;
      void tail(gen, reader);
      void drain();
    } catch (error) {
      if (gen !== generation) return;
      if (attempt === 0) log.warn("Redis bus unreachable; retrying with backoff", { error: String(error) });
      retry();
    }
  }

  const ingest: Ingest = {
    async accept(device, inputs) {
      if (ranged) checkRanges(inputs, config.limits, inputs.length > 1);
      const ms = clock.now();
      const timestamp = clock.iso(ms);
      const rows = inputs.map((input) => ({
        device,
        ms,
        head: headOf(input, timestamp),
        values: valuesOf(input),
      }));
      // Behind older readings still in the outbox, a new one waits its turn: a device's order is kept.
      if (state !== "up" || outbox.size() > 0) {
        metrics.accepted(rows.length);
        return provisional(device, rows);
      }
      let out: Reply[];
      try {
        out = await run("ingest", device, [String(rows.length), ...rows.flatMap((r) => [String(r.ms), r.head, ...r.values])]);
      } catch (error) {
        if (!lost(error)) throw error;
        fail(error);
        metrics.accepted(rows.length);
        return provisional(device, rows);
      }
      metrics.accepted(rows.length);
      return numbered(device, out);
    },
  };

  return {
    ingest,
    start: () => connect(),
    closeIdle(ms) {
      if (state !== "up") return;
      for (const [device, cycle] of cycles.devices()) {
        if (cycle.closed || ms - cycle.lastMs <= gapMs || closing.has(device)) continue;
        closing.add(device);
        run("close", device, [String(ms)])
          .then((out) => numbered(device, out))
          .catch((error) => (lost(error) ? fail(error) : log.error("closing an idle cycle failed", { device, error: String(error) })))
          .finally(() => closing.delete(device));
      }
    },
    listen: (listener) => void listeners.push(listener),
    status: () => ({ up: state === "up", instance: config.instanceId, downSince, outbox: outbox.size(), reconnects }),
    async stop() {
      state = "stopped";
      generation++;
      clearTimeout(retryTimer);
      dropClients();
      outbox.close();
    },
  };
}
