// The embedded store: bun:sqlite in WAL mode, opened once. Writes are queued by `record` (the
// ingest path) and written in one transaction per batch, every FLUSH_INTERVAL_MS or every
// FLUSH_MAX_ROWS, whichever comes first; FLUSH_INTERVAL_MS=0 writes before the reading is
// acknowledged. synchronous=NORMAL: a committed batch survives a crash of the process; on power loss
// the last batches before it may be lost.
import { Database, type Statement } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Recorded } from "../events";
import { summarise, type CycleState } from "../modules/cycles/service";
import type { CycleSummary } from "../modules/cycles/model";
import type { StoredReading } from "../modules/readings/model";
import { faultsColumn, readingOf, runningStatsOf, statsColumns, statsOf, type ReadingRow, type StatsRow } from "./rows";
import type { Bucket, ReadingQuery, Replay, Restored, Store } from "./types";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS readings (
  seq INTEGER PRIMARY KEY,
  device TEXT NOT NULL,
  ts_ms INTEGER NOT NULL,
  cip_id INTEGER NOT NULL,
  temperature REAL,
  pressure REAL,
  concentration REAL,
  flow REAL,
  timestamp TEXT NOT NULL,
  phase TEXT,
  phase_source TEXT,
  faults TEXT
);
CREATE INDEX IF NOT EXISTS readings_by_time ON readings (device, ts_ms);
CREATE INDEX IF NOT EXISTS readings_by_cycle ON readings (device, cip_id);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY,
  ts_ms INTEGER NOT NULL,
  type TEXT NOT NULL,
  device TEXT NOT NULL,
  frame TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cycles (
  device TEXT NOT NULL,
  cip_id INTEGER NOT NULL,
  started_ms INTEGER NOT NULL,
  last_ms INTEGER NOT NULL,
  readings INTEGER NOT NULL,
  closed INTEGER NOT NULL DEFAULT 0,
  summary TEXT,
  PRIMARY KEY (device, cip_id)
);
CREATE TABLE IF NOT EXISTS devices (device TEXT PRIMARY KEY, latest TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS device_recipes (device TEXT PRIMARY KEY, recipe TEXT);
CREATE TABLE IF NOT EXISTS settings (kind TEXT NOT NULL, id TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, id));
`;

/**
 * Databases from before failed sensors were kept have NOT NULL metric columns; SQLite cannot drop a
 * constraint in place, so the table is rebuilt once, in one transaction.
 */
function allowMissingValues(db: Database): void {
  const columns = db.query("SELECT name, \"notnull\" AS required FROM pragma_table_info('readings')").all() as { name: string; required: number }[];
  if (!columns.some((c) => c.name === "temperature" && c.required === 1)) return;
  db.transaction(() => {
    db.exec(`CREATE TABLE readings_nullable (
      seq INTEGER PRIMARY KEY, device TEXT NOT NULL, ts_ms INTEGER NOT NULL, cip_id INTEGER NOT NULL,
      temperature REAL, pressure REAL, concentration REAL, flow REAL, timestamp TEXT NOT NULL,
      phase TEXT, phase_source TEXT, faults TEXT)`);
    db.exec(`INSERT INTO readings_nullable SELECT seq, device, ts_ms, cip_id, temperature, pressure, concentration, flow, timestamp, phase, phase_source, faults FROM readings`);
    db.exec("DROP TABLE readings");
    db.exec("ALTER TABLE readings_nullable RENAME TO readings");
    db.exec("CREATE INDEX readings_by_time ON readings (device, ts_ms)");
    db.exec("CREATE INDEX readings_by_cycle ON readings (device, cip_id)");
  })();
}

/** Columns added after the first release; added in place to an older database. */
const ADDED_COLUMNS: [table: string, column: string, type: string][] = [
  ["readings", "phase", "TEXT"],
  ["readings", "phase_source", "TEXT"],
  ["readings", "faults", "TEXT"],
  ["cycles", "verdict", "TEXT"],
];

const READING_COLUMNS = "temperature, pressure, concentration, flow, timestamp, cip_id, device, seq, phase, phase_source, faults";

type CycleRow = { device: string; cip_id: number; started_ms: number; last_ms: number; readings: number; closed: number; summary: string | null; verdict: string | null };


export interface SqliteOptions {
  path: string;
  flushIntervalMs: number;
  flushMaxRows: number;
  /** Formats a time for cycle summaries rebuilt from rows. */
  iso(ms: number): string;
  onError(error: unknown): void;
}

export function createSqliteStore(options: SqliteOptions): Store {
  if (options.path !== ":memory:") mkdirSync(dirname(options.path), { recursive: true });
  const db = new Database(options.path, { create: true, strict: true });
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;");
  db.exec(SCHEMA);
  for (const [table, column, type] of ADDED_COLUMNS) {
    const columns = db.query(`SELECT name FROM pragma_table_info('${table}')`).all() as { name: string }[];
    if (!columns.some((c) => c.name === column)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
  }
  allowMissingValues(db);

  const insertReading = db.query(
    "INSERT INTO readings (seq, device, ts_ms, cip_id, temperature, pressure, concentration, flow, timestamp, phase, phase_source, faults) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const insertEvent = db.query("INSERT INTO events (seq, ts_ms, type, device, frame) VALUES (?, ?, ?, ?, ?)");
  const upsertDevice = db.query("INSERT INTO devices (device, latest) VALUES (?, ?) ON CONFLICT (device) DO UPDATE SET latest = excluded.latest");
  const upsertCycle = db.query(
    `INSERT INTO cycles (device, cip_id, started_ms, last_ms, readings, closed, summary) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (device, cip_id) DO UPDATE SET last_ms = excluded.last_ms, readings = excluded.readings,
       closed = excluded.closed, summary = COALESCE(excluded.summary, cycles.summary)`,
  );
  const setVerdict = db.query("UPDATE cycles SET verdict = ? WHERE device = ? AND cip_id = ?");
  const setSeq = db.query("INSERT INTO meta (key, value) VALUES ('seq', ?) ON CONFLICT (key) DO UPDATE SET value = MAX(value, excluded.value)");

  let queue: Recorded[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;

  const writeBatch = db.transaction((batch: Recorded[]) => {
    const latest = new Map<string, string>();
    const cycles = new Map<string, { device: string; state: CycleState; summary?: string }>();
    for (const event of batch) {
      // A reading is one row in `readings` (its frame is rebuilt for replay); other events keep their frame.
      const r = event.reading;
      if (r) {
        insertReading.run(r.seq, r.device, event.ms, r.cip_id, r.temperature, r.pressure, r.concentration, r.flow, r.timestamp, r.phase ?? null, r.phase_source ?? null, faultsColumn(r));
        latest.set(r.device, event.json);
      } else insertEvent.run(event.seq, event.ms, event.type, event.device, event.frame);
      if (event.cycle) {
        const key = `${event.device}\u0000${event.cycle.cipId}`;
        const summary = event.cycle.summary ? JSON.stringify({ ...event.cycle.summary, seq: undefined }) : cycles.get(key)?.summary;
        cycles.set(key, { device: event.device, state: event.cycle.state, summary });
      }
    }
    for (const [device, json] of latest) upsertDevice.run(device, json);
    for (const { device, state, summary } of cycles.values()) {
      upsertCycle.run(device, state.cipId, state.startedMs, state.lastMs, state.readings, state.closed ? 1 : 0, summary ?? null);
    }
    for (const event of batch) if (event.verdict) setVerdict.run(event.verdict.verdict, event.device, event.verdict.cipId);
    setSeq.run(batch[batch.length - 1]!.seq);
  });

  const flush = () => {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (queue.length === 0) return;
    const batch = queue;
    queue = [];
    try {
      writeBatch(batch);
    } catch (error) {
      // Keep the batch: it is retried with the next one rather than dropped.
      queue = batch.concat(queue);
      options.onError(error);
    }
  };

  const stats = (device: string, cipId: number) =>
    db.query(`SELECT COUNT(*) AS count, ${statsColumns} FROM readings WHERE device = ? AND cip_id = ?`).get(device, cipId) as StatsRow;

  const summaryOf = (row: CycleRow): CycleSummary => {
    if (row.closed && row.summary) {
      const summary = JSON.parse(row.summary) as CycleSummary;
      return row.verdict ? { ...summary, verdict: row.verdict as CycleSummary["verdict"] } : summary;
    }
    const cycle = { cipId: row.cip_id, startedMs: row.started_ms, lastMs: row.last_ms, readings: row.readings, closed: row.closed === 1 };
    return summarise(row.device, cycle, options.iso, statsOf(stats(row.device, row.cip_id)));
  };

  const statements = new Map<string, Statement>();
  const cached = (sql: string) => {
    let statement = statements.get(sql);
    if (!statement) statements.set(sql, (statement = db.query(sql)));
    return statement;
  };

  const where = (q: Omit<ReadingQuery, "order" | "limit">, order: "asc" | "desc" = "asc") => {
    const clauses = ["device = ?"];
    const params: (string | number)[] = [q.device];
    if (q.fromMs !== undefined) clauses.push("ts_ms >= ?"), params.push(q.fromMs);
    if (q.toMs !== undefined) clauses.push("ts_ms < ?"), params.push(q.toMs);
    if (q.cipId !== undefined) clauses.push("cip_id = ?"), params.push(q.cipId);
    if (q.after !== undefined) clauses.push(order === "asc" ? "seq > ?" : "seq < ?"), params.push(q.after);
    return { sql: clauses.join(" AND "), params };
  };

  return {
    kind: "sqlite",
    history: true,
    shared: false,
    async restore(): Promise<Restored> {
      const meta = db.query("SELECT value FROM meta WHERE key = 'seq'").get() as { value: number } | null;
      const maxEvent = db.query("SELECT MAX(seq) AS seq FROM events").get() as { seq: number | null };
      const seq = Math.max(meta?.value ?? 0, maxEvent.seq ?? 0);
      const rows = db
        .query(
          `SELECT c.* FROM cycles c JOIN (SELECT device, MAX(cip_id) AS cip_id FROM cycles GROUP BY device) m
           ON c.device = m.device AND c.cip_id = m.cip_id`,
        )
        .all() as CycleRow[];
      const latest = new Map((db.query("SELECT device, latest FROM devices").all() as { device: string; latest: string }[]).map((r) => [r.device, r.latest]));
      const devices: Restored["devices"] = [];
      for (const row of rows) {
        const json = latest.get(row.device);
        if (!json) continue;
        const s = stats(row.device, row.cip_id);
        const cycleStats = runningStatsOf(s);
        devices.push({
          device: row.device,
          json,
          latest: JSON.parse(json) as StoredReading,
          cycle: { cipId: row.cip_id, startedMs: row.started_ms, lastMs: row.last_ms, readings: s.count, closed: row.closed === 1, stats: cycleStats },
        });
      }
      return { seq, devices };
    },
    record(event) {
      queue.push(event);
      if (options.flushIntervalMs === 0 || queue.length >= options.flushMaxRows) flush();
      else timer ??= setTimeout(flush, options.flushIntervalMs);
    },
    flush: async () => flush(),
    since(seq, topics, limit): Replay {
      flush();
      const readingWhere: string[] = [];
      const eventWhere: string[] = [];
      const devices: string[] = [];
      for (const topic of topics) {
        if (topic === "readings") readingWhere.push("1");
        else if (topic === "cycles") eventWhere.push("type LIKE 'cycle.%'");
        else if (topic === "alarms") eventWhere.push("type LIKE 'alarm%'");
        else if (topic.startsWith("devices/")) devices.push(topic.slice(8));
      }
      const inDevices = `device IN (${devices.map(() => "?").join(",")})`;
      if (devices.length > 0) readingWhere.push(inDevices), eventWhere.push(inDevices);
      const oldest = (
        db.query("SELECT MIN(seq) AS seq FROM (SELECT MIN(seq) AS seq FROM readings UNION ALL SELECT MIN(seq) FROM events)").get() as { seq: number | null }
      ).seq;
      const parts: string[] = [];
      const params: (string | number)[] = [];
      if (readingWhere.length > 0) {
        parts.push(`SELECT seq, 'reading' AS type, NULL AS frame, ${READING_COLUMNS.replace(", seq", "")} FROM readings WHERE seq > ? AND (${readingWhere.join(" OR ")})`);
        params.push(seq, ...(devices.length > 0 ? devices : []));
      }
      if (eventWhere.length > 0) {
        parts.push(`SELECT seq, type, frame, NULL, NULL, NULL, NULL, NULL, NULL, device, NULL, NULL, NULL FROM events WHERE seq > ? AND (${eventWhere.join(" OR ")})`);
        params.push(seq, ...devices);
      }
      if (parts.length === 0) return { events: [], oldest };
      type Row = ReadingRow & { type: string; frame: string | null };
      const rows = cached(`${parts.join(" UNION ALL ")} ORDER BY seq LIMIT ?`).all(...params, limit) as Row[];
      const events = rows.map((row) => {
        if (row.frame !== null) return { seq: row.seq, type: row.type, frame: row.frame };
        // The same text the live frame had: the stored-reading fields in order, then the type.
        const reading = readingOf(row);
        return { seq: row.seq, type: "reading", frame: `${JSON.stringify(reading).slice(0, -1)},"type":"reading"}` };
      });
      return { events, oldest };
    },
    async readings(q) {
      flush();
      const { sql, params } = where(q, q.order);
      const rows = cached(`SELECT ${READING_COLUMNS} FROM readings WHERE ${sql} ORDER BY seq ${q.order === "asc" ? "ASC" : "DESC"} LIMIT ?`).all(
        ...params,
        q.limit,
      ) as ReadingRow[];
      return rows.map(readingOf);
    },
    async buckets(q, bucketMs, limit): Promise<Bucket[]> {
      flush();
      const { sql, params } = where(q);
      const rows = cached(
        `SELECT (ts_ms / ?) * ? AS start_ms, COUNT(*) AS count, ${statsColumns} FROM readings WHERE ${sql} GROUP BY 1 ORDER BY 1 LIMIT ?`,
      ).all(bucketMs, bucketMs, ...params, limit) as (StatsRow & { start_ms: number })[];
      return rows.map((row) => ({ startMs: row.start_ms, count: row.count, stats: statsOf(row) }));
    },
    async cycles(device, limit) {
      flush();
      const rows = cached("SELECT * FROM cycles WHERE device = ? ORDER BY cip_id DESC LIMIT ?").all(device, limit) as CycleRow[];
      return rows.map(summaryOf);
    },
    async cycle(device, cipId) {
      flush();
      const row = cached("SELECT * FROM cycles WHERE device = ? AND cip_id = ?").get(device, cipId) as CycleRow | null;
      return row ? summaryOf(row) : undefined;
    },
    async events(device, typePrefix, fromMs, toMs, limit) {
      flush();
      const rows = cached(
        "SELECT frame FROM events WHERE device = ? AND type LIKE ? AND ts_ms >= ? AND ts_ms < ? ORDER BY seq LIMIT ?",
      ).all(device, `${typePrefix}%`, fromMs ?? 0, toMs ?? Number.MAX_SAFE_INTEGER, limit) as { frame: string }[];
      return rows.map((r) => r.frame);
    },
    async settings(kind) {
      const rows = cached("SELECT id, value FROM settings WHERE kind = ?").all(kind) as { id: string; value: string }[];
      return new Map(rows.map((r) => [r.id, r.value]));
    },
    async putSetting(kind, id, value) {
      if (value === null) cached("DELETE FROM settings WHERE kind = ? AND id = ?").run(kind, id);
      else cached("INSERT INTO settings (kind, id, value) VALUES (?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET value = excluded.value").run(kind, id, value);
    },
    async saveRecipe(device, recipe) {
      cached("INSERT INTO device_recipes (device, recipe) VALUES (?, ?) ON CONFLICT (device) DO UPDATE SET recipe = excluded.recipe").run(device, recipe);
    },
    async savedRecipes() {
      const rows = cached("SELECT device, recipe FROM device_recipes").all() as { device: string; recipe: string | null }[];
      return Object.fromEntries(rows.map((r) => [r.device, r.recipe]));
    },
    async prune(beforeMs) {
      let removed = 0;
      const chunk = cached("DELETE FROM readings WHERE seq IN (SELECT seq FROM readings WHERE ts_ms < ? LIMIT 5000)");
      for (;;) {
        const { changes } = chunk.run(beforeMs);
        removed += changes;
        if (changes < 5000) break;
        await Bun.sleep(0); // let ingest run between chunks
      }
      cached("DELETE FROM cycles WHERE closed = 1 AND last_ms < ?").run(beforeMs);
      cached("DELETE FROM events WHERE ts_ms < ?").run(beforeMs);
      return removed;
    },
    size() {
      const page = db.query("SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()").get() as { bytes: number };
      // Lowest seq is the oldest reading: a rowid look-up, not a scan (health is polled often).
      const oldest = db.query("SELECT ts_ms AS ms FROM readings ORDER BY seq LIMIT 1").get() as { ms: number } | null;
      return { bytes: page.bytes, oldestMs: oldest?.ms ?? null };
    },
    async close() {
      flush();
      db.close();
    },
  };
}
