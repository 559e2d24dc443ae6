// Ingest routes: the original paths (any firmware generation's body; the device comes from the body,
// the board's device key, its address, or DEFAULT_DEVICE), and per-device readings (one or a batch).
import { Elysia, t } from "elysia";
import type { Server } from "bun";
import type { Caller } from "../../auth";
import type { Services } from "../../services";
import { readJson } from "../../body";
import { ApiError, ErrorBody } from "../../errors";
import { json, lazyPeer, presentedKey } from "../../http";
import { createRateLimiter } from "../../limits";
import { DeviceParams, LegacyReadingInput, StoredReading, type Sample } from "../readings/model";
import { ReadingBatch } from "./model";
import { fromLegacy } from "./samples";

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 413: ErrorBody, 415: ErrorBody, 422: ErrorBody, 429: ErrorBody };

const INGEST_PATH = /^\/(api\/)?sensor_data$|^\/api\/devices\/[^/]+\/readings$/;
export const isIngestPath = (path: string) => INGEST_PATH.test(path);

type ParseContext = { request: Request; query: Record<string, unknown>; server: Server<unknown> | null };

export function ingestRoutes(s: Services) {
  // Per request, from the parse hook to the handler: when the body started to be read (for the
  // latency histogram) and who sent it.
  const callers = new WeakMap<Request, { caller: Caller; started: number }>();
  // The key is checked before the body is read: a stranger's body costs nothing.
  const parse = ({ request, query, server }: ParseContext) => {
    const caller = s.auth.ingest(presentedKey(request, query), lazyPeer(server, request));
    callers.set(request, { caller, started: performance.now() });
    return readJson(request, s.config.maxBodyBytes);
  };
  const reply = (request: Request, jsons: string[], one: boolean) => {
    const t0 = callers.get(request)?.started;
    if (t0 !== undefined) s.metrics.ingestSeconds((performance.now() - t0) / 1000);
    return json(one ? jsons[0]! : `[${jsons.join(",")}]`, 201);
  };
  // The device's and the key's rate: a flood from one board never starves the others.
  const perDevice = createRateLimiter(s.config.ratePerDevice, s.clock.now);
  const perKey = createRateLimiter(s.config.ratePerKey, s.clock.now);
  /** Stores the samples for `device` once the caller may post for it and is within its rate. */
  const accept = (request: Request, device: string, samples: readonly Sample[], one = true) => {
    const caller = callers.get(request)?.caller ?? { key: "" };
    if (caller.device !== undefined && caller.device !== device) {
      throw new ApiError(403, "device_key_mismatch", `This key belongs to device "${caller.device}" and cannot post for "${device}".`);
    }
    const wait = Math.max(perDevice.take(device), caller.key === "" ? 0 : perKey.take(caller.key));
    if (wait > 0) {
      throw new ApiError(
        429,
        "rate_limited",
        `Too many requests for device "${device}" (RATE_LIMIT_PER_DEVICE=${s.config.ratePerDevice}/s, RATE_LIMIT_PER_KEY=${s.config.ratePerKey}/s). Retry after the Retry-After seconds.`,
        undefined,
        { "retry-after": String(Math.max(1, Math.ceil(wait))) },
      );
    }
    // One box answers synchronously; with BUS_URL the answer waits for Redis to number the readings.
    const accepted = s.ingest.accept(device, samples);
    return Array.isArray(accepted) ? reply(request, accepted, one) : accepted.then((jsons) => reply(request, jsons, one));
  };
  /** The original paths: the body names the device, else the board's device key, its address, or DEFAULT_DEVICE. */
  const legacy = ({ body, request, server }: { body: LegacyReadingInput; request: Request; server: Server<unknown> | null }) => {
    const { sample, device } = fromLegacy(body);
    const keyDevice = callers.get(request)?.caller.device;
    return accept(request, device ?? keyDevice ?? s.boards.addresses.deviceOf(lazyPeer(server, request)) ?? s.config.defaultDevice, [sample]);
  };
  const legacyRoute = (path: string) => ({
    body: LegacyReadingInput,
    parse,
    response: { 201: StoredReading, ...errors },
    detail: {
      summary: `Post a reading (${path}, the original boards' path)`,
      description:
        "Takes every firmware generation's body. The device is the body's `device` or `sensor_id`, else the device of the board's " +
        "device key, else the device named for the board's address (DEVICE_ADDRESSES), else DEFAULT_DEVICE. The key may come as " +
        "X-API-Key, API-Key or ?api-key=; boards from INGEST_NETWORKS need none.",
      tags: ["ingest"],
    },
  });

  return new Elysia({ name: "ingest" })
    .post("/sensor_data", legacy, legacyRoute("/sensor_data"))
    .post("/api/sensor_data", legacy, legacyRoute("/api/sensor_data"))
    .post(
      "/api/devices/:device/readings",
      ({ body, params, request }) => (Array.isArray(body) ? accept(request, params.device, body, false) : accept(request, params.device, [body])),
      {
        params: DeviceParams,
        body: ReadingBatch,
        parse,
        response: { 201: t.Union([StoredReading, t.Array(StoredReading)]), ...errors },
        detail: {
          summary: "Post one reading or a batch for a device",
          description:
            "One reading, or a JSON array of up to 1,000 stored all-or-nothing. Answers with the stored reading(s). A failed sensor's " +
            "value (null, or nan/inf as printed by the board) is stored as null and listed in `faults`.",
          tags: ["ingest"],
        },
      },
    );
}
