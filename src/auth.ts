// Who may do what. Two roles: `ingest` (boards; keys from API_KEY) and `read` (dashboards, streams;
// keys from API_KEY_WS). A role with no key configured answers loopback peers only, unless
// ALLOW_UNAUTHENTICATED=true opens it on purpose (DESIGN §3, protected mode).
import { timingSafeEqual } from "node:crypto";
import type { Config } from "./config";
import { ApiError } from "./errors";

export type Role = "ingest" | "read";
export type RoleMode = "key" | "open" | "loopback";

const digest = (text: string) => new Bun.CryptoHasher("sha256").update(text).digest();

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.");
}

export interface Auth {
  mode(role: Role): RoleMode;
  /** Throws ApiError 401/403 unless the request may act in `role`; returns the key used ("" if none). */
  check(role: Role, key: string | null | undefined, peer: string | undefined): string;
}

export function createAuth(config: Pick<Config, "apiKeys" | "readKeys" | "allowUnauthenticated">): Auth {
  // Hashing first gives equal-length buffers, so the comparison time says nothing about the key.
  const hashes: Record<Role, Buffer[]> = {
    ingest: config.apiKeys.map(digest),
    read: config.readKeys.map(digest),
  };
  const variable: Record<Role, string> = { ingest: "API_KEY", read: "API_KEY_WS" };
  const mode = (role: Role): RoleMode =>
    hashes[role].length > 0 ? "key" : config.allowUnauthenticated ? "open" : "loopback";

  return {
    mode,
    check(role, key, peer) {
      const m = mode(role);
      if (m === "open") return "";
      if (m === "loopback") {
        if (isLoopback(peer)) return "";
        throw new ApiError(
          403,
          "loopback_only",
          `No ${variable[role]} is configured, so this server answers only clients on its own machine. ` +
            `Set ${variable[role]}=<key> (and send it as X-API-Key), or ALLOW_UNAUTHENTICATED=true to accept anyone.`,
        );
      }
      if (!key) {
        throw new ApiError(401, "missing_api_key", `This route needs a key from ${variable[role]}: send it in the X-API-Key header${role === "read" ? " or the api-key query parameter" : ""}.`);
      }
      const presented = digest(key);
      let match = false;
      for (const hash of hashes[role]) match = timingSafeEqual(hash, presented) || match;
      if (!match) throw new ApiError(401, "invalid_api_key", `The API key is not one of ${variable[role]}.`);
      return key;
    },
  };
}

/** Live streams (WebSocket + SSE together) per key, capped by MAX_WS_CONNECTIONS_PER_KEY. */
export interface StreamSlots {
  /** Takes a slot for `key`: "ok", or which cap refuses it. */
  acquire(key: string): "ok" | "key" | "total";
  release(key: string): void;
  count(): number;
}

export function createStreamSlots(maxPerKey: number, maxTotal = 0): StreamSlots {
  const perKey = new Map<string, number>();
  let total = 0;
  return {
    acquire(key) {
      const current = perKey.get(key) ?? 0;
      // Anonymous streams (loopback or open mode) have no key to count against.
      if (key !== "" && maxPerKey > 0 && current >= maxPerKey) return "key";
      if (maxTotal > 0 && total >= maxTotal) return "total";
      perKey.set(key, current + 1);
      total++;
      return "ok";
    },
    release(key) {
      const current = perKey.get(key) ?? 0;
      if (current <= 1) perKey.delete(key);
      else perKey.set(key, current - 1);
      if (current > 0) total--;
    },
    count: () => total,
  };
}
