// One store interface for every backend: embedded SQLite (one box), PostgreSQL (several instances), memory.
// The ingest path only calls `record`, which queues; everything else is for start-up and queries.
import type { Recorder } from "../events";
import type { CycleState } from "../modules/cycles/service";
import type { CycleSummary, Metric, MetricStats } from "../modules/cycles/model";
import type { StoredReading } from "../modules/readings/model";

export interface RestoredDevice {
  device: string;
  latest: StoredReading;
  json: string;
  cycle: CycleState;
}

export interface Restored {
  seq: number;
  devices: RestoredDevice[];
}

export interface ReplayEvent {
  seq: number;
  type: string;
  frame: string;
}

export interface Replay {
  events: ReplayEvent[];
  /** The oldest seq still kept (null when nothing is kept); older events cannot be replayed. */
  oldest: number | null;
}

export interface ReadingQuery {
  device: string;
  fromMs?: number;
  toMs?: number;
  cipId?: number;
  order: "asc" | "desc";
  limit: number;
  /** Keyset cursor: the seq of the last row of the previous page. */
  after?: number;
}

export interface Bucket {
  startMs: number;
  count: number;
  stats: Record<Metric, MetricStats>;
}

export interface HistorySize {
  bytes: number;
  oldestMs: number | null;
}

export type SettingKind = "device_key" | "device_address";

export interface Store extends Recorder {
  readonly kind: "sqlite" | "memory" | "postgres";
  /** Whether readings are kept for history queries (false: latest values and replay only). */
  readonly history: boolean;
  /** Whether other instances write to the same history (PostgreSQL): each instance records only what it ingested. */
  readonly shared: boolean;
  restore(): Promise<Restored>;
  /** Writes everything queued; a clean shutdown calls it last. */
  flush(): Promise<void>;
  /** Recent events for a client resuming with its last seq; synchronous, so no event falls between replay and subscription. */
  since(seq: number, topics: readonly string[], limit: number): Replay;
  readings(query: ReadingQuery): Promise<StoredReading[]>;
  buckets(query: Omit<ReadingQuery, "order" | "limit" | "after">, bucketMs: number, limit: number): Promise<Bucket[]>;
  /** Closed and open cycles as last written, newest first. */
  cycles(device: string, limit: number): Promise<CycleSummary[]>;
  cycle(device: string, cipId: number): Promise<CycleSummary | undefined>;
  /** Frames of a device's published events whose type starts with `typePrefix` (e.g. "alarm."), oldest first. */
  events(device: string, typePrefix: string, fromMs: number | undefined, toMs: number | undefined, limit: number): Promise<string[]>;
  /** Recipe assignments made at run time (PUT /api/devices/:device), kept across restarts. */
  saveRecipe(device: string, recipe: string | null): Promise<void>;
  savedRecipes(): Promise<Record<string, string | null>>;
  /** Small records the admin API manages (device keys, device addresses): id → JSON text, per kind. */
  settings(kind: SettingKind): Promise<Map<string, string>>;
  /** Writes one record (null deletes it). */
  putSetting(kind: SettingKind, id: string, value: string | null): Promise<void>;
  /** Deletes history older than `beforeMs` a chunk at a time; resolves to the rows removed. */
  prune(beforeMs: number): Promise<number>;
  /** Size on disk and the oldest reading (PostgreSQL: as of the last refresh, at most a minute old). */
  size(): HistorySize;
  close(): Promise<void>;
}
