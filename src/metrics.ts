// Prometheus metrics. One registry per app (no global default registry), so tests get fresh counts.
// Values that already live in the services (devices, streams, published messages) are read when
// scraped instead of being counted twice.
// One file per class rather than the package index, which also loads much we do not use (see assets.d.ts).
import Counter from "prom-client/lib/counter";
import Gauge from "prom-client/lib/gauge";
import Histogram from "prom-client/lib/histogram";
import Registry from "prom-client/lib/registry";

export interface MetricSources {
  devices(): Iterable<[string, { cipId: number; lastMs: number }]>;
  streams(): { ws: number; sse: number };
  published(): number;
  historyBytes(): number;
  alarms(): { raised: number; active: number };
  mqtt(): { connected: boolean; queued: number; published: number; dropped: number; ingestAccepted: number; ingestRejected: number } | undefined;
  webhooks(): { delivered: number; failed: number; retried: number; dropped: number; queued: number } | undefined;
  /** The shared bus (BUS_URL), when there is one. */
  bus(): { up: boolean; outbox: number; instance: string } | undefined;
  version: string;
  commit: string;
}

export interface Metrics {
  registry: Registry;
  accepted(count: number): void;
  rejected(reason: string): void;
  ingestSeconds(seconds: number): void;
}

export function createMetrics(sources: MetricSources): Metrics {
  const registry = new Registry();
  const registers = [registry];

  const readings = new Counter({
    name: "sensorflow_readings_total",
    help: "Readings accepted, and ingest requests rejected by reason (a rejected request stores none of its readings)",
    labelNames: ["result", "reason"] as const,
    registers,
  });
  const accepted = readings.labels({ result: "accepted" });

  const ingest = new Histogram({
    name: "sensorflow_ingest_duration_seconds",
    help: "Time from reading an ingest request's body to the stored reading being published",
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
    registers,
  });

  new Gauge({
    name: "sensorflow_device_last_seen_timestamp_seconds",
    help: "When each device's latest reading arrived (Unix time)",
    labelNames: ["device"] as const,
    registers,
    collect() {
      this.reset();
      for (const [device, cycle] of sources.devices()) this.set({ device }, cycle.lastMs / 1000);
    },
  });
  new Gauge({
    name: "sensorflow_device_cycle",
    help: "Current cleaning cycle number (cip_id) of each device",
    labelNames: ["device"] as const,
    registers,
    collect() {
      this.reset();
      for (const [device, cycle] of sources.devices()) this.set({ device }, cycle.cipId);
    },
  });
  new Gauge({
    name: "sensorflow_streams",
    help: "Live streams by kind",
    labelNames: ["kind"] as const,
    registers,
    collect() {
      const { ws, sse } = sources.streams();
      this.set({ kind: "websocket" }, ws);
      this.set({ kind: "sse" }, sse);
    },
  });
  let publishedSeen = 0;
  new Counter({
    name: "sensorflow_messages_published_total",
    help: "Events published, counted once per topic",
    registers,
    collect() {
      const now = sources.published();
      this.inc(now - publishedSeen);
      publishedSeen = now;
    },
  });
  new Gauge({
    name: "sensorflow_process_resident_memory_bytes",
    help: "Resident memory of the server process",
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: "sensorflow_process_heap_bytes",
    help: "JavaScript heap in use",
    registers,
    collect() {
      this.set(process.memoryUsage().heapUsed);
    },
  });
  new Gauge({
    name: "sensorflow_history_bytes",
    help: "Size of the history database on disk (0 with STORAGE=memory)",
    registers,
    collect() {
      this.set(sources.historyBytes());
    },
  });
  let raisedSeen = 0;
  new Counter({
    name: "sensorflow_alarms_raised_total",
    help: "Alarms raised (a metric out of its phase's limits for longer than the debounce)",
    registers,
    collect() {
      const now = sources.alarms().raised;
      this.inc(now - raisedSeen);
      raisedSeen = now;
    },
  });
  new Gauge({
    name: "sensorflow_alarms_active",
    help: "Alarms raised and not yet cleared",
    registers,
    collect() {
      this.set(sources.alarms().active);
    },
  });
  // Integrations: counts kept by the bridge and the webhook queue, read when scraped.
  const seen = new Map<string, number>();
  const delta = (key: string, now: number) => {
    const before = seen.get(key) ?? 0;
    seen.set(key, now);
    return now - before;
  };
  new Counter({
    name: "sensorflow_mqtt_messages_total",
    help: "MQTT messages published to the broker, and dropped from a full queue while it was away",
    labelNames: ["result"] as const,
    registers,
    collect() {
      const m = sources.mqtt();
      if (!m) return;
      this.inc({ result: "published" }, delta("mqtt.published", m.published));
      this.inc({ result: "dropped" }, delta("mqtt.dropped", m.dropped));
    },
  });
  new Counter({
    name: "sensorflow_mqtt_ingest_total",
    help: "Readings received on <prefix>/<device>/ingest, accepted or rejected",
    labelNames: ["result"] as const,
    registers,
    collect() {
      const m = sources.mqtt();
      if (!m) return;
      this.inc({ result: "accepted" }, delta("mqtt.accepted", m.ingestAccepted));
      this.inc({ result: "rejected" }, delta("mqtt.rejected", m.ingestRejected));
    },
  });
  new Gauge({
    name: "sensorflow_mqtt_connected",
    help: "1 while connected to the MQTT broker",
    registers,
    collect() {
      const m = sources.mqtt();
      if (m) this.set(m.connected ? 1 : 0);
    },
  });
  new Gauge({
    name: "sensorflow_mqtt_queued",
    help: "MQTT messages waiting for the broker",
    registers,
    collect() {
      const m = sources.mqtt();
      if (m) this.set(m.queued);
    },
  });
  new Counter({
    name: "sensorflow_webhook_deliveries_total",
    help: "Webhook delivery outcomes: delivered, retried, failed (gave up), dropped (queue full or shut down)",
    labelNames: ["result"] as const,
    registers,
    collect() {
      const w = sources.webhooks();
      if (!w) return;
      for (const result of ["delivered", "retried", "failed", "dropped"] as const) this.inc({ result }, delta(`webhook.${result}`, w[result]));
    },
  });
  new Gauge({
    name: "sensorflow_bus_up",
    help: "1 while this instance reaches the shared Redis bus (BUS_URL), 0 while it serves only its own subscribers",
    labelNames: ["instance"] as const,
    registers,
    collect() {
      this.reset();
      const bus = sources.bus();
      if (bus) this.set({ instance: bus.instance }, bus.up ? 1 : 0);
    },
  });
  new Gauge({
    name: "sensorflow_bus_outbox",
    help: "Readings acknowledged during a Redis outage and not yet shared (sent when Redis is back)",
    registers,
    collect() {
      this.set(sources.bus()?.outbox ?? 0);
    },
  });
  const started = Date.now() / 1000;
  new Gauge({
    name: "sensorflow_start_time_seconds",
    help: "When the server started (Unix time)",
    registers,
    collect() {
      this.set(started);
    },
  });
  new Gauge({
    name: "sensorflow_build_info",
    help: "Version and commit of the running build (always 1)",
    labelNames: ["version", "commit"] as const,
    registers,
  }).set({ version: sources.version, commit: sources.commit }, 1);

  return {
    registry,
    accepted: (count) => accepted.inc(count),
    rejected: (reason) => readings.inc({ result: "rejected", reason }),
    ingestSeconds: (seconds) => ingest.observe(seconds),
  };
}
