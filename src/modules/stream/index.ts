// Stream routes: the original `/ws/sensor_updates`, topic WebSockets at `/ws`, and SSE at `/api/stream`.
import { Elysia } from "elysia";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import type { Services, StreamSocket } from "../../services";
import { ApiError, ErrorBody } from "../../errors";
import { TOPIC } from "../../events";
import { guard, peerOf, presentedKey } from "../../http";
import { ClientMessage, StreamQuery } from "./model";
import { invalidTopic, parseTopics } from "./service";
import { createRateLimiter } from "../../limits";

const checkMessage = TypeCompiler.Compile(ClientMessage);

/** Policy violation (RFC 6455): the client is over its stream cap. */
const CLOSE_POLICY = 1008;
/** Try again later: the server is full. */
const CLOSE_TRY_AGAIN = 1013;

type Socket = StreamSocket;
type WsData = { query: Record<string, string | undefined>; request: Request };

export function streamRoutes(s: Services) {
  const beforeHandle = guard(s.auth, "read");
  const keys = new WeakMap<Socket, string>();
  const overCap = (cap: "key" | "total") =>
    cap === "key"
      ? `too many live streams for this key (MAX_WS_CONNECTIONS_PER_KEY=${s.config.maxStreamsPerKey})`
      : `too many live streams on this server (MAX_STREAMS=${s.config.maxStreams})`;
  const messages = createRateLimiter(s.config.wsMessageRate, () => performance.now(), Math.max(5, s.config.wsMessageRate));
  const socketIds = new WeakMap<Socket, string>();
  let nextSocket = 0;

  /** Takes a stream slot for the socket's key, or closes it with 1008 (1013 when the server is full); true if it may stay. */
  const admit = (raw: Socket, data: WsData): boolean => {
    const key = presentedKey(data.request, data.query) ?? "";
    const slot = s.slots.acquire(key);
    if (slot !== "ok") {
      s.log.warn("stream refused: over a cap", { cap: slot, peer: raw.remoteAddress, path: new URL(data.request.url).pathname });
      raw.close(slot === "key" ? CLOSE_POLICY : CLOSE_TRY_AGAIN, overCap(slot));
      return false;
    }
    socketIds.set(raw, String(nextSocket++));
    keys.set(raw, key);
    s.sockets.add(raw);
    return true;
  };
  const leave = (raw: Socket) => {
    const key = keys.get(raw);
    if (key === undefined) return;
    keys.delete(raw);
    s.sockets.delete(raw);
    s.slots.release(key);
  };
  // Returns nothing on purpose: Elysia sends whatever a WS handler returns.
  const send = (raw: Socket, body: Record<string, unknown>): void => void raw.send(JSON.stringify(body));
  /** Sends what a client missed on `topics` since `since`, before anything live (all in one tick). */
  const catchUp = (raw: Socket, since: number, topics: readonly string[]) => {
    const { frames, gap } = s.streams.replay(since, topics);
    if (gap) raw.send(gap);
    for (const event of frames) raw.send(event.frame);
    // Tells the client it is caught up: what follows is live.
    send(raw, { type: "replayed", count: frames.length, seq: s.events.lastSeq() });
  };

  return new Elysia({ name: "stream" })
    .ws("/ws/sensor_updates", {
      query: StreamQuery,
      beforeHandle,
      detail: { summary: "Every reading of every device (the original stream)", tags: ["stream"] },
      open(ws) {
        if (admit(ws.raw, ws.data)) ws.raw.subscribe(TOPIC.readings);
      },
      close(ws) {
        leave(ws.raw);
      },
    })
    .ws("/ws", {
      query: StreamQuery,
      beforeHandle(context) {
        beforeHandle(context);
        parseTopics(context.query.topics, []);
      },
      detail: {
        summary: "Topic subscriptions: ?topics=a,b and {op: subscribe|unsubscribe, topic} messages",
        description:
          'Topics: readings, cycles, alarms, devices/<device>. Frames are JSON with a "type" field (reading, cycle.opened, cycle.closed, ack, error, welcome).',
        tags: ["stream"],
      },
      open(ws) {
        if (!admit(ws.raw, ws.data)) return;
        const topics = parseTopics(ws.data.query.topics, []);
        for (const topic of topics) ws.raw.subscribe(topic);
        send(ws.raw, { type: "welcome", topics, seq: s.events.lastSeq() });
        const since = ws.data.query.since;
        if (since !== undefined) catchUp(ws.raw, Number(since), topics);
      },
      message(ws, message) {
        const wait = messages.take(socketIds.get(ws.raw) ?? "");
        if (wait > 0) {
          return send(ws.raw, { type: "error", error: "rate_limited", message: `Too many messages: at most ${s.config.wsMessageRate} per second (WS_MESSAGE_RATE).` });
        }
        let parsed: unknown = message;
        if (typeof message === "string") {
          try {
            parsed = JSON.parse(message);
          } catch {
            return send(ws.raw, { type: "error", error: "malformed_message", message: 'Messages are JSON, e.g. {"op":"subscribe","topic":"readings"}.' });
          }
        }
        if (!checkMessage.Check(parsed)) {
          return send(ws.raw, {
            type: "error",
            error: "invalid_message",
            message: 'Unknown message: send {"op":"subscribe"|"unsubscribe","topic":"..."} or {"op":"ping"}.',
          });
        }
        if (parsed.op === "ping") return send(ws.raw, { type: "pong", seq: s.events.lastSeq() });
        const problem = invalidTopic(parsed.topic);
        if (problem) return send(ws.raw, { type: "error", error: "invalid_topic", message: problem, topic: parsed.topic });
        if (parsed.op === "subscribe") ws.raw.subscribe(parsed.topic);
        else ws.raw.unsubscribe(parsed.topic);
        send(ws.raw, { type: "ack", op: parsed.op, topic: parsed.topic, topics: ws.raw.subscriptions });
        if (parsed.op === "subscribe" && parsed.since !== undefined) catchUp(ws.raw, parsed.since, [parsed.topic]);
      },
      close(ws) {
        leave(ws.raw);
      },
    })
    .get(
      "/api/stream",
      ({ query, request, server }) => {
        const topics = parseTopics(query.topics, [TOPIC.readings]);
        const key = presentedKey(request, query) ?? "";
        const slot = s.slots.acquire(key);
        if (slot !== "ok") {
          s.log.warn("stream refused: over a cap", { cap: slot, peer: peerOf(server, request), path: "/api/stream" });
          throw new ApiError(429, "too_many_streams", `There are ${overCap(slot)}. Close another stream first.`, undefined, { "retry-after": "5" });
        }
        // SSE outlives Bun's idle timeout; keep-alive comments keep proxies from cutting it.
        server?.timeout(request, 0);
        // A reconnecting EventSource sends Last-Event-ID by itself; ?last_event_id= does the same by hand.
        const resume = request.headers.get("last-event-id") ?? query.last_event_id;
        if (resume !== undefined && !/^\d+$/.test(resume)) {
          throw new ApiError(422, "invalid_last_event_id", "Last-Event-ID must be the seq of the last event received.", [{ field: "Last-Event-ID", message: "expected a whole number" }]);
        }
        const since = resume === undefined ? undefined : Number(resume);
        const body = s.streams.sse(topics, key, request.signal, `retry: 3000\n: subscribed to ${topics.join(",")}\n\n`, since);
        return new Response(body, {
          headers: {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "x-accel-buffering": "no",
          },
        });
      },
      {
        query: StreamQuery,
        beforeHandle,
        response: { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 429: ErrorBody },
        detail: {
          summary: "Server-Sent Events for some topics (default: readings)",
          description:
            "Each event has id: <seq>, event: <type> and data: the event's JSON. Keep-alive comments every SSE_KEEPALIVE_SECONDS. With Last-Event-ID (or ?last_event_id=) every missed event of the topics is replayed first; a replay.gap event says when some are no longer kept.",
          tags: ["stream"],
        },
      },
    );
}
