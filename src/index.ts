// Entry point: read config, listen, handle signals. Everything else is in createApp.
import { createApp } from "./app";
import { ConfigError, loadConfig } from "./config";

let config;
try {
  config = loadConfig(process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`sensorflow: ${error.message}\n`);
  process.exit(2);
}

const { app, services } = createApp(config);
const { log, auth } = services;
try {
  // reusePort off: a second copy on the same port must fail, not silently split the state.
  app.listen({ port: config.port, hostname: config.host, reusePort: false });
} catch (error) {
  log.error(`cannot listen on ${config.host}:${config.port}: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
}

const AUTH_MODE = { key: "key required", open: "OPEN to anyone", loopback: "this machine only" } as const;
log.info(`SensorFlow ${services.version} listening on http://${config.host}:${app.server?.port}`, {
  ingest: AUTH_MODE[auth.mode("ingest")],
  read: AUTH_MODE[auth.mode("read")],
  timezone: config.timezone,
  cip_gap_minutes: config.cipGapMinutes,
  default_device: config.defaultDevice,
});
if (auth.mode("ingest") === "loopback") {
  log.warn("no API_KEY is set: boards on the network cannot post yet. Set API_KEY=<key> (and API_KEY_WS=<key> for dashboards) in .env, or ALLOW_UNAUTHENTICATED=true on a closed network.");
}

const shutdown = async (signal: string) => {
  log.info(`${signal} received, shutting down`);
  await app.stop();
  process.exit(0);
};
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
