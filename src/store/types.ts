// One store interface for every backend (embedded SQLite now; PostgreSQL can serve the same).
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

export interface Store extends Recorder {
  readonly kind: "sqlite" | "memory";
  /** Whether readings are kept for history queries (false: latest values and replay only). */
  readonly history: boolean;
  restore(): Restored;
  /** Writes everything queued; a clean shutdown calls it last. */
  flush(): void;
  since(seq: number, topics: readonly string[], limit: number): Replay;
  readings(query: ReadingQuery): StoredReading[];
  buckets(query: Omit<ReadingQuery, "order" | "limit" | "after">, bucketMs: number, limit: number): Bucket[];
  /** Closed and open cycles as last written, newest first. */
  cycles(device: string, limit: number): CycleSummary[];
  cycle(device: string, cipId: number): CycleSummary | undefined;
  /** Frames of a device's published events whose type starts with `typePrefix` (e.g. "alarm."), oldest first. */
  events(device: string, typePrefix: string, fromMs: number | undefined, toMs: number | undefined, limit: number): string[];
  /** Recipe assignments made at run time (PUT /api/devices/:device), kept across restarts. */
  saveRecipe(device: string, recipe: string | null): void;
  savedRecipes(): Record<string, string | null>;
  /** Deletes history older than `beforeMs` a chunk at a time; resolves to the rows removed. */
  prune(beforeMs: number): Promise<number>;
  size(): HistorySize;
  close(): void;
}
