// Health: public, cheap, and the same shape the original service answered with.
import { Elysia, t } from "elysia";
import type { Services } from "../../services";

export const Health = t.Object({
  status: t.Union([t.Literal("healthy"), t.Literal("degraded")]),
  timestamp: t.String(),
  service: t.String(),
  version: t.String(),
  uptime_s: t.Number(),
  devices: t.Integer({ description: "devices seen since start" }),
  streams: t.Integer({ description: "live WebSocket and SSE streams" }),
  history: t.Object({
    storage: t.Union([t.Literal("sqlite"), t.Literal("memory"), t.Literal("postgres")]),
    bytes: t.Integer({ description: "size of the history database" }),
    oldest_reading: t.Union([t.String(), t.Null()]),
    retention_days: t.Number(),
  }),
  bus: t.Optional(
    t.Object({
      status: t.Union([t.Literal("up"), t.Literal("down")]),
      instance: t.String(),
      down_since: t.Union([t.String(), t.Null()]),
      outbox: t.Integer({ description: "readings acknowledged during a Redis outage, not yet shared" }),
      reconnects: t.Integer(),
    }, { description: "present with BUS_URL: this instance's link to the shared Redis bus" }),
  ),
});

export function healthRoutes(s: Services) {
  const health = () => {
    const now = s.clock.now();
    let devices = 0;
    for (const _ of s.cycles.devices()) devices++;
    const size = s.store.size();
    const bus = s.cluster?.status();
    return {
      // Degraded: serving its own subscribers while Redis is away (still 200: it does serve).
      status: bus && !bus.up ? ("degraded" as const) : ("healthy" as const),
      timestamp: s.clock.iso(now),
      service: "sensorflow",
      version: s.version,
      uptime_s: Math.round((now - s.startedAt) / 100) / 10,
      devices,
      streams: s.slots.count(),
      history: {
        storage: s.store.kind,
        bytes: size.bytes,
        oldest_reading: size.oldestMs === null ? null : s.clock.iso(size.oldestMs),
        retention_days: s.config.retentionDays,
      },
      ...(bus && {
        bus: {
          status: bus.up ? ("up" as const) : ("down" as const),
          instance: bus.instance,
          down_since: bus.downSince === null ? null : s.clock.iso(bus.downSince),
          outbox: bus.outbox,
          reconnects: bus.reconnects,
        },
      }),
    };
  };
  const options = (path: string) =>
    ({ response: { 200: Health }, detail: { summary: `Service health (${path})`, tags: ["health"] } });
  return new Elysia({ name: "health" }).get("/health", health, options("/health")).get("/api/health", health, options("/api/health"));
}
