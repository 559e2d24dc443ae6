// `sensorflow serve`: listen, say how the server is reachable, and stop cleanly on SIGINT/SIGTERM.
import { createApp } from "./app";
import { ConfigError, type Config } from "./config";
import { COMMIT } from "./build-info";

const AUTH_MODE = { key: "key required", open: "OPEN to anyone", loopback: "this machine only" } as const;

export async function serve(config: Config, options: { envFile?: string | null } = {}): Promise<number> {
  let created: Awaited<ReturnType<typeof createApp>>;
  try {
    created = await createApp(config);
  } catch (error) {
    // A recipes file with a mistake stops start-up with one sentence naming it; so does a database
    // that cannot be reached.
    if (error instanceof ConfigError) {
      process.stderr.write(`sensorflow: ${error.message}\n`);
      return 2;
    }
    if (config.databaseUrl && /postgres|connect|ECONNREFUSED|database/i.test(String(error))) {
      process.stderr.write(`sensorflow: DATABASE_URL could not be used: ${String(error)}\n`);
      return 2;
    }
    throw error;
  }
  const { app, services, shutdown } = created;
  const { log, auth } = services;
  // Signal handlers go in before the port opens, so a stop that follows the start-up line is clean.
  const { promise: stopped, resolve } = Promise.withResolvers<number>();
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal} received, shutting down`);
    void plain?.stop();
    const clean = await shutdown();
    log.info(clean ? "stopped" : "stopped; some connections had to be cut");
    resolve(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));

  const tls = config.tlsCertFile ? { cert: Bun.file(config.tlsCertFile), key: Bun.file(config.tlsKeyFile) } : undefined;
  let plain: ReturnType<typeof Bun.serve> | undefined;
  try {
    // reusePort off: a second copy on the same port must fail, not silently split the state.
    app.listen({ port: config.port, hostname: config.host, reusePort: false, ...(tls && { tls }) });
    if (tls && config.plainPort !== null) {
      // Boards that cannot do TLS post over plain HTTP on a port of their own; everything else is on TLS.
      plain = Bun.serve({
        port: config.plainPort,
        hostname: config.host,
        reusePort: false,
        maxRequestBodySize: Number.MAX_SAFE_INTEGER,
        fetch: (request) => app.handle(request),
      });
    }
  } catch (error) {
    log.error(`cannot listen on ${config.host}:${config.port}${config.plainPort !== null ? ` or ${config.plainPort}` : ""}: ${error instanceof Error ? error.message : error}`);
    void app.server?.stop(true);
    return Promise.resolve(1);
  }

  log.info(`SensorFlow ${services.version} listening on ${tls ? "https" : "http"}://${config.host}:${app.server?.port}`, {
    ...(plain && { plain_http_port: plain.port }),
    ingest: AUTH_MODE[auth.mode("ingest")],
    read: AUTH_MODE[auth.mode("read")],
    timezone: config.timezone,
    cip_gap_minutes: config.cipGapMinutes,
    default_device: config.defaultDevice,
    env_file: options.envFile ?? "none",
    commit: COMMIT,
  });
  if (auth.mode("ingest") === "loopback") {
    log.warn(
      "no API_KEY is set: boards on the network cannot post yet. Set API_KEY=<key> (and API_KEY_WS=<key> for dashboards) in .env, or ALLOW_UNAUTHENTICATED=true on a closed network.",
    );
  }
  return stopped;
}
