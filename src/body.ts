// JSON request bodies, read by us rather than by the framework so that each way a body can be
// wrong gets its own clear answer: too large (413), not JSON (415), not parseable (400, naming the
// `nan`/`inf` a failed sensor prints).
import { ApiError, type ErrorDetail } from "./errors";

export function isJsonType(contentType: string | null): boolean {
  if (!contentType) return false;
  const type = contentType.split(";", 1)[0]!.trim().toLowerCase();
  return type === "application/json" || type.endsWith("+json");
}

export function tooLarge(maxBytes: number): ApiError {
  return new ApiError(413, "body_too_large", `The body is larger than ${maxBytes} bytes (MAX_BODY_BYTES).`);
}

/** Deeper nesting than any reading needs; refused before parsing, so a hostile body costs one scan. */
export const MAX_DEPTH = 16;

/** The deepest bracket nesting in a JSON text (strings skipped), stopping as soon as it passes `limit`. */
export function nestingDepth(text: string, limit = MAX_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}

const NOT_A_NUMBER = /"([^"\\]{1,64})"\s*:\s*[-+]?(nan|inf(inity)?)\b/gi;

export async function readJson(request: Request, maxBytes: number): Promise<unknown> {
  // Refused on the declared length, before the body is read.
  if (Number(request.headers.get("content-length")) > maxBytes) throw tooLarge(maxBytes);
  if (!isJsonType(request.headers.get("content-type"))) {
    throw new ApiError(415, "unsupported_media_type", "Send the body as JSON with the header Content-Type: application/json.");
  }
  const text = await request.text();
  if (text.length > maxBytes && Buffer.byteLength(text) > maxBytes) throw tooLarge(maxBytes);
  if (nestingDepth(text) > MAX_DEPTH) {
    throw new ApiError(400, "too_deep", `The JSON is nested deeper than ${MAX_DEPTH} levels; a reading is one flat object (or an array of them).`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    const details: ErrorDetail[] = [...text.matchAll(NOT_A_NUMBER)].map((m) => ({
      field: m[1]!,
      message: `"${m[2]}" is not a number JSON can carry: the sensor may have failed`,
    }));
    const reason = error instanceof Error ? error.message : String(error);
    throw new ApiError(
      400,
      "malformed_json",
      details.length > 0
        ? `The body is not valid JSON: ${details.map((d) => d.field).join(", ")} ${details.length > 1 ? "are" : "is"} not a number (nan/inf). Check the sensor.`
        : `The body is not valid JSON (${reason}).`,
      details.length > 0 ? details : undefined,
    );
  }
}
