// Composes the features into one Elysia app without listening, so tests build a fresh app (and
// fresh state) each time. Every piece of state lives in the Services created here.
import { Elysia } from "elysia";
import { COMMIT, VERSION } from "./build-info";
import { createAuth, createStreamSlots, type Auth, type StreamSlots } from "./auth";
import { tooLarge } from "./body";
import { createLocalBus, type Bus } from "./bus";
import { createClock, type Clock } from "./clock";
import type { Config } from "./config";
import { ApiError, jsonResponse, validationDetails } from "./errors";
import { docsRoutes } from "./docs";
import { createEvents, type Events } from "./events";
import { peerOf } from "./http";
import { createLogger, type Logger } from "./log";
import { createMetrics, type Metrics } from "./metrics";
import { createCycles, type Cycles } from "./modules/cycles/service";
import { healthRoutes } from "./modules/health";
import { ingestRoutes, isIngestPath } from "./modules/ingest";
import { metricsRoutes } from "./modules/metrics";
import { createIngest, type Ingest } from "./modules/ingest/service";
import { readingsRoutes } from "./modules/readings";
import { createLatestStore, type LatestStore } from "./modules/readings/service";
import { streamRoutes } from "./modules/stream";
import { createStreams, type Streams } from "./modules/stream/service";

/** The part of a Bun WebSocket the stream routes use (Elysia's and Bun's typings differ on the rest). */
export interface StreamSocket {
  send(data: string): unknown;
  close(code?: number, reason?: string): void;
  subscribe(topic: string): unknown;
  unsubscribe(topic: string): unknown;
  readonly subscriptions: string[];
  readonly remoteAddress: string;
}

export interface Services {
  config: Config;
  version: string;
  startedAt: number;
  clock: Clock;
  log: Logger;
  auth: Auth;
  bus: Bus;
  events: Events;
  cycles: Cycles;
  latest: LatestStore;
  ingest: Ingest;
  slots: StreamSlots;
  streams: Streams;
  sockets: Set<StreamSocket>;
  metrics: Metrics;
}

export interface AppOptions {
  /** Replaces the wall clock (tests move time to cross the cycle gap). */
  now?: () => number;
  log?: Logger;
  bus?: Bus;
}

export function createServices(config: Config, options: AppOptions = {}): Services {
  const clock = createClock(config.timezone, options.now);
  const bus = options.bus ?? createLocalBus();
  const events = createEvents(bus);
  const cycles = createCycles({ gapMinutes: config.cipGapMinutes, clock, events });
  const latest = createLatestStore();
  const slots = createStreamSlots(config.maxStreamsPerKey);
  const sockets = new Set<StreamSocket>();
  const streams = createStreams({ bus, slots, keepAliveSeconds: config.sseKeepAliveSeconds });
  const metrics = createMetrics({
    devices: () => cycles.devices(),
    streams: () => ({ ws: sockets.size, sse: streams.sseCount() }),
    published: () => bus.published(),
    version: VERSION,
    commit: COMMIT,
  });
  return {
    config,
    version: VERSION,
    startedAt: clock.now(),
    clock,
    log: options.log ?? createLogger(config),
    auth: createAuth(config),
    bus,
    events,
    cycles,
    latest,
    ingest: createIngest({ clock, cycles, latest, events, metrics }),
    slots,
    streams,
    sockets,
    metrics,
  };
}

const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);

export function createApp(config: Config, options: AppOptions = {}) {
  const s = createServices(config, options);

  const app = new Elysia({
    // Bun's own limit is only a backstop; our check answers 413 with the JSON error shape.
    serve: { maxRequestBodySize: Math.max(config.maxBodyBytes * 4, 1 << 20) },
    websocket: { maxPayloadLength: 16 * 1024, backpressureLimit: 1 << 20, closeOnBackpressureLimit: true },
  })
    .onRequest(({ request }) => {
      if (!BODY_METHODS.has(request.method)) return;
      const length = Number(request.headers.get("content-length"));
      if (length > config.maxBodyBytes) throw tooLarge(config.maxBodyBytes);
    })
    .onError(({ code, error, request, server, path }) => {
      let refusal: ApiError;
      if (error instanceof ApiError) refusal = error;
      else if (code === "PARSE" && error.cause instanceof ApiError) refusal = error.cause;
      else if (code === "VALIDATION" && error.type !== "response") {
        const details = validationDetails(error);
        const what = error.type === "params" ? "path" : error.type;
        refusal = new ApiError(
          422,
          "invalid_" + what,
          `The ${what} does not match the schema: ${details.map((d) => `${d.field} (${d.message})`).join("; ")}.`,
          details,
        );
      } else if (code === "PARSE") refusal = new ApiError(400, "malformed_body", "The body could not be read as JSON.");
      else if (code === "NOT_FOUND")
        refusal = new ApiError(404, "not_found", `There is no ${request.method} ${path}. The API is listed at /docs.`);
      else {
        s.log.error("request failed", { method: request.method, path, error: String(error) });
        return jsonResponse(500, { error: "internal", message: "The server failed to handle this request; it is logged." });
      }
      if (request.method === "POST" && isIngestPath(path)) s.metrics.rejected(refusal.code);
      s.log.warn("request rejected", {
        status: refusal.status,
        reason: refusal.code,
        method: request.method,
        path,
        peer: peerOf(server, request),
      });
      return jsonResponse(refusal.status, refusal.body(), refusal.headers);
    })
    .onStart(({ server }) => s.bus.attach(server))
    .onStop(() => {
      s.bus.attach(null);
      s.streams.closeAll();
    })
    .use(docsRoutes(s.version))
    .use(healthRoutes(s))
    .use(ingestRoutes(s))
    .use(readingsRoutes(s))
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
    s.bus.attach(null);
    app.server = null;
    return clean;
  };

  return { app, services: s, shutdown };
}

export type App = ReturnType<typeof createApp>["app"];
