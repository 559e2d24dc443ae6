// History in PostgreSQL (DATABASE_URL), through Bun's built-in client (Bun.sql), so several instances
// share one history. Same tables and same write-behind as the SQLite store: `record` queues, a batch
// is written in one transaction every FLUSH_INTERVAL_MS. Migrations run at start-up under an
// advisory lock, so instances starting together do not race.
import { SQL } from "bun";
import type { Recorded } from "../events";
import { summarise, type CycleState } from "../modules/cycles/service";
import type { CycleSummary } from "../modules/cycles/model";
import type { StoredReading } from "../modules/readings/model";
import { createMemoryStore } from "./memory";
import { faultsColumn, readingOf, runningStatsOf, statsColumns, statsOf, type ReadingRow, type StatsRow } from "./rows";
import type { Bucket, ReadingQuery, Restored, Store } from "./types";

/** Each entry runs once, in order; the applied count is kept in schema_version. Append, never edit. */
const MIGRATIONS = [
  `CREATE TABLE readings (
     seq BIGINT PRIMARY KEY,
     device TEXT NOT NULL,
     ts_ms BIGINT NOT NULL,
     cip_id INTEGER NOT NULL,
     temperature DOUBLE PRECISION NOT NULL,
     pressure DOUBLE PRECISION NOT NULL,
     concentration DOUBLE PRECISION NOT NULL,
     flow DOUBLE PRECISION NOT NULL,
     timestamp TEXT NOT NULL,
     phase TEXT,
     phase_source TEXT
   );
   CREATE INDEX readings_by_time ON readings (device, ts_ms);
   CREATE INDEX readings_by_cycle ON readings (device, cip_id);
   CREATE TABLE events (seq BIGINT PRIMARY KEY, ts_ms BIGINT NOT NULL, type TEXT NOT NULL, device TEXT NOT NULL, frame TEXT NOT NULL);
   CREATE INDEX events_by_device ON events (device, type, ts_ms);
   CREATE TABLE cycles (
     device TEXT NOT NULL,
     cip_id INTEGER NOT NULL,
     started_ms BIGINT NOT NULL,
     last_ms BIGINT NOT NULL,
     readings INTEGER NOT NULL,
     closed BOOLEAN NOT NULL DEFAULT false,
     summary TEXT,
     verdict TEXT,
     PRIMARY KEY (device, cip_id)
   );
   CREATE TABLE devices (device TEXT PRIMARY KEY, seq BIGINT NOT NULL, latest TEXT NOT NULL);
   CREATE TABLE meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
   CREATE TABLE device_recipes (device TEXT PRIMARY KEY, recipe TEXT);`,
  // A failed sensor's value is kept as NULL; admin records (device keys, device addresses).
  `ALTER TABLE readings ALTER COLUMN temperature DROP NOT NULL, ALTER COLUMN pressure DROP NOT NULL,
     ALTER COLUMN concentration DROP NOT NULL, ALTER COLUMN flow DROP NOT NULL, ADD COLUMN faults TEXT;
   CREATE TABLE settings (kind TEXT NOT NULL, id TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, id));`,
];

const READING_COLUMNS =
  "temperature, pressure, concentration, flow, timestamp, cip_id, device, seq::float8 AS seq, phase, phase_source, faults";

type CycleRow = { device: string; cip_id: number; started_ms: number; last_ms: number; readings: number; closed: boolean; summary: string | null; verdict: string | null };

const CYCLE_COLUMNS = "device, cip_id, started_ms::float8 AS started_ms, last_ms::float8 AS last_ms, readings, closed, summary, verdict";

export interface PostgresOptions {
  url: string;
  flushIntervalMs: number;
  flushMaxRows: number;
  /** Events kept in memory for replay to reconnecting clients (0: replay is served elsewhere, e.g. the Redis stream). */
  replayMax: number;
  iso(ms: number): string;
  onError(error: unknown): void;
}

async function migrate(sql: SQL): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(4242001)`;
    await tx`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`;
    const [row] = (await tx`SELECT version FROM schema_version`) as { version: number }[];
    const applied = row?.version ?? 0;
    for (let i = applied; i < MIGRATIONS.length; i++) await tx.unsafe(MIGRATIONS[i]!);
    if (!row) await tx`INSERT INTO schema_version (version) VALUES (${MIGRATIONS.length})`;
    else if (applied < MIGRATIONS.length) await tx`UPDATE schema_version SET version = ${MIGRATIONS.length}`;
  });
}

export async function createPostgresStore(options: PostgresOptions): Promise<Store> {
  const sql = new SQL(options.url, { max: 8, idleTimeout: 30 });
  await migrate(sql);
  const ring = options.replayMax > 0 ? createMemoryStore(options.replayMax) : undefined;

  let queue: Recorded[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  // One batch at a time, in order: a later batch never overtakes an earlier one.
  let writing: Promise<void> = Promise.resolve();
  let sizeCache = { bytes: 0, oldestMs: null as number | null };

  const writeBatch = (batch: Recorded[]) =>
    sql.begin(async (tx) => {
      const readings: Record<string, unknown>[] = [];
      const events: Record<string, unknown>[] = [];
      const latest = new Map<string, { seq: number; json: string }>();
      const cycles = new Map<string, { device: string; state: CycleState; summary?: string }>();
      for (const event of batch) {
        const r = event.reading;
        if (r) {
          readings.push({
            seq: r.seq, device: r.device, ts_ms: event.ms, cip_id: r.cip_id, temperature: r.temperature, pressure: r.pressure,
            concentration: r.concentration, flow: r.flow, timestamp: r.timestamp, phase: r.phase ?? null, phase_source: r.phase_source ?? null, faults: faultsColumn(r),
          });
          latest.set(r.device, { seq: r.seq, json: event.json });
        } else events.push({ seq: event.seq, ts_ms: event.ms, type: event.type, device: event.device, frame: event.frame });
        if (event.cycle) {
          const key = `${event.device}\u0000${event.cycle.cipId}`;
          const summary = event.cycle.summary ? JSON.stringify({ ...event.cycle.summary, seq: undefined }) : cycles.get(key)?.summary;
          // A copy: the live state goes on changing while the batch waits.
          cycles.set(key, { device: event.device, state: { ...event.cycle.state }, summary });
        }
      }
      // ON CONFLICT DO NOTHING: a reading re-sent after a lost Redis reply is kept once.
      for (let i = 0; i < readings.length; i += 1000) await tx`INSERT INTO readings ${tx(readings.slice(i, i + 1000))} ON CONFLICT DO NOTHING`;
      for (let i = 0; i < events.length; i += 1000) await tx`INSERT INTO events ${tx(events.slice(i, i + 1000))} ON CONFLICT DO NOTHING`;
      for (const [device, { seq, json }] of latest) {
        await tx`INSERT INTO devices (device, seq, latest) VALUES (${device}, ${seq}, ${json})
                 ON CONFLICT (device) DO UPDATE SET seq = excluded.seq, latest = excluded.latest WHERE devices.seq < excluded.seq`;
      }
      // Several instances write the same cycle: each keeps the furthest it has seen.
      for (const { device, state, summary } of cycles.values()) {
        await tx`INSERT INTO cycles (device, cip_id, started_ms, last_ms, readings, closed, summary)
                 VALUES (${device}, ${state.cipId}, ${state.startedMs}, ${state.lastMs}, ${state.readings}, ${state.closed}, ${summary ?? null})
                 ON CONFLICT (device, cip_id) DO UPDATE SET last_ms = GREATEST(cycles.last_ms, excluded.last_ms),
                   readings = GREATEST(cycles.readings, excluded.readings), closed = cycles.closed OR excluded.closed,
                   summary = COALESCE(excluded.summary, cycles.summary)`;
      }
      for (const event of batch) {
        if (event.verdict) await tx`UPDATE cycles SET verdict = ${event.verdict.verdict} WHERE device = ${event.device} AND cip_id = ${event.verdict.cipId}`;
      }
      const last = batch[batch.length - 1]!.seq;
      await tx`INSERT INTO meta (key, value) VALUES ('seq', ${last}) ON CONFLICT (key) DO UPDATE SET value = GREATEST(meta.value, excluded.value)`;
    });

  const flush = (): Promise<void> => {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    writing = writing.then(async () => {
      if (queue.length === 0) return;
      const batch = queue;
      queue = [];
      try {
        await writeBatch(batch);
      } catch (error) {
        // Keep the batch: it is retried with the next one rather than dropped.
        queue = batch.concat(queue);
        options.onError(error);
        timer ??= setTimeout(() => void flush(), Math.max(options.flushIntervalMs, 1000));
      }
    });
    return writing;
  };

  const stats = async (device: string, cipId: number) =>
    ((await sql.unsafe(`SELECT COUNT(*)::int AS count, ${statsColumns} FROM readings WHERE device = $1 AND cip_id = $2`, [device, cipId])) as StatsRow[])[0]!;

  const summaryOf = async (row: CycleRow): Promise<CycleSummary> => {
    if (row.closed && row.summary) {
      const summary = JSON.parse(row.summary) as CycleSummary;
      return row.verdict ? { ...summary, verdict: row.verdict as CycleSummary["verdict"] } : summary;
    }
    const cycle = { cipId: row.cip_id, startedMs: row.started_ms, lastMs: row.last_ms, readings: row.readings, closed: row.closed };
    return summarise(row.device, cycle, options.iso, statsOf(await stats(row.device, row.cip_id)));
  };

  const where = (q: Omit<ReadingQuery, "order" | "limit">, order: "asc" | "desc" = "asc") => {
    const params: (string | number)[] = [q.device];
    const clauses = ["device = $1"];
    const add = (clause: string, value: string | number) => {
      params.push(value);
      clauses.push(clause.replace("?", `$${params.length}`));
    };
    if (q.fromMs !== undefined) add("ts_ms >= ?", q.fromMs);
    if (q.toMs !== undefined) add("ts_ms < ?", q.toMs);
    if (q.cipId !== undefined) add("cip_id = ?", q.cipId);
    if (q.after !== undefined) add(order === "asc" ? "seq > ?" : "seq < ?", q.after);
    return { text: clauses.join(" AND "), params };
  };

  const refreshSize = async () => {
    try {
      const [db] = (await sql`SELECT pg_database_size(current_database())::float8 AS bytes`) as { bytes: number }[];
      const [oldest] = (await sql`SELECT ts_ms::float8 AS ms FROM readings ORDER BY seq LIMIT 1`) as { ms: number }[];
      sizeCache = { bytes: db!.bytes, oldestMs: oldest?.ms ?? null };
    } catch (error) {
      options.onError(error);
    }
  };
  await refreshSize();
  const sizeTimer = setInterval(() => void refreshSize(), 60_000);
  sizeTimer.unref?.();

  return {
    kind: "postgres",
    history: true,
    shared: true,
    async restore(): Promise<Restored> {
      const [meta] = (await sql`SELECT GREATEST((SELECT value FROM meta WHERE key = 'seq'), (SELECT MAX(seq) FROM events), (SELECT MAX(seq) FROM readings))::float8 AS seq`) as { seq: number | null }[];
      const rows = (await sql.unsafe(
        `SELECT ${CYCLE_COLUMNS} FROM cycles c
         WHERE cip_id = (SELECT MAX(cip_id) FROM cycles m WHERE m.device = c.device)`,
      )) as CycleRow[];
      const latest = new Map(((await sql`SELECT device, latest FROM devices`) as { device: string; latest: string }[]).map((r) => [r.device, r.latest]));
      const devices: Restored["devices"] = [];
      for (const row of rows) {
        const json = latest.get(row.device);
        if (!json) continue;
        const s = await stats(row.device, row.cip_id);
        const cycleStats = runningStatsOf(s);
        devices.push({
          device: row.device,
          json,
          latest: JSON.parse(json) as StoredReading,
          cycle: { cipId: row.cip_id, startedMs: row.started_ms, lastMs: row.last_ms, readings: s.count, closed: row.closed, stats: cycleStats },
        });
      }
      if (ring) {
        // The replay window comes back too, so a client can resume across a restart.
        const recent = (await sql.unsafe(
          `(SELECT seq::float8 AS seq, 'reading' AS type, NULL AS frame, ts_ms::float8 AS ts_ms, ${READING_COLUMNS.replace(", seq::float8 AS seq", "")} FROM readings ORDER BY seq DESC LIMIT $1)
           UNION ALL (SELECT seq::float8, type, frame, ts_ms::float8, NULL, NULL, NULL, NULL, NULL, NULL, device, NULL, NULL, NULL FROM events ORDER BY seq DESC LIMIT $1)
           ORDER BY seq DESC LIMIT $1`,
          [options.replayMax],
        )) as (ReadingRow & { type: string; frame: string | null; ts_ms: number })[];
        for (const row of recent.reverse()) {
          const reading = row.frame === null ? readingOf(row) : undefined;
          const json = reading ? JSON.stringify(reading) : row.frame!;
          const frame = reading ? `${json.slice(0, -1)},"type":"reading"}` : row.frame!;
          ring.record({ seq: row.seq, type: row.type, device: row.device, ms: row.ts_ms, json, frame });
        }
      }
      return { seq: meta?.seq ?? 0, devices };
    },
    record(event) {
      ring?.record(event);
      queue.push(event);
      if (options.flushIntervalMs === 0 || queue.length >= options.flushMaxRows) void flush();
      else timer ??= setTimeout(() => void flush(), options.flushIntervalMs);
    },
    flush,
    since: (seq, topics, limit) => ring?.since(seq, topics, limit) ?? { events: [], oldest: null },
    async readings(q) {
      await flush();
      const { text, params } = where(q, q.order);
      const rows = (await sql.unsafe(
        `SELECT ${READING_COLUMNS} FROM readings WHERE ${text} ORDER BY seq ${q.order === "asc" ? "ASC" : "DESC"} LIMIT ${Math.floor(q.limit)}`,
        params,
      )) as ReadingRow[];
      return rows.map(readingOf);
    },
    async buckets(q, bucketMs, limit): Promise<Bucket[]> {
      await flush();
      const { text, params } = where(q);
      const size = Math.floor(bucketMs);
      const rows = (await sql.unsafe(
        `SELECT (ts_ms / ${size}) * ${size} AS start_ms, COUNT(*)::int AS count, ${statsColumns} FROM readings WHERE ${text} GROUP BY 1 ORDER BY 1 LIMIT ${Math.floor(limit)}`,
        params,
      )) as (StatsRow & { start_ms: string })[];
      return rows.map((row) => ({ startMs: Number(row.start_ms), count: row.count, stats: statsOf(row) }));
    },
    async cycles(device, limit) {
      await flush();
      const rows = (await sql.unsafe(`SELECT ${CYCLE_COLUMNS} FROM cycles WHERE device = $1 ORDER BY cip_id DESC LIMIT ${Math.floor(limit)}`, [device])) as CycleRow[];
      return Promise.all(rows.map(summaryOf));
    },
    async cycle(device, cipId) {
      await flush();
      const [row] = (await sql.unsafe(`SELECT ${CYCLE_COLUMNS} FROM cycles WHERE device = $1 AND cip_id = $2`, [device, cipId])) as CycleRow[];
      return row ? summaryOf(row) : undefined;
    },
    async events(device, typePrefix, fromMs, toMs, limit) {
      await flush();
      const rows = (await sql`SELECT frame FROM events WHERE device = ${device} AND type LIKE ${`${typePrefix}%`}
        AND ts_ms >= ${fromMs ?? 0} AND ts_ms < ${toMs ?? Number.MAX_SAFE_INTEGER} ORDER BY seq LIMIT ${limit}`) as { frame: string }[];
      return rows.map((r) => r.frame);
    },
    async settings(kind) {
      const rows = (await sql`SELECT id, value FROM settings WHERE kind = ${kind}`) as { id: string; value: string }[];
      return new Map(rows.map((r) => [r.id, r.value]));
    },
    async putSetting(kind, id, value) {
      if (value === null) await sql`DELETE FROM settings WHERE kind = ${kind} AND id = ${id}`;
      else await sql`INSERT INTO settings (kind, id, value) VALUES (${kind}, ${id}, ${value}) ON CONFLICT (kind, id) DO UPDATE SET value = excluded.value`;
    },
    async saveRecipe(device, recipe) {
      await sql`INSERT INTO device_recipes (device, recipe) VALUES (${device}, ${recipe}) ON CONFLICT (device) DO UPDATE SET recipe = excluded.recipe`;
    },
    async savedRecipes() {
      const rows = (await sql`SELECT device, recipe FROM device_recipes`) as { device: string; recipe: string | null }[];
      return Object.fromEntries(rows.map((r) => [r.device, r.recipe]));
    },
    async prune(beforeMs) {
      let removed = 0;
      for (;;) {
        const result = await sql`DELETE FROM readings WHERE seq IN (SELECT seq FROM readings WHERE ts_ms < ${beforeMs} LIMIT 5000)`;
        removed += result.count;
        if (result.count < 5000) break;
      }
      await sql`DELETE FROM cycles WHERE closed AND last_ms < ${beforeMs}`;
      await sql`DELETE FROM events WHERE ts_ms < ${beforeMs}`;
      await refreshSize();
      return removed;
    },
    size: () => sizeCache,
    async close() {
      clearInterval(sizeTimer);
      await flush();
      await sql.close();
    },
  };
}
