// Every refusal in the one error shape (DESIGN §3): our own ApiErrors, and Elysia's parse, validation
// and not-found errors; anything else is a logged 500. Each refusal is logged with the peer's address
// (never a key) and counted when it refused a reading.
import type { Server } from "bun";
import { ValidationError } from "elysia";
import { ApiError, jsonResponse, validationDetails } from "./errors";
import { peerOf } from "./http";
import { isIngestPath } from "./modules/ingest";
import type { Services } from "./services";

interface ErrorContext {
  code: string | number;
  error: unknown;
  request: Request;
  server: Server<unknown> | null;
  path: string;
}

export function refusals(s: Pick<Services, "log" | "metrics">) {
  return ({ code, error, request, server, path }: ErrorContext): Response => {
    let refusal: ApiError;
    if (error instanceof ApiError) refusal = error;
    else if (code === "PARSE" && error instanceof Error && error.cause instanceof ApiError) refusal = error.cause;
    else if (code === "VALIDATION" && error instanceof ValidationError && error.type !== "response") {
      const details = validationDetails(error);
      const what = error.type === "params" ? "path" : error.type;
      refusal = new ApiError(
        422,
        "invalid_" + what,
        `The ${what} does not match the schema: ${details.map((d) => `${d.field} (${d.message})`).join("; ")}.`,
        details,
      );
    } else if (code === "PARSE") refusal = new ApiError(400, "malformed_body", "The body could not be read as JSON.");
    else if (code === "NOT_FOUND") refusal = new ApiError(404, "not_found", `There is no ${request.method} ${path}. The API is listed at /docs.`);
    else {
      s.log.error("request failed", { method: request.method, path, error: String(error) });
      return jsonResponse(500, { error: "internal", message: "The server failed to handle this request; it is logged." });
    }
    if (request.method === "POST" && isIngestPath(path)) s.metrics.rejected(refusal.code);
    s.log.warn("request rejected", { status: refusal.status, reason: refusal.code, method: request.method, path, peer: peerOf(server, request) });
    return jsonResponse(refusal.status, refusal.body(), refusal.headers);
  };
}
