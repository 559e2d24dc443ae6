// Configuration: read once from the environment (Bun has already merged `.env` into it, without
// overriding real variables), validated, and passed to createApp. Nothing else reads process.env.
import { existsSync } from "node:fs";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { canonicalAddress, parseNetwork } from "./networks";
import { t } from "elysia";

export const Config = t.Object({
  port: t.Integer({ minimum: 0, maximum: 65535 }),
  host: t.String(),
  timezone: t.String(),
  cipGapMinutes: t.Number({ exclusiveMinimum: 0 }),
  defaultDevice: t.String(),
  apiKeys: t.Array(t.String()),
  readKeys: t.Array(t.String()),
  adminKeys: t.Array(t.String()),
  ingestNetworks: t.Array(t.String()),
  deviceAddresses: t.Record(t.String(), t.String()),
  boardSilentSeconds: t.Number({ exclusiveMinimum: 0 }),
  units: t.Object({ temperature: t.String(), pressure: t.String(), concentration: t.String(), flow: t.String() }),
  allowUnauthenticated: t.Boolean(),
  maxStreamsPerKey: t.Integer({ minimum: 0 }),
  maxBodyBytes: t.Integer({ minimum: 256 }),
  sseKeepAliveSeconds: t.Number({ exclusiveMinimum: 0 }),
  logLevel: t.Union([t.Literal("debug"), t.Literal("info"), t.Literal("warn"), t.Literal("error")]),
  logFormat: t.Union([t.Literal("text"), t.Literal("json")]),
  dataDir: t.String(),
  storage: t.Union([t.Literal("sqlite"), t.Literal("memory")]),
  flushIntervalMs: t.Integer({ minimum: 0 }),
  retentionDays: t.Number({ exclusiveMinimum: 0 }),
  replayMax: t.Integer({ minimum: 1 }),
  metricsPublic: t.Boolean(),
  limits: t.Record(t.String(), t.Object({ min: t.Optional(t.Number()), max: t.Optional(t.Number()) })),
  ratePerDevice: t.Number({ minimum: 0 }),
  ratePerKey: t.Number({ minimum: 0 }),
  maxStreams: t.Integer({ minimum: 0 }),
  wsMessageRate: t.Number({ minimum: 0 }),
  slowClientBytes: t.Integer({ minimum: 1024 }),
  tlsCertFile: t.String(),
  tlsKeyFile: t.String(),
  plainPort: t.Union([t.Integer({ minimum: 0, maximum: 65535 }), t.Null()]),
  corsOrigins: t.Array(t.String()),
  recipesFile: t.String(),
  mqttUrl: t.String(),
  mqttUsername: t.String(),
  mqttPassword: t.String(),
  mqttPrefix: t.String(),
  mqttQos: t.Union([t.Literal(0), t.Literal(1), t.Literal(2)]),
  mqttIngest: t.Boolean(),
  mqttQueueMax: t.Integer({ minimum: 1 }),
  webhookUrls: t.Array(t.String()),
  webhookSecret: t.String(),
  webhookRetries: t.Integer({ minimum: 0 }),
  webhookBackoffMs: t.Integer({ minimum: 1 }),
  webhookQueueMax: t.Integer({ minimum: 1 }),
  busUrl: t.String(),
  busNamespace: t.String(),
  databaseUrl: t.String(),
  instanceId: t.String(),
});
export type Config = typeof Config.static;

export class ConfigError extends Error {}

/** One entry per variable: its default (as written in .env.example) and what it means. */
export const VARIABLES = {
  PORT: { default: "8000", help: "TCP port for HTTP, WebSocket and SSE" },
  HOST: { default: "0.0.0.0", help: "address to listen on (0.0.0.0 = every interface)" },
  TIMEZONE: { default: "", help: "IANA zone for timestamps, e.g. America/Sao_Paulo (empty = the host's zone)" },
  CIP_GAP_MINUTES: { default: "10", help: "a reading this many minutes (decimals allowed) after the device's previous one opens a new cleaning cycle" },
  DEFAULT_DEVICE: { default: "default", help: "device id used by the original paths /sensor_data and /api/sensor_data" },
  API_KEY: { default: "", help: "comma-separated keys accepted for ingest (X-API-Key header)" },
  API_KEY_WS: { default: "", help: "comma-separated keys accepted for reading data, WebSocket and SSE (X-API-Key header or api-key query)" },
  ADMIN_KEY: { default: "", help: "comma-separated keys for the admin API (device keys, device addresses); empty = this machine only" },
  INGEST_NETWORKS: { default: "", help: "comma-separated networks (CIDR, e.g. 10.0.5.0/24) whose boards may post without a key" },
  DEVICE_ADDRESSES: { default: "", help: "comma-separated address=device pairs naming the device of a board that posts to /sensor_data (e.g. 10.0.5.21=line-1)" },
  BOARD_SILENT_SECONDS: { default: "30", help: "no reading for this long while a device's cycle is open raises a board.silent alarm" },
  UNIT_TEMPERATURE: { default: "°C", help: "unit of temperature shown on the dashboard, reports, CSV headers, MQTT and the API docs" },
  UNIT_PRESSURE: { default: "bar", help: "unit of pressure (e.g. bar, hPa, kPa, psi)" },
  UNIT_CONCENTRATION: { default: "%", help: "unit of concentration (e.g. %, mS/cm)" },
  UNIT_FLOW: { default: "m³/h", help: "unit of flow (e.g. m³/h, L/min)" },
  ALLOW_UNAUTHENTICATED: { default: "false", help: "true serves roles that have no key to every client; otherwise they answer only this machine (loopback)" },
  MAX_WS_CONNECTIONS_PER_KEY: { default: "10", help: "live streams (WebSocket + SSE) allowed per key; 0 = unlimited" },
  MAX_BODY_BYTES: { default: "262144", help: "largest request body accepted (fits a 1,000-reading batch); larger gets 413" },
  SSE_KEEPALIVE_SECONDS: { default: "15", help: "seconds between keep-alive comments on an idle SSE stream" },
  LOG_LEVEL: { default: "info", help: "debug, info, warn or error" },
  LOG_FORMAT: { default: "text", help: "text (one readable line per event) or json (one JSON object per line)" },
  DATA_DIR: { default: "./data", help: "folder for the embedded database (relative to the working directory)" },
  STORAGE: { default: "sqlite", help: "sqlite (history in DATA_DIR, survives restarts) or memory (latest values only, nothing on disk)" },
  FLUSH_INTERVAL_MS: { default: "20", help: "readings are written to disk in batches at least this often; 0 = before each is acknowledged" },
  RETENTION_DAYS: { default: "90", help: "history older than this many days is deleted (checked hourly)" },
  REPLAY_MAX: { default: "100000", help: "most events replayed to a client that reconnects with its last seq (STORAGE=memory: events kept for it)" },
  METRICS_PUBLIC: { default: "false", help: "true serves /metrics without a key; otherwise it needs a read key (API_KEY_WS)" },
  LIMIT_TEMPERATURE: { default: "", help: "plausible range min..max (e.g. -20..150); a reading outside gets 422 (empty = any finite number)" },
  LIMIT_PRESSURE: { default: "", help: "plausible range min..max for pressure (empty = any finite number)" },
  LIMIT_CONCENTRATION: { default: "", help: "plausible range min..max for concentration (empty = any finite number)" },
  LIMIT_FLOW: { default: "", help: "plausible range min..max for flow (empty = any finite number)" },
  RATE_LIMIT_PER_DEVICE: { default: "50", help: "ingest requests per second per device before 429 (0 = no limit)" },
  RATE_LIMIT_PER_KEY: { default: "500", help: "ingest requests per second per ingest key before 429 (0 = no limit)" },
  MAX_STREAMS: { default: "10000", help: "live WebSocket + SSE streams in all (0 = no limit)" },
  WS_MESSAGE_RATE: { default: "20", help: "messages per second a WebSocket client may send before it gets error frames (0 = no limit)" },
  SLOW_CLIENT_BYTES: { default: "1048576", help: "a subscriber with this much unsent data is closed (1013) so it cannot hold up anyone" },
  TLS_CERT_FILE: { default: "", help: "PEM certificate: serve HTTPS/WSS on PORT (with TLS_KEY_FILE)" },
  TLS_KEY_FILE: { default: "", help: "PEM private key for TLS_CERT_FILE" },
  PLAIN_PORT: { default: "", help: "with TLS on, also serve plain HTTP on this port for boards that cannot do TLS (empty = none)" },
  RECIPES_FILE: { default: "", help: "TOML or JSON file of cleaning recipes: turns on phases, live alarms and cycle reports (sensorflow recipes --example)" },
  MQTT_URL: { default: "", help: "mqtt://host:1883 (or mqtts://): publish readings, cycles and alarms to the plant's broker (empty = off)" },
  MQTT_USERNAME: { default: "", help: "broker user name, if it needs one" },
  MQTT_PASSWORD: { default: "", help: "broker password, if it needs one" },
  MQTT_PREFIX: { default: "sensorflow", help: "first level of every MQTT topic: <prefix>/<device>/reading" },
  MQTT_QOS: { default: "1", help: "MQTT quality of service for what SensorFlow publishes: 0, 1 or 2" },
  MQTT_INGEST: { default: "false", help: "true also takes readings published on <prefix>/<device>/ingest" },
  MQTT_QUEUE_MAX: { default: "10000", help: "messages kept while the broker is away; older ones beyond this are dropped (and counted)" },
  WEBHOOK_URLS: { default: "", help: "comma-separated URLs that get a JSON POST when an alarm is raised or cleared and when a cycle's verdict is known" },
  WEBHOOK_SECRET: { default: "", help: "signs each webhook body: X-SensorFlow-Signature: sha256=<HMAC-SHA256 hex>" },
  WEBHOOK_RETRIES: { default: "5", help: "retries after a failed webhook delivery, with exponential backoff" },
  WEBHOOK_BACKOFF_MS: { default: "1000", help: "wait before the first retry; doubles with each one" },
  WEBHOOK_QUEUE_MAX: { default: "1000", help: "webhook deliveries waiting at most; older ones beyond this are dropped (and counted)" },
  BUS_URL: { default: "", help: "redis://host:6379: several instances share one stream, seq and cycle numbering through Redis (empty = one process, no Redis)" },
  BUS_NAMESPACE: { default: "sensorflow", help: "prefix of every Redis key, so several plants can share one Redis" },
  DATABASE_URL: { default: "", help: "postgres://user@host:5432/db: history in PostgreSQL, shared by every instance (empty = STORAGE decides)" },
  INSTANCE_ID: { default: "", help: "name of this instance in logs, /health and /metrics (empty = host name and process id)" },
  CORS_ORIGINS: { default: "", help: "comma-separated browser origins allowed to call the API (* = any; empty = same origin only)" },
} as const;
export type Variable = keyof typeof VARIABLES;
export type Env = Record<string, string | undefined>;

function hostZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** Reads and validates every variable; the first bad one stops start-up with a sentence naming it. */
export function loadConfig(env: Env): Config {
  const raw = (name: Variable): string => {
    const value = env[name]?.trim();
    return value === undefined || value === "" ? VARIABLES[name].default : value;
  };
  const fail = (name: Variable, expected: string): never => {
    throw new ConfigError(`${name} must be ${expected} (got "${env[name]}").`);
  };
  const integer = (name: Variable, min: number, max: number): number => {
    const text = raw(name);
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < min || value > max) fail(name, `a whole number from ${min} to ${max}`);
    return value;
  };
  const positive = (name: Variable): number => {
    const value = Number(raw(name));
    if (!Number.isFinite(value) || value <= 0) fail(name, "a number greater than 0 (decimals allowed)");
    return value;
  };
  const boolean = (name: Variable): boolean => {
    const text = raw(name).toLowerCase();
    if (["true", "1", "yes", "on"].includes(text)) return true;
    if (["false", "0", "no", "off"].includes(text)) return false;
    return fail(name, "true or false");
  };
  const oneOf = <const T extends string>(name: Variable, options: readonly T[]): T => {
    const text = raw(name).toLowerCase();
    const found = options.find((option) => option === text);
    return found ?? fail(name, `one of ${options.join(", ")}`);
  };
  const keys = (name: Variable): string[] =>
    raw(name)
      .split(",")
      .map((key) => key.trim())
      .filter((key) => key !== "");

  const nonNegative = (name: Variable): number => {
    const value = Number(raw(name));
    if (raw(name) === "" || !Number.isFinite(value) || value < 0) fail(name, "a number, 0 or more (0 = no limit)");
    return value;
  };
  const range = (name: Variable): { min?: number; max?: number } | undefined => {
    const text = raw(name);
    if (text === "") return undefined;
    const match = text.match(/^\s*(-?[\d.]+)?\s*\.\.\s*(-?[\d.]+)?\s*$/);
    const min = match?.[1] === undefined ? undefined : Number(match[1]);
    const max = match?.[2] === undefined ? undefined : Number(match[2]);
    if (!match || (min === undefined && max === undefined) || Number.isNaN(min) || Number.isNaN(max) || (min !== undefined && max !== undefined && min > max)) {
      fail(name, "a range min..max such as -20..150 (either end may be left out)");
    }
    return { ...(min !== undefined && { min }), ...(max !== undefined && { max }) };
  };
  const limits = () => {
    const out: Config["limits"] = {};
    for (const metric of ["temperature", "pressure", "concentration", "flow"] as const) {
      const r = range(`LIMIT_${metric.toUpperCase()}` as Variable);
      if (r) out[metric] = r;
    }
    return out;
  };
  const mqttUrl = () => {
    const text = raw("MQTT_URL");
    if (text !== "" && !/^(mqtts?|wss?|tcp|ssl):\/\/[^/]+/.test(text)) fail("MQTT_URL", "a broker URL such as mqtt://127.0.0.1:1883 or mqtts://broker:8883");
    return text;
  };
  const webhookUrls = () => {
    const urls = keys("WEBHOOK_URLS");
    for (const url of urls) if (!/^https?:\/\/[^/]+/.test(url)) fail("WEBHOOK_URLS", "http:// or https:// URLs separated by commas");
    return urls;
  };
  const tls = () => {
    const cert = raw("TLS_CERT_FILE");
    const key = raw("TLS_KEY_FILE");
    if ((cert === "") !== (key === "")) fail(cert === "" ? "TLS_CERT_FILE" : "TLS_KEY_FILE", "set together with " + (cert === "" ? "TLS_KEY_FILE" : "TLS_CERT_FILE"));
    for (const [name, path] of [["TLS_CERT_FILE", cert], ["TLS_KEY_FILE", key]] as const) {
      if (path !== "" && !existsSync(path)) fail(name, "a readable PEM file");
    }
    return { tlsCertFile: cert, tlsKeyFile: key };
  };

  const scaleOut = () => {
    const busUrl = raw("BUS_URL");
    if (busUrl !== "" && !/^rediss?:\/\/[^/]+/.test(busUrl)) fail("BUS_URL", "a Redis URL such as redis://127.0.0.1:6379");
    const databaseUrl = raw("DATABASE_URL");
    if (databaseUrl !== "" && !/^postgres(ql)?:\/\/[^/]+/.test(databaseUrl)) fail("DATABASE_URL", "a PostgreSQL URL such as postgres://sensorflow@127.0.0.1:5432/sensorflow");
    const busNamespace = raw("BUS_NAMESPACE");
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(busNamespace)) fail("BUS_NAMESPACE", "1-64 letters, digits, '_', '.' or '-'");
    // Live alarms keep per-device state in one process; with several instances they would each see part of a cycle.
    if (busUrl !== "" && databaseUrl === "" && raw("STORAGE").toLowerCase() !== "memory") {
      fail("DATABASE_URL", "set when BUS_URL is set (instances share history in PostgreSQL), or STORAGE=memory for live data only");
    }
    if (busUrl !== "" && raw("RECIPES_FILE") !== "") fail("RECIPES_FILE", "empty when BUS_URL is set: cycle validation runs in a single instance for now");
    return { busUrl, busNamespace, databaseUrl, instanceId: raw("INSTANCE_ID") || `${hostname()}-${process.pid}` };
  };

  const networks = () => {
    const list = keys("INGEST_NETWORKS");
    for (const cidr of list) if (!parseNetwork(cidr)) fail("INGEST_NETWORKS", "networks in CIDR form separated by commas, such as 10.0.5.0/24,192.168.1.7/32");
    return list;
  };
  const addresses = () => {
    const out: Record<string, string> = {};
    for (const pair of keys("DEVICE_ADDRESSES")) {
      const [address, device, extra] = pair.split("=").map((p) => p.trim());
      if (extra !== undefined || !address || !isIP(address) || !device || !DEVICE_ID.test(device)) {
        fail("DEVICE_ADDRESSES", "address=device pairs separated by commas, such as 10.0.5.21=line-1,10.0.5.22=line-2");
      }
      out[canonicalAddress(address!)] = device!;
    }
    return out;
  };
  const unit = (name: Variable) => {
    const text = raw(name);
    if (text.length > 16 || /[\u0000-\u001f,"<>]/.test(text)) fail(name, "a short unit label such as bar, hPa or L/min (at most 16 characters)");
    return text;
  };

  const timezone = raw("TIMEZONE") || hostZone();
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
  } catch {
    fail("TIMEZONE", "an IANA time zone name such as UTC or America/Sao_Paulo");
  }
  const defaultDevice = raw("DEFAULT_DEVICE");
  if (!DEVICE_ID.test(defaultDevice)) fail("DEFAULT_DEVICE", "1-64 letters, digits, '_', '.' or '-', starting with a letter or digit");

  return {
    port: integer("PORT", 0, 65535),
    host: raw("HOST"),
    timezone,
    cipGapMinutes: positive("CIP_GAP_MINUTES"),
    defaultDevice,
    apiKeys: keys("API_KEY"),
    readKeys: keys("API_KEY_WS"),
    adminKeys: keys("ADMIN_KEY"),
    ingestNetworks: networks(),
    deviceAddresses: addresses(),
    boardSilentSeconds: positive("BOARD_SILENT_SECONDS"),
    units: { temperature: unit("UNIT_TEMPERATURE"), pressure: unit("UNIT_PRESSURE"), concentration: unit("UNIT_CONCENTRATION"), flow: unit("UNIT_FLOW") },
    allowUnauthenticated: boolean("ALLOW_UNAUTHENTICATED"),
    maxStreamsPerKey: integer("MAX_WS_CONNECTIONS_PER_KEY", 0, 1_000_000),
    maxBodyBytes: integer("MAX_BODY_BYTES", 256, 64 * 1024 * 1024),
    sseKeepAliveSeconds: positive("SSE_KEEPALIVE_SECONDS"),
    logLevel: oneOf("LOG_LEVEL", ["debug", "info", "warn", "error"] as const),
    logFormat: oneOf("LOG_FORMAT", ["text", "json"] as const),
    dataDir: raw("DATA_DIR"),
    storage: oneOf("STORAGE", ["sqlite", "memory"] as const),
    flushIntervalMs: integer("FLUSH_INTERVAL_MS", 0, 10_000),
    retentionDays: positive("RETENTION_DAYS"),
    replayMax: integer("REPLAY_MAX", 1, 10_000_000),
    metricsPublic: boolean("METRICS_PUBLIC"),
    limits: limits(),
    ratePerDevice: nonNegative("RATE_LIMIT_PER_DEVICE"),
    ratePerKey: nonNegative("RATE_LIMIT_PER_KEY"),
    maxStreams: integer("MAX_STREAMS", 0, 10_000_000),
    wsMessageRate: nonNegative("WS_MESSAGE_RATE"),
    slowClientBytes: integer("SLOW_CLIENT_BYTES", 1024, 1 << 30),
    ...tls(),
    plainPort: raw("PLAIN_PORT") === "" ? null : integer("PLAIN_PORT", 0, 65535),
    corsOrigins: keys("CORS_ORIGINS"),
    recipesFile: raw("RECIPES_FILE"),
    mqttUrl: mqttUrl(),
    mqttUsername: raw("MQTT_USERNAME"),
    mqttPassword: raw("MQTT_PASSWORD"),
    mqttPrefix: raw("MQTT_PREFIX").replace(/\/+$/, ""),
    mqttQos: integer("MQTT_QOS", 0, 2) as 0 | 1 | 2,
    mqttIngest: boolean("MQTT_INGEST"),
    mqttQueueMax: integer("MQTT_QUEUE_MAX", 1, 10_000_000),
    webhookUrls: webhookUrls(),
    webhookSecret: raw("WEBHOOK_SECRET"),
    webhookRetries: integer("WEBHOOK_RETRIES", 0, 100),
    webhookBackoffMs: integer("WEBHOOK_BACKOFF_MS", 1, 3_600_000),
    webhookQueueMax: integer("WEBHOOK_QUEUE_MAX", 1, 10_000_000),
    ...scaleOut(),
  };
}

/** Device ids as DESIGN §3 fixes them: safe in paths, topics and file names. */
export const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
