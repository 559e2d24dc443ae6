// The yardstick: a minimal raw Bun.serve doing the same work as SensorFlow's hot path (parse,
// check four numbers, stamp, number, publish once) and nothing else: no framework, no validation
// library, no auth, no history. `PORT=0 bun test/bench/baseline.ts` prints its port on stdout.
const METRICS = ["temperature", "pressure", "concentration", "flow"] as const;
let seq = 0;
const encoder = new TextEncoder();
const sse = new Set<ReadableStreamDefaultController<Uint8Array>>();

const server = Bun.serve({
  port: Number(process.env.PORT ?? 0),
  hostname: "127.0.0.1",
  reusePort: false,
  idleTimeout: 0,
  async fetch(request, server) {
    const url = new URL(request.url);
    if (url.pathname === "/sensor_data" && request.method === "POST") {
      let body: Record<string, unknown>;
      try {
        body = (await request.json()) as Record<string, unknown>;
      } catch {
        return new Response('{"error":"malformed_json"}', { status: 400 });
      }
      for (const m of METRICS) if (typeof body[m] !== "number" || !Number.isFinite(body[m])) return new Response('{"error":"invalid"}', { status: 422 });
      const reading = {
        temperature: body.temperature,
        pressure: body.pressure,
        concentration: body.concentration,
        flow: body.flow,
        timestamp: new Date().toISOString(),
        cip_id: 1,
        device: "default",
        seq: ++seq,
      };
      const json = JSON.stringify(reading);
      server.publish("readings", json);
      if (sse.size > 0) {
        const chunk = encoder.encode(`id: ${reading.seq}\nevent: reading\ndata: ${json}\n\n`);
        for (const controller of sse) controller.enqueue(chunk);
      }
      return new Response(json, { status: 201, headers: { "content-type": "application/json" } });
    }
    if (url.pathname === "/ws/sensor_updates") {
      return server.upgrade(request) ? undefined : new Response("upgrade failed", { status: 400 });
    }
    if (url.pathname === "/api/stream") {
      let controller: ReadableStreamDefaultController<Uint8Array>;
      return new Response(
        new ReadableStream<Uint8Array>({
          start(c) {
            controller = c;
            sse.add(c);
            c.enqueue(encoder.encode(": ok\n\n"));
            request.signal.addEventListener("abort", () => sse.delete(controller));
          },
          cancel: () => void sse.delete(controller),
        }),
        { headers: { "content-type": "text/event-stream" } },
      );
    }
    if (url.pathname === "/health") return Response.json({ status: "healthy" });
    return new Response("not found", { status: 404 });
  },
  websocket: {
    open: (ws) => void ws.subscribe("readings"),
    message() {},
  },
});
console.log(`listening on http://127.0.0.1:${server.port}`);
