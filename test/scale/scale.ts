// Shared by the scale-out tests and benchmark: real Redis and PostgreSQL on loopback, a fresh
// namespace and database per run, and SensorFlow instances as separate processes.
import { RedisClient, SQL } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { INGEST_KEY, READ_KEY, spawnServer, type SseClient, type Spawned } from "../helpers";

export const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
export const PG_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** Fails with a sentence saying what to start, rather than a timeout, when a service is not running. */
export async function requireServices(redisUrl = REDIS_URL): Promise<void> {
  const redis = new RedisClient(redisUrl, { autoReconnect: false, connectionTimeout: 2000 });
  try {
    await redis.connect();
    await redis.send("PING", []);
  } catch {
    throw new Error(`Redis is not reachable at ${redisUrl}; start it (bash .ci/run starts it) or set TEST_REDIS_URL`);
  } finally {
    redis.close();
  }
  const sql = new SQL(PG_URL, { max: 1, connectionTimeout: 3 });
  try {
    await sql`SELECT 1`;
  } catch {
    throw new Error(`PostgreSQL is not reachable at ${PG_URL}; start it (bash .ci/run starts it) or set TEST_DATABASE_URL`);
  } finally {
    await sql.close();
  }
}

export interface Deployment {
  namespace: string;
  databaseUrl: string;
  instances: Spawned[];
  env(name: string): Record<string, string>;
  start(name: string, extra?: Record<string, string>): Promise<Spawned>;
  destroy(): Promise<void>;
}

/** A fresh PostgreSQL database and Redis namespace; instances started with `start` share both. */
export async function createDeployment(options: { redisUrl?: string; env?: Record<string, string> } = {}): Promise<Deployment> {
  const redisUrl = options.redisUrl ?? REDIS_URL;
  const id = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const namespace = `test-${id}`;
  const database = `sensorflow_${id}`;
  const admin = new SQL(PG_URL, { max: 1 });
  await admin.unsafe(`CREATE DATABASE ${database}`);
  const databaseUrl = PG_URL.replace(/\/[^/]*$/, `/${database}`);
  const dirs: string[] = [];
  const instances: Spawned[] = [];
  const env = (name: string): Record<string, string> => {
    const dir = mkdtempSync(join(tmpdir(), `sensorflow-${name}-`));
    dirs.push(dir);
    return {
      BUS_URL: redisUrl,
      BUS_NAMESPACE: namespace,
      DATABASE_URL: databaseUrl,
      DATA_DIR: dir,
      INSTANCE_ID: name,
      API_KEY: INGEST_KEY,
      API_KEY_WS: READ_KEY,
      TIMEZONE: "America/Sao_Paulo",
      RATE_LIMIT_PER_DEVICE: "0",
      RATE_LIMIT_PER_KEY: "0",
      MAX_WS_CONNECTIONS_PER_KEY: "0",
      ...options.env,
    };
  };
  return {
    namespace,
    databaseUrl,
    instances,
    env,
    async start(name, extra = {}) {
      const instance = await spawnServer({ ...env(name), ...extra });
      instances.push(instance);
      return instance;
    },
    async destroy() {
      await Promise.all(instances.map((i) => (i.proc.exitCode === null ? i.stop("SIGKILL") : i.exited)));
      await admin.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.close();
      const redis = new RedisClient(redisUrl, { autoReconnect: false });
      try {
        await redis.connect();
        const found = (await redis.send("KEYS", [`{${namespace}}:*`])) as string[];
        if (found.length > 0) await redis.send("DEL", found);
      } catch {
        // a test's own Redis may be gone already
      } finally {
        redis.close();
      }
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The ids (seq) of the next `count` reading events on an SSE stream (fewer if 15 s pass). */
export async function sseReadingIds(sse: SseClient, count: number): Promise<number[]> {
  const ids: number[] = [];
  const deadline = Date.now() + 15_000;
  while (ids.length < count && Date.now() < deadline) {
    const event = await sse.nextEvent(Math.max(1, deadline - Date.now())).catch(() => null);
    if (event?.event === "reading") ids.push(Number(event.id));
  }
  return ids;
}
