// The services one app is made of, as the feature modules see them. Created by createServices
// (app.ts); kept here so no module imports the composition root.
import type { Auth, StreamSlots } from "./auth";
import type { Bus } from "./bus";
import type { Clock } from "./clock";
import type { Config } from "./config";
import type { Events } from "./events";
import type { Logger } from "./log";
import type { Metrics } from "./metrics";
import type { Store } from "./store/types";
import type { Cluster } from "./cluster";
import type { Alarms } from "./modules/alarms/service";
import type { Boards } from "./modules/boards/service";
import type { Cycles } from "./modules/cycles/service";
import type { History } from "./modules/history/service";
import type { Ingest } from "./modules/ingest/service";
import type { MqttBridge } from "./modules/mqtt/service";
import type { LatestStore } from "./modules/readings/service";
import type { Recipes } from "./modules/recipes/service";
import type { CycleReport } from "./modules/reports/service";
import type { Streams } from "./modules/stream/service";
import type { Webhooks } from "./modules/webhooks/service";

/** The part of a Bun WebSocket the stream routes use (Elysia's and Bun's typings differ on the rest). */
export interface StreamSocket {
  send(data: string): unknown;
  /** Bytes queued and not yet sent (Bun has it; Elysia's copy of the type does not declare it). */
  getBufferedAmount?(): number;
  close(code?: number, reason?: string): void;
  subscribe(topic: string): unknown;
  unsubscribe(topic: string): unknown;
  readonly subscriptions: string[];
  readonly remoteAddress: string;
}

export interface Services {
  config: Config;
  version: string;
  startedAt: number;
  clock: Clock;
  log: Logger;
  auth: Auth;
  bus: Bus;
  events: Events;
  cycles: Cycles;
  latest: LatestStore;
  ingest: Ingest;
  slots: StreamSlots;
  streams: Streams;
  sockets: Set<StreamSocket>;
  metrics: Metrics;
  store: Store;
  history: History;
  /** Cycle validation: present when RECIPES_FILE is set. */
  recipes: Recipes | undefined;
  alarms: Alarms;
  /** Board identity and presence: device keys, device addresses, online/silent/idle. */
  boards: Boards;
  reports: { build(device: string, cipId: number): Promise<CycleReport> };
  /** The shared bus (BUS_URL): present when several instances share one stream. */
  cluster: Cluster | undefined;
  mqtt: MqttBridge | undefined;
  webhooks: Webhooks | undefined;
}

