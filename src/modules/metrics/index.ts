// GET /metrics: Prometheus text exposition, behind the read key unless METRICS_PUBLIC=true.
import { Elysia } from "elysia";
import type { Services } from "../../services";
import { ErrorBody } from "../../errors";
import { guard } from "../../http";

export function metricsRoutes(s: Services) {
  return new Elysia({ name: "metrics" }).get(
    "/metrics",
    async () =>
      new Response(await s.metrics.registry.metrics(), { headers: { "content-type": s.metrics.registry.contentType } }),
    {
      beforeHandle: s.config.metricsPublic ? undefined : guard(s.auth, "read"),
      response: { 401: ErrorBody, 403: ErrorBody },
      detail: {
        summary: "Prometheus metrics",
        description: "Readings accepted and rejected, per-device last seen and cycle, live streams, published messages, ingest latency, memory. Needs a read key unless METRICS_PUBLIC=true.",
        tags: ["health"],
      },
    },
  );
}
