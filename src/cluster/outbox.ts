// Readings acknowledged while Redis is unreachable wait here, in arrival order, until they can be
// numbered and shared. On disk (DATA_DIR/outbox.db) unless STORAGE=memory, so a restart of the
// instance during an outage does not lose them either.
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

export interface Pending {
  id: number;
  device: string;
  ms: number;
  /** The reading's JSON up to `"cip_id":` (script.ts). */
  head: string;
  /** The four values ("" where there is none), then the JSON after `seq` (`,"faults":[…]` or ""). */
  values: [string, string, string, string, string];
}

export interface Outbox {
  add(rows: Omit<Pending, "id">[]): void;
  /** The oldest rows, at most `limit`. */
  peek(limit: number): Pending[];
  remove(ids: readonly number[]): void;
  size(): number;
  close(): void;
}

/** Rows written before the tail existed have four values: their tail is empty. */
const tupleOf = (v: string): Pending["values"] => {
  const [t = "", p = "", c = "", f = "", tail = ""] = v.split("|");
  return [t, p, c, f, tail];
};

export function createOutbox(dataDir: string | null): Outbox {
  if (dataDir !== null) mkdirSync(dataDir, { recursive: true });
  const db = new Database(dataDir === null ? ":memory:" : join(dataDir, "outbox.db"), { create: true, strict: true });
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
  db.exec("CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL, ms INTEGER NOT NULL, head TEXT NOT NULL, v TEXT NOT NULL)");
  const insert = db.query("INSERT INTO outbox (device, ms, head, v) VALUES (?, ?, ?, ?)");
  const add = db.transaction((rows: Omit<Pending, "id">[]) => {
    for (const row of rows) insert.run(row.device, row.ms, row.head, row.values.join("|"));
  });
  let count = (db.query("SELECT COUNT(*) AS n FROM outbox").get() as { n: number }).n;
  return {
    add(rows) {
      add(rows);
      count += rows.length;
    },
    peek(limit) {
      const rows = db.query("SELECT id, device, ms, head, v FROM outbox ORDER BY id LIMIT ?").all(limit) as { id: number; device: string; ms: number; head: string; v: string }[];
      return rows.map((r) => ({ id: r.id, device: r.device, ms: r.ms, head: r.head, values: tupleOf(r.v) }));
    },
    remove(ids) {
      if (ids.length === 0) return;
      db.query(`DELETE FROM outbox WHERE id IN (${ids.map(() => "?").join(",")})`).run(...ids);
      count -= ids.length;
    },
    size: () => count,
    close: () => db.close(),
  };
}
