// Webhooks: the people who must act on a failed cycle are rarely watching a dashboard. An alarm raised
// or cleared, and a closed cycle's verdict, are POSTed as JSON to every WEBHOOK_URLS address, signed
// with HMAC-SHA256 when WEBHOOK_SECRET is set, retried with exponential backoff from a bounded queue.
// Nothing here runs on the ingest path: events are queued and delivered in the background.
import { createHmac } from "node:crypto";
import type { Config } from "../../config";
import type { Recorded } from "../../events";
import type { Logger } from "../../log";

export interface WebhookStats {
  delivered: number;
  failed: number;
  retried: number;
  dropped: number;
  queued: number;
}

export interface Webhooks {
  onEvent(event: Recorded): void;
  stats(): WebhookStats;
  /** Stops retrying; what is still queued is reported as dropped. */
  close(): void;
}

interface Delivery {
  url: string;
  body: string;
  type: string;
  attempt: number;
}

export const SIGNATURE_HEADER = "x-sensorflow-signature";

export function sign(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

export function createWebhooks(config: Config, deps: { log: Logger }): Webhooks {
  const stats = { delivered: 0, failed: 0, retried: 0, dropped: 0 };
  const queue: Delivery[] = [];
  let running = false;
  let closed = false;
  const timers = new Set<ReturnType<typeof setTimeout>>();

  const attempt = async (delivery: Delivery): Promise<boolean> => {
    const headers: Record<string, string> = { "content-type": "application/json", "x-sensorflow-event": delivery.type };
    if (config.webhookSecret) headers[SIGNATURE_HEADER] = sign(config.webhookSecret, delivery.body);
    try {
      const response = await fetch(delivery.url, { method: "POST", headers, body: delivery.body, signal: AbortSignal.timeout(10_000) });
      await response.arrayBuffer();
      return response.ok;
    } catch {
      return false;
    }
  };

  const pump = async () => {
    if (running) return;
    running = true;
    while (queue.length > 0 && !closed) {
      const delivery = queue.shift()!;
      if (await attempt(delivery)) {
        stats.delivered++;
        continue;
      }
      if (delivery.attempt >= config.webhookRetries) {
        stats.failed++;
        deps.log.warn("webhook gave up", { url: new URL(delivery.url).origin, event: delivery.type, attempts: delivery.attempt + 1 });
        continue;
      }
      // Retried later, with backoff; the queue goes on meanwhile.
      stats.retried++;
      const wait = Math.min(config.webhookBackoffMs * 2 ** delivery.attempt, 60_000);
      const timer = setTimeout(() => {
        timers.delete(timer);
        push({ ...delivery, attempt: delivery.attempt + 1 });
      }, wait);
      timers.add(timer);
    }
    running = false;
  };

  const push = (delivery: Delivery) => {
    if (closed) return;
    if (queue.length >= config.webhookQueueMax) {
      queue.shift();
      stats.dropped++;
    }
    queue.push(delivery);
    void pump();
  };

  return {
    onEvent(event) {
      if (!event.type.startsWith("alarm.") && event.type !== "cycle.verdict") return;
      for (const url of config.webhookUrls) push({ url, body: event.frame, type: event.type, attempt: 0 });
    },
    stats: () => ({ ...stats, queued: queue.length + timers.size }),
    close() {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      stats.dropped += queue.length + timers.size;
      timers.clear();
      queue.length = 0;
    },
  };
}
