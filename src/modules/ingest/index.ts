// Ingest routes: the original paths for the default device, and per-device readings (one or a batch).
import { Elysia, t } from "elysia";
import type { Services } from "../../app";
import { readJson } from "../../body";
import { ErrorBody } from "../../errors";
import { json, peerOf, presentedKey } from "../../http";
import { ApiError } from "../../errors";
import { createRateLimiter } from "../../limits";
import type { Server } from "bun";
import { DeviceParams, ReadingInput, StoredReading } from "../readings/model";
import { ReadingBatch } from "./model";

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 413: ErrorBody, 415: ErrorBody, 422: ErrorBody, 429: ErrorBody };

const INGEST_PATH = /^\/(api\/)?sensor_data$|^\/api\/devices\/[^/]+\/readings$/;
export const isIngestPath = (path: string) => INGEST_PATH.test(path);

export function ingestRoutes(s: Services) {
  // When each request's body started to be read, for the ingest latency histogram.
  const started = new WeakMap<Request, number>();
  const parse = ({ request }: { request: Request }) => {
    started.set(request, performance.now());
    return readJson(request, s.config.maxBodyBytes);
  };
  const reply = (request: Request, jsons: string[], one: boolean) => {
    const t0 = started.get(request);
    if (t0 !== undefined) s.metrics.ingestSeconds((performance.now() - t0) / 1000);
    return json(one ? jsons[0]! : `[${jsons.join(",")}]`, 201);
  };
  // One box answers synchronously; with BUS_URL the answer waits for Redis to number the readings.
  const created = (request: Request, accepted: string[] | Promise<string[]>, one = true) =>
    Array.isArray(accepted) ? reply(request, accepted, one) : accepted.then((jsons) => reply(request, jsons, one));
  // Key first, then the device's and the key's rate: a flood from one board never starves the others.
  const perDevice = createRateLimiter(s.config.ratePerDevice, s.clock.now);
  const perKey = createRateLimiter(s.config.ratePerKey, s.clock.now);
  const beforeHandle = ({ request, server, query, params }: { request: Request; server: Server<unknown> | null; query: Record<string, unknown>; params?: Record<string, string> }) => {
    const key = s.auth.check("ingest", presentedKey("ingest", request, query), peerOf(server, request));
    const device = params?.device ?? s.config.defaultDevice;
    const wait = Math.max(perDevice.take(device), key === "" ? 0 : perKey.take(key));
    if (wait > 0) {
      throw new ApiError(
        429,
        "rate_limited",
        `Too many requests for device "${device}" (RATE_LIMIT_PER_DEVICE=${s.config.ratePerDevice}/s, RATE_LIMIT_PER_KEY=${s.config.ratePerKey}/s). Retry after the Retry-After seconds.`,
        undefined,
        { "retry-after": String(Math.max(1, Math.ceil(wait))) },
      );
    }
  };
  const legacy = (path: string) =>
    ({
      body: ReadingInput,
      parse,
      beforeHandle,
      response: { 201: StoredReading, ...errors },
      detail: {
        summary: `Post a reading for the default device (${path})`,
        description: "The path the original boards use. Needs an ingest key (X-API-Key) when API_KEY is set.",
        tags: ["ingest"],
      },
    });

  return new Elysia({ name: "ingest" })
    .post("/sensor_data", ({ body, request }) => created(request, s.ingest.accept(s.config.defaultDevice, [body])), legacy("/sensor_data"))
    .post("/api/sensor_data", ({ body, request }) => created(request, s.ingest.accept(s.config.defaultDevice, [body])), legacy("/api/sensor_data"))
    .post(
      "/api/devices/:device/readings",
      ({ body, params, request }) => {
        if (!Array.isArray(body)) return created(request, s.ingest.accept(params.device, [body]));
        return created(request, s.ingest.accept(params.device, body), false);
      },
      {
        params: DeviceParams,
        body: ReadingBatch,
        parse,
        beforeHandle,
        response: { 201: t.Union([StoredReading, t.Array(StoredReading)]), ...errors },
        detail: {
          summary: "Post one reading or a batch for a device",
          description: "One reading, or a JSON array of up to 1,000 stored all-or-nothing. Answers with the stored reading(s).",
          tags: ["ingest"],
        },
      },
    );
}
