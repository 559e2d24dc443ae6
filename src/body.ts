// JSON request bodies, read by us rather than by the framework so that each way a body can be
// wrong gets its own clear answer: too large (413, however it is sent), not JSON (415), not
// parseable (400). The `nan`/`inf` a failed sensor prints is read as null, not refused.
import { ApiError } from "./errors";

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

/**
 * What a board's printf gives for a failed sensor (`nan`, `-nan`, `inf`, `-inf`, also `nan(ind)`) where
 * a number belongs. Not JSON, but the other values of the reading are good: such a value is read as
 * null (the sensor failed) rather than refusing the whole reading.
 */
const FAILED_SENSOR = /([:[,]\s*)[-+]?(?:nan|inf(?:inity)?)(?:\([a-z0-9]*\))?(?=\s*[,}\]])/gi;

/** The body as JSON, with a failed sensor's nan/inf read as null; anything else that is not JSON is a 400. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const repaired = text.replace(FAILED_SENSOR, "$1null");
    if (repaired !== text) {
      try {
        return JSON.parse(repaired);
      } catch {
        // not only a failed sensor: fall through to the 400
      }
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw new ApiError(400, "malformed_json", `The body is not valid JSON (${reason}).`);
  }
}

/** The body as text; a chunked one is read as it arrives, stopping with 413 as soon as it passes `maxBytes`. */
async function readText(request: Request, maxBytes: number): Promise<string> {
  // A declared length was checked already, and Bun reads no more than it: the cheap way (every board).
  if (request.headers.has("content-length")) return request.text();
  const body = request.body;
  if (!body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > maxBytes) throw tooLarge(maxBytes);
    chunks.push(chunk);
  }
  return chunks.length === 1 ? new TextDecoder().decode(chunks[0]) : Buffer.concat(chunks).toString("utf8");
}

export async function readJson(request: Request, maxBytes: number): Promise<unknown> {
  // Refused on the declared length, before the body is read.
  if (Number(request.headers.get("content-length")) > maxBytes) throw tooLarge(maxBytes);
  if (!isJsonType(request.headers.get("content-type"))) {
    throw new ApiError(415, "unsupported_media_type", "Send the body as JSON with the header Content-Type: application/json.");
  }
  const text = await readText(request, maxBytes);
  if (nestingDepth(text) > MAX_DEPTH) {
    throw new ApiError(400, "too_deep", `The JSON is nested deeper than ${MAX_DEPTH} levels; a reading is one flat object (or an array of them).`);
  }
  return parseJson(text);
}

/** Bodies of the small settings and admin routes: a few fields, never more than this. */
export const SMALL_BODY_BYTES = 16 * 1024;

/** A parse hook reading JSON with our limits and errors (Bun's own body limit is lifted, so every body route needs one). */
export const jsonBody = (maxBytes = SMALL_BODY_BYTES) => ({ request }: { request: Request }) => readJson(request, maxBytes);
