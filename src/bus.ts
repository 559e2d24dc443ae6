// The publishing seam. Routes and services call `bus.publish(topic, event)` and nothing else, so a
// broker-backed bus (several instances) can replace this in-process one without touching a route.
// WebSocket fan-out is Bun's native pub/sub (`server.publish`): one call per topic, no JS loop over
// sockets. SSE has no native pub/sub, so its subscribers are kept here, and each event's SSE frame
// is encoded once however many SSE clients receive it.

/** One published event: its sequence number, its type and its JSON text, serialised once. */
export interface StreamEvent {
  /** -1 for a provisional reading (taken during a Redis outage, not yet numbered): SSE sends it without an id. */
  seq: number;
  type: string;
  frame: string;
  /** The SSE encoding of this event, built on first use and shared by every SSE subscriber. */
  sse?: Uint8Array;
}

export interface Publisher {
  publish(topic: string, data: string): number;
}

export interface SseSink {
  /** `seq` lets a sink subscribed to overlapping topics send each event once. */
  send(chunk: Uint8Array, seq: number): void;
}

export interface Bus {
  publish(topic: string, event: StreamEvent): void;
  /** Gives the bus the listening server, whose native pub/sub carries the WebSocket fan-out. */
  attach(server: Publisher | null): void;
  /** Adds an SSE subscriber to some topics; returns the function that removes it. */
  subscribeSse(topics: Iterable<string>, sink: SseSink): () => void;
  sseSubscribers(): number;
  published(): number;
}

const encoder = new TextEncoder();

export function sseFrame(event: StreamEvent): Uint8Array {
  return (event.sse ??= encoder.encode(`${event.seq >= 0 ? `id: ${event.seq}\n` : ""}event: ${event.type}\ndata: ${event.frame}\n\n`));
}

export function createLocalBus(): Bus {
  let server: Publisher | null = null;
  const sse = new Map<string, Set<SseSink>>();
  const sinks = new Set<SseSink>();
  let count = 0;

  return {
    publish(topic, event) {
      count++;
      server?.publish(topic, event.frame);
      const subscribers = sse.get(topic);
      if (subscribers === undefined) return;
      const chunk = sseFrame(event);
      for (const sink of subscribers) sink.send(chunk, event.seq);
    },
    attach(next) {
      server = next;
    },
    subscribeSse(topics, sink) {
      const list = [...topics];
      sinks.add(sink);
      for (const topic of list) {
        let set = sse.get(topic);
        if (!set) sse.set(topic, (set = new Set()));
        set.add(sink);
      }
      return () => {
        sinks.delete(sink);
        for (const topic of list) {
          const set = sse.get(topic);
          set?.delete(sink);
          if (set?.size === 0) sse.delete(topic);
        }
      };
    },
    sseSubscribers: () => sinks.size,
    published: () => count,
  };
}
