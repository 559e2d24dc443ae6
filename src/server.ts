// `sensorflow serve`: listen, say how the server is reachable, and stop cleanly on SIGINT/SIGTERM.
import { createApp } from "./app";
import type { Config } from "./config";
import { COMMIT } from "./build-info";

const AUTH_MODE = { key: "key required", open: "OPEN to anyone", loopback: "this machine only" } as const;

export function serve(config: Config): Promise<number> {
  const { app, services, shutdown } = createApp(config);
  const { log, auth } = services;
  // Signal handlers go in before the port opens, so a stop that follows the start-up line is clean.
  const { promise: stopped, resolve } = Promise.withResolvers<number>();
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal} received, shutting down`);
    const clean = await shutdown();
    log.info(clean ? "stopped" : "stopped; some connections had to be cut");
    resolve(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));

  try {
    // reusePort off: a second copy on the same port must fail, not silently split the state.
    app.listen({ port: config.port, hostname: config.host, reusePort: false });
  } catch (error) {
    log.error(`cannot listen on ${config.host}:${config.port}: ${error instanceof Error ? error.message : error}`);
    return Promise.resolve(1);
  }

  log.info(`SensorFlow ${services.version} listening on http://${config.host}:${app.server?.port}`, {
    ingest: AUTH_MODE[auth.mode("ingest")],
    read: AUTH_MODE[auth.mode("read")],
    timezone: config.timezone,
    cip_gap_minutes: config.cipGapMinutes,
    default_device: config.defaultDevice,
    commit: COMMIT,
  });
  if (auth.mode("ingest") === "loopback") {
    log.warn(
      "no API_KEY is set: boards on the network cannot post yet. Set API_KEY=<key> (and API_KEY_WS=<key> for dashboards) in .env, or ALLOW_UNAUTHENTICATED=true on a closed network.",
    );
  }
  return stopped;
}
