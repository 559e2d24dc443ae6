// Live streams: who is connected, on which topics, and the SSE keep-alive. Fan-out itself is the
// bus's job; this module tracks connections so they can be counted, capped and closed.
import type { StreamSlots } from "../../auth";
import { sseFrame, type Bus } from "../../bus";
import type { Events } from "../../events";
import type { Store } from "../../store/types";
import { ApiError } from "../../errors";
import { TOPIC_PATTERN } from "./model";

const encoder = new TextEncoder();
const KEEP_ALIVE = encoder.encode(": keep-alive\n\n");
/** Events queued for an SSE client that is not reading before it is dropped (it resumes by seq). */
const SSE_MAX_QUEUE = 1000;

export function invalidTopic(topic: string): string | undefined {
  return TOPIC_PATTERN.test(topic) ? undefined : `"${topic}" is not a topic: use readings, cycles, alarms or devices/<device id>.`;
}

/** `?topics=a,b` → the topic list; throws a 400 naming the first bad one. */
export function parseTopics(text: string | undefined, fallback: string[]): string[] {
  if (text === undefined || text.trim() === "") return fallback;
  const topics = [...new Set(text.split(",").map((topic) => topic.trim()).filter(Boolean))];
  for (const topic of topics) {
    const problem = invalidTopic(topic);
    if (problem) throw new ApiError(400, "invalid_topic", problem, [{ field: "topics", message: problem }]);
  }
  return topics;
}

interface SseConnection {
  controller: ReadableStreamDefaultController<Uint8Array>;
  close(): void;
}

export interface Replayed {
  frames: { seq: number; type: string; frame: string }[];
  /** A `replay.gap` frame when events after `since` are no longer kept (or `since` is unknown here). */
  gap?: string;
}

export interface Streams {
  /** Every kept event of `topics` after `since`, oldest first. */
  replay(since: number, topics: readonly string[]): Replayed;
  /** An SSE response body for `topics`, holding a stream slot of `key` until the client leaves. */
  sse(topics: string[], key: string, signal: AbortSignal, preamble: string, since?: number): ReadableStream<Uint8Array>;
  sseCount(): number;
  closeAll(): void;
}

export function createStreams(deps: {
  bus: Bus;
  slots: StreamSlots;
  keepAliveSeconds: number;
  /** Where recent events are kept for replay (the store on one box; the copy of the shared stream with BUS_URL). */
  replay: Pick<Store, "since">;
  events: Events;
  replayMax: number;
}): Streams {
  const { bus, slots, events } = deps;

  const replay = (since: number, topics: readonly string[]): Replayed => {
    const last = events.lastSeq();
    if (since >= last) {
      if (since === last) return { frames: [] };
      // The client saw numbers this server never gave (it lost its history): say so.
      return { frames: [], gap: JSON.stringify({ type: "replay.gap", requested: since, oldest: null, last, message: `seq ${since} is ahead of this server's last event (${last}); events were not kept.` }) };
    }
    const { events: frames, oldest } = deps.replay.since(since, topics, deps.replayMax);
    const gap =
      oldest === null || oldest > since + 1
        ? JSON.stringify({
            type: "replay.gap",
            requested: since,
            oldest,
            last,
            message: oldest === null ? "No past events are kept here; live events follow." : `Events before seq ${oldest} are no longer kept; replaying from there.`,
          })
        : undefined;
    return gap ? { frames, gap } : { frames };
  };
  const live = new Set<SseConnection>();
  let timer: ReturnType<typeof setInterval> | undefined;

  // One timer for every SSE stream, running only while there is one.
  const keepAlive = () => {
    for (const connection of live) connection.controller.enqueue(KEEP_ALIVE);
  };
  const track = (connection: SseConnection) => {
    live.add(connection);
    timer ??= setInterval(keepAlive, deps.keepAliveSeconds * 1000);
  };
  const untrack = (connection: SseConnection) => {
    live.delete(connection);
    if (live.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  return {
    replay,
    sse(topics, key, signal, preamble, since) {
      let connection: SseConnection | undefined;
      return new ReadableStream<Uint8Array>({
        start(controller) {
          let closed = false;
          let lastSeq = 0;
          const sink = {
            send(chunk: Uint8Array, seq: number) {
              // An event on two subscribed topics (cycles and devices/x) goes out once.
              if (seq >= 0) {
                if (seq <= lastSeq) return;
                lastSeq = seq;
              }
              if ((controller.desiredSize ?? 0) < -SSE_MAX_QUEUE) connection?.close();
              else controller.enqueue(chunk);
            },
          };
          const unsubscribe = bus.subscribeSse(topics, sink);
          connection = {
            controller,
            close() {
              if (closed) return;
              closed = true;
              unsubscribe();
              slots.release(key);
              untrack(this);
              try {
                controller.close();
              } catch {
                // already closed by the client leaving
              }
            },
          };
          track(connection);
          controller.enqueue(encoder.encode(preamble));
          // Replay and subscription happen in one synchronous step: no event can fall between them.
          if (since !== undefined) {
            const { frames, gap } = replay(since, topics);
            if (gap) controller.enqueue(encoder.encode(`event: replay.gap\ndata: ${gap}\n\n`));
            for (const event of frames) {
              controller.enqueue(sseFrame(event));
              lastSeq = event.seq;
            }
          }
          // A client leaving shows on the request's signal, not always in cancel (DESIGN §6).
          signal.addEventListener("abort", () => connection?.close(), { once: true });
        },
        cancel() {
          connection?.close();
        },
      });
    },
    sseCount: () => live.size,
    closeAll() {
      for (const connection of [...live]) connection.close();
    },
  };
}
