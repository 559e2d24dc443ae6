import { t } from "elysia";
import { DEVICE_ID } from "../../config";

const FAILED = "null, or nan/inf as a board prints it: the sensor failed (the other values are kept)";
const metric = (description: string, example: number) =>
  t.Union([t.Number({ examples: [example] }), t.Null()], { description: `${description}; ${FAILED}` });
const phase = t.Optional(t.String({ minLength: 1, maxLength: 64, description: "cleaning phase, when the board or PLC knows it (else inferred from the recipe)" }));

/** What a board sends: four finite numbers, or null where a sensor failed. Extra fields are ignored. */
export const ReadingInput = t.Object(
  {
    temperature: metric("temperature", 75.5),
    pressure: metric("pressure", 2.3),
    concentration: metric("concentration", 0.8),
    flow: metric("flow", 1.2),
    phase,
  },
  { description: "One reading from a board (other fields are ignored)", additionalProperties: true },
);
export type ReadingInput = typeof ReadingInput.static;

/** A value as older firmware prints it: a number, or the same digits in quotes (the WiFi firmware), or nan/inf. */
const NUMBER_TEXT = "^\\s*([-+]?(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?|[-+]?([nN][aA][nN]|[iI][nN][fF]([iI][nN][iI][tT][yY])?)(\\([^)]*\\))?)\\s*$";
const legacyMetric = (description: string) =>
  t.Optional(t.Union([t.Number(), t.Null(), t.String({ pattern: NUMBER_TEXT, maxLength: 32 })], { description: `${description}; absent = no such sensor on this board; ${FAILED}` }));
const deviceField = (description: string) =>
  t.Optional(t.Union([t.String({ pattern: DEVICE_ID.source }), t.Integer({ minimum: 0 })], { description }));

/**
 * The original paths take every firmware generation's body: the current one (four numbers), and older
 * ones that send `humidity` (ignored), no concentration or flow, values in quotes, and a `sensor_id`.
 */
export const LegacyReadingInput = t.Object(
  {
    temperature: legacyMetric("temperature"),
    pressure: legacyMetric("pressure"),
    concentration: legacyMetric("concentration"),
    flow: legacyMetric("flow"),
    sensor_id: deviceField("older firmware: the board's id; names the device (validated like a device id)"),
    device: deviceField("names the device, as sensor_id does"),
    phase,
  },
  { description: "A reading as any firmware generation sends it to the original paths (other fields are ignored)", additionalProperties: true },
);
export type LegacyReadingInput = typeof LegacyReadingInput.static;

/** A reading as ingest takes it, whichever route brought it: null = the sensor failed, absent = the board has no such sensor. */
export const Sample = t.Object({
  temperature: t.Optional(t.Union([t.Number(), t.Null()])),
  pressure: t.Optional(t.Union([t.Number(), t.Null()])),
  concentration: t.Optional(t.Union([t.Number(), t.Null()])),
  flow: t.Optional(t.Union([t.Number(), t.Null()])),
  phase,
});
export type Sample = typeof Sample.static;

/** What the server stores and publishes (DESIGN §3), in this field order. */
const stored = t.Union([t.Number(), t.Null()], { description: "null: no value (the sensor failed, see faults, or the board has no such sensor)" });
export const StoredReading = t.Object(
  {
    temperature: stored,
    pressure: stored,
    concentration: stored,
    flow: stored,
    timestamp: t.String({ description: "server receive time, ISO 8601 with ms and the TIMEZONE offset", examples: ["2024-01-15T10:30:00.000-03:00"] }),
    cip_id: t.Integer({ description: "cleaning cycle number of this device", minimum: 1 }),
    device: t.String({ examples: ["default"] }),
    seq: t.Integer({ description: "event sequence number; only grows", minimum: 1 }),
    phase: t.Optional(t.Union([t.String(), t.Null()], { description: "with a recipe: the cleaning phase (null between phases)" })),
    phase_source: t.Optional(t.Union([t.Literal("sent"), t.Literal("inferred")])),
    faults: t.Optional(t.Array(t.String(), { description: "metrics whose sensor failed in this reading (their value is null)" })),
  },
  { description: "A reading as stored and published" },
);
export type StoredReading = typeof StoredReading.static;

export const DeviceId = t.String({ pattern: DEVICE_ID.source, description: "device id", examples: ["line-1"] });
export const DeviceParams = t.Object({ device: DeviceId });

export const DeviceSummary = t.Object({
  device: t.String(),
  state: t.Union([t.Literal("online"), t.Literal("silent"), t.Literal("idle")], {
    description: "online: posting; silent: its cycle is open but no reading for BOARD_SILENT_SECONDS; idle: no cycle open",
  }),
  cip_id: t.Integer({ description: "current cleaning cycle" }),
  cycle_started: t.String({ description: "when the current cycle's first reading arrived" }),
  last_seen: t.String({ description: "when the latest reading arrived" }),
  latest: StoredReading,
});
export type DeviceSummary = typeof DeviceSummary.static;
export const DeviceList = t.Object({ devices: t.Array(DeviceSummary) });
