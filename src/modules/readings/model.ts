import { t } from "elysia";
import { DEVICE_ID } from "../../config";

const metric = (description: string, example: number) => t.Number({ description, examples: [example] });

/** What a board sends: four finite numbers (NaN and ±Infinity fail). Extra fields are ignored. */
export const ReadingInput = t.Object(
  {
    temperature: metric("°C", 75.5),
    pressure: metric("bar", 2.3),
    concentration: metric("% chemical", 0.8),
    flow: metric("flow rate, e.g. m³/h", 1.2),
    phase: t.Optional(t.String({ minLength: 1, maxLength: 64, description: "cleaning phase, when the board or PLC knows it (else inferred from the recipe)" })),
  },
  { description: "One reading from a board (other fields are ignored)", additionalProperties: true },
);
export type ReadingInput = typeof ReadingInput.static;

/** What the server stores and publishes (DESIGN §3), in this field order. */
export const StoredReading = t.Object(
  {
    temperature: t.Number(),
    pressure: t.Number(),
    concentration: t.Number(),
    flow: t.Number(),
    timestamp: t.String({ description: "server receive time, ISO 8601 with ms and the TIMEZONE offset", examples: ["2024-01-15T10:30:00.000-03:00"] }),
    cip_id: t.Integer({ description: "cleaning cycle number of this device", minimum: 1 }),
    device: t.String({ examples: ["default"] }),
    seq: t.Integer({ description: "event sequence number; only grows", minimum: 1 }),
    phase: t.Optional(t.Union([t.String(), t.Null()], { description: "with a recipe: the cleaning phase (null between phases)" })),
    phase_source: t.Optional(t.Union([t.Literal("sent"), t.Literal("inferred")])),
  },
  { description: "A reading as stored and published" },
);
export type StoredReading = typeof StoredReading.static;

export const DeviceId = t.String({ pattern: DEVICE_ID.source, description: "device id", examples: ["line-1"] });
export const DeviceParams = t.Object({ device: DeviceId });

export const DeviceSummary = t.Object({
  device: t.String(),
  cip_id: t.Integer({ description: "current cleaning cycle" }),
  cycle_started: t.String({ description: "when the current cycle's first reading arrived" }),
  last_seen: t.String({ description: "when the latest reading arrived" }),
  latest: StoredReading,
});
export type DeviceSummary = typeof DeviceSummary.static;
export const DeviceList = t.Object({ devices: t.Array(DeviceSummary) });
