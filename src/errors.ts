// The one error shape of the API (DESIGN §3): {"error": code, "message": sentence, "details": [...]},
// for our own refusals and for Elysia's parse, validation and not-found errors alike.
import { t, ValidationError } from "elysia";
import type { TSchema } from "@sinclair/typebox";
import { Value, type ValueError } from "@sinclair/typebox/value";

export const ErrorDetail = t.Object({ field: t.String(), message: t.String() });
export const ErrorBody = t.Object(
  {
    error: t.String({ description: "machine-readable code, e.g. invalid_reading" }),
    message: t.String({ description: "a sentence a person can act on" }),
    details: t.Optional(t.Array(ErrorDetail)),
  },
  { description: "Every error has this shape" },
);
export type ErrorBody = typeof ErrorBody.static;
export type ErrorDetail = typeof ErrorDetail.static;

/** A refusal we decide on: status, code and message travel together to the client and the log. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: ErrorDetail[],
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
  body(): ErrorBody {
    return this.details ? { error: this.code, message: this.message, details: this.details } : { error: this.code, message: this.message };
  }
}

export function jsonResponse(status: number, body: unknown, headers?: Record<string, string>): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** `/3/temperature` → `[3].temperature`; the root is `body`. */
function fieldName(path: string, on: string): string {
  if (path === "" || path === "/") return on;
  return path
    .split("/")
    .slice(1)
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part}`))
    .join("")
    .replace(/^\./, "");
}

/**
 * Errors of a value against a schema, one per field. A union's bare "Expected union value" is
 * replaced by the errors of the branch that came closest (the one whose errors lie deepest), so a
 * batch of readings still names `[3].temperature`.
 */
export function describeErrors(errors: Iterable<ValueError>, on: string, seen = new Set<string>()): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  for (const error of errors) {
    if (error.errors.length > 0) {
      const branches = error.errors.map((branch) => [...branch]);
      const depth = (branch: ValueError[]) => Math.max(...branch.map((e) => e.path.split("/").length));
      const best = branches.reduce((a, b) => (depth(b) > depth(a) ? b : a));
      details.push(...describeErrors(best, on, seen));
      continue;
    }
    const field = fieldName(error.path, on);
    if (seen.has(field)) continue; // TypeBox reports a missing field twice (required, then type)
    seen.add(field);
    details.push({ field, message: error.message === "Expected required property" ? "is required" : error.message });
    if (details.length >= 20) break;
  }
  return details;
}

export function validationDetails(error: Readonly<ValidationError>): ErrorDetail[] {
  const schema = (error.validator as { schema?: TSchema } | undefined)?.schema;
  if (schema) return describeErrors(Value.Errors(schema, error.value), error.type);
  return error.all.map((e) => ({ field: "path" in e ? String(e.path) : error.type, message: e.summary ?? "invalid" }));
}
