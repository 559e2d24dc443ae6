// Composes the features into one Elysia app without listening, so tests build a fresh app (and
// fresh state) each time. Every piece of state lives in the Services created here.
import { Elysia } from "elysia";
import { cors } from "@elysiajs/cors";
import { COMMIT, VERSION } from "./build-info";
import { createAuth, createStreamSlots } from "./auth";
import { createNetworks } from "./networks";
import { createBoards } from "./modules/boards/service";
import { boardRoutes } from "./modules/boards";
import { createLocalBus, type Bus } from "./bus";
import { createClock, type Clock } from "./clock";
import type { Config } from "./config";
import { docsRoutes } from "./docs";
import { createEvents, type Events } from "./events";
import { createAlarms, type Alarms } from "./modules/alarms/service";
import { createRecipes, loadRecipesFile, type Recipes } from "./modules/recipes/service";
import { reportRoutes } from "./modules/reports";
import { createMqttBridge, type MqttBridge } from "./modules/mqtt/service";
import { createWebhooks, type Webhooks } from "./modules/webhooks/service";
import { buildReport, collectAlarms, type CycleReport } from "./modules/reports/service";
import { createLogger, type Logger } from "./log";
import { createMetrics, type Metrics } from "./metrics";
import { createMemoryStore } from "./store/memory";
import { createSqliteStore } from "./store/sqlite";
import { createPostgresStore } from "./store/postgres";
import { createCluster, type Cluster } from "./cluster";
import type { Store } from "./store/types";
import { join } from "node:path";
import { createCycles, type Cycles } from "./modules/cycles/service";
import { dashboardRoutes } from "./modules/dashboard";
import { healthRoutes } from "./modules/health";
import { historyRoutes } from "./modules/history";
import { createHistory, type History } from "./modules/history/service";
import { ingestRoutes } from "./modules/ingest";
import { metricsRoutes } from "./modules/metrics";
import { createIngest, type Ingest } from "./modules/ingest/service";
import { createBackground } from "./background";
import { refusals } from "./refusals";
import type { Services, StreamSocket } from "./services";
import { readingsRoutes } from "./modules/readings";
import { createLatestStore, type LatestStore } from "./modules/readings/service";
import { streamRoutes } from "./modules/stream";
import { createStreams, type Streams } from "./modules/stream/service";

export interface AppOptions {
  /** Replaces the wall clock (tests move time to cross the cycle gap). */
  now?: () => number;
  log?: Logger;
  bus?: Bus;
  /** How often idle cycles are checked for closing (default: a tenth of the gap, at most 10 s). */
  cycleCheckMs?: number;
  /** Recipes to use instead of RECIPES_FILE (null: none). */
  recipes?: Recipes | null;
}

function openStore(config: Config, clock: Clock, log: Logger): Store | Promise<Store> {
  const onError = (error: unknown) => log.error("writing history failed; the batch is kept and retried", { error: String(error) });
  if (config.databaseUrl) {
    return createPostgresStore({
      url: config.databaseUrl,
      flushIntervalMs: config.flushIntervalMs,
      flushMaxRows: 1000,
      // With the bus, replay comes from the shared Redis stream.
      replayMax: config.busUrl ? 0 : config.replayMax,
      iso: clock.iso,
      onError,
    });
  }
  if (config.storage === "memory") return createMemoryStore(config.replayMax);
  return createSqliteStore({
    path: join(config.dataDir, "sensorflow.db"),
    flushIntervalMs: config.flushIntervalMs,
    flushMaxRows: 1000,
    iso: clock.iso,
    onError,
  });
}

export async function createServices(config: Config, options: AppOptions = {}): Promise<Services> {
  const clock = createClock(config.timezone, options.now);
  const log = options.log ?? createLogger(config);
  const bus = options.bus ?? createLocalBus();
  const store = await openStore(config, clock, log);
  // State survives restarts: seq, each device's latest reading and its cycle.
  const restored = await store.restore();
  // With the bus, the shared stream numbers events; this instance keeps a replay window of it.
  const replay = config.busUrl && store.kind !== "memory" ? createMemoryStore(config.replayMax) : store;
  const events = createEvents(bus, replay, restored.seq);
  const recipes = options.recipes !== undefined ? options.recipes ?? undefined
    : config.recipesFile ? createRecipes(loadRecipesFile(config.recipesFile), await store.savedRecipes()) : undefined;
  const alarms = createAlarms({ events, clock, debounceMs: recipes?.debounceMs ?? 10_000 });
  let reports: Services["reports"];
  const cycles = createCycles({
    gapMinutes: config.cipGapMinutes,
    clock,
    events,
    onClosed(device, cycle) {
      alarms.end(device, "cycle ended", cycle.lastMs);
      if (!recipes?.recipeOf(device) || !store.history) return;
      // After the current request: the verdict reads the whole cycle back from the store.
      setTimeout(async () => {
        try {
          const report = await reports.build(device, cycle.cipId);
          const seq = events.nextSeq();
          const body = { device, cip_id: cycle.cipId, verdict: report.verdict, report_number: report.report_number,
            phases: report.phases.map((p) => ({ name: p.name, verdict: p.verdict })), seq };
          events.emit({
            type: "cycle.verdict",
            seq,
            device,
            ms: clock.now(),
            json: JSON.stringify(body),
            verdict: { cipId: cycle.cipId, verdict: report.verdict },
          });
        } catch (error) {
          log.error("cycle verdict failed", { device, cip_id: cycle.cipId, error: String(error) });
        }
      }, 0);
    },
  });
  const latest = createLatestStore();
  const boards = createBoards({ store, clock, cycles, alarms, silentSeconds: config.boardSilentSeconds, deviceAddresses: config.deviceAddresses });
  await boards.keys.load();
  await boards.addresses.load();
  const history = createHistory({ store, cycles, clock });
  reports = {
    async build(device, cipId) {
      const summary = await history.cycle(device, cipId);
      const readings = await history.cycleReadings(device, cipId);
      return buildReport({ device, summary, readings, recipe: recipes?.recipeOf(device), alarms: await collectAlarms(store, device, cipId), debounceMs: alarms.debounceMs, clock, units: config.units });
    },
  };
  for (const device of restored.devices) {
    cycles.restore(device.device, device.cycle);
    latest.set(device.device, { reading: device.latest, json: device.json });
  }
  const slots = createStreamSlots(config.maxStreamsPerKey, config.maxStreams);
  const sockets = new Set<StreamSocket>();
  const streams = createStreams({ bus, slots, keepAliveSeconds: config.sseKeepAliveSeconds, replay, events, replayMax: config.replayMax });
  let mqtt: MqttBridge | undefined;
  let webhooks: Webhooks | undefined;
  const metrics = createMetrics({
    devices: () => cycles.devices(),
    streams: () => ({ ws: sockets.size, sse: streams.sseCount() }),
    published: () => bus.published(),
    historyBytes: () => store.size().bytes,
    alarms: () => ({ raised: alarms.raised(), active: alarms.active().length }),
    mqtt: () => mqtt?.stats(),
    webhooks: () => webhooks?.stats(),
    bus: () => cluster?.status(),
    version: VERSION,
    commit: COMMIT,
  });
  const cluster = config.busUrl ? createCluster({ config, clock, log, bus, events, replay, cycles, latest, store, metrics }) : undefined;
  const ingest = cluster?.ingest ?? createIngest({ clock, cycles, latest, events, metrics, limits: config.limits, recipes, alarms });
  // Integrations listen to the events (with the bus: to those this instance numbered, so each goes out
  // once); with none configured, the hot path has no listener to call.
  const listen = cluster ? cluster.listen : events.listen;
  if (config.mqttUrl) {
    mqtt = createMqttBridge(config, { ingest, log });
    listen(mqtt.onEvent);
  }
  if (config.webhookUrls.length > 0) {
    webhooks = createWebhooks(config, { log });
    listen(webhooks.onEvent);
  }
  await cluster?.start();
  return {
    config,
    version: VERSION,
    startedAt: clock.now(),
    clock,
    log,
    store,
    auth: createAuth(config, { deviceKeys: boards.keys, networks: createNetworks(config.ingestNetworks) }),
    bus,
    events,
    cycles,
    latest,
    ingest,
    slots,
    streams,
    sockets,
    metrics,
    history,
    recipes,
    alarms,
    boards,
    reports,
    mqtt,
    webhooks,
    cluster,
  };
}




export async function createApp(config: Config, options: AppOptions = {}) {
  const s = await createServices(config, options);

  const background = createBackground(s, config, options.cycleCheckMs);
  let closing: Promise<void> = Promise.resolve();

  const app = new Elysia({
    // Handlers pick the fields they use; TypeBox's Clean pass on every body would only cost time.
    normalize: false,
    // Bun's own limit answers an empty 413; every body route reads with ours instead (413 in the JSON shape, however large).
    serve: { maxRequestBodySize: Number.MAX_SAFE_INTEGER },
    // Backstop for a subscriber that stops reading between two slow-client checks: Bun closes it.
    websocket: {
      maxPayloadLength: 16 * 1024,
      backpressureLimit: config.slowClientBytes * 2,
      closeOnBackpressureLimit: true,
      idleTimeout: 60,
      sendPings: true,
    },
  })
    .onError(refusals(s))
    .onStart(({ server }) => {
      s.bus.attach(server);
      background.start();
    })
    // Elysia does not wait for onStop: `closed()` resolves once the store has everything.
    .onStop(() => {
      closing = (async () => {
        background.stop();
        void s.mqtt?.close();
        s.webhooks?.close();
        s.bus.attach(null);
        s.streams.closeAll();
        await s.cluster?.stop();
        await s.store.close();
      })();
    })
    .use(config.corsOrigins.length > 0 ? cors({
            origin: config.corsOrigins.includes("*") ? true : config.corsOrigins,
            allowedHeaders: ["content-type", "x-api-key", "last-event-id"],
            exposeHeaders: ["x-next-cursor", "retry-after"],
            credentials: false,
          }) : new Elysia())
    .use(docsRoutes(s.version, config.units))
    .use(dashboardRoutes(config.units))
    .use(healthRoutes(s))
    .use(ingestRoutes(s))
    .use(boardRoutes(s))
    .use(readingsRoutes(s))
    .use(historyRoutes(s))
    .use(reportRoutes(s))
    .use(streamRoutes(s))
    .use(metricsRoutes(s));

  /**
   * Graceful stop: refuse new connections, let requests in flight finish, close WebSockets with 1001
   * and end SSE streams, then wait (at most `graceMs`) for the rest. True if nothing had to be cut.
   */
  const shutdown = async (graceMs = 4000): Promise<boolean> => {
    const server = app.server;
    if (!server) return true;
    const drained = server.stop(false);
    for (const socket of s.sockets) socket.close(1001, "server shutting down");
    s.streams.closeAll();
    const clean = await Promise.race([drained.then(() => true), Bun.sleep(graceMs).then(() => false)]);
    if (!clean) await server.stop(true);
    background.stop();
    await s.mqtt?.close();
    s.webhooks?.close();
    s.bus.attach(null);
    await s.cluster?.stop();
    // Everything acknowledged reaches the disk before the process ends.
    await s.store.close();
    app.server = null;
    return clean;
  };

  return { app, services: s, shutdown, closed: () => closing };
}

export type App = Awaited<ReturnType<typeof createApp>>["app"];
