import { t } from "elysia";
import { DEVICE_ID } from "../../config";

/** `readings`, `cycles`, `alarms` or `devices/<device id>`. */
export const TOPIC_PATTERN = new RegExp(`^(readings|cycles|alarms|devices/${DEVICE_ID.source.slice(1, -1)})$`);
export const Topic = t.String({ pattern: TOPIC_PATTERN.source, examples: ["readings", "devices/line-1"] });

export const ClientMessage = t.Union([
  t.Object({ op: t.Literal("subscribe"), topic: t.String(), since: t.Optional(t.Integer({ minimum: 0 })) }),
  t.Object({ op: t.Literal("unsubscribe"), topic: t.String() }),
  t.Object({ op: t.Literal("ping") }),
]);
export type ClientMessage = typeof ClientMessage.static;

export const StreamQuery = t.Object({
  topics: t.Optional(t.String({ description: "comma-separated topics, e.g. readings,devices/line-1" })),
  "api-key": t.Optional(t.String({ description: "read key (API_KEY_WS), if not sent as X-API-Key" })),
  since: t.Optional(t.String({ pattern: "^[0-9]+$", description: "WebSocket: replay every event after this seq, then go live" })),
  last_event_id: t.Optional(t.String({ pattern: "^[0-9]+$", description: "SSE: same as the Last-Event-ID header" })),
}, { additionalProperties: true });
