// Who may do what. Three roles: `ingest` (boards; shared keys from API_KEY, per-device keys from the
// admin API, or no key from INGEST_NETWORKS), `read` (dashboards, streams; API_KEY_WS) and `admin`
// (device keys and addresses; ADMIN_KEY). A role with no key configured answers loopback peers only,
// unless ALLOW_UNAUTHENTICATED=true opens it on purpose (DESIGN §3, protected mode); admin is never
// opened that way.
import { timingSafeEqual } from "node:crypto";
import type { Config } from "./config";
import { ApiError } from "./errors";
import type { Networks } from "./networks";

export type Role = "ingest" | "read" | "admin";
export type RoleMode = "key" | "open" | "loopback";

export const digest = (text: string) => new Bun.CryptoHasher("sha256").update(text).digest();

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.");
}

/** Per-device keys, looked up by the SHA-256 of the key (only the hash is kept). */
export interface DeviceKeyLookup {
  find(hash: string): { id: string; device: string } | undefined;
  count(): number;
}

/** Who posted: `key` counts streams and rate (empty when no key was used); `device` binds a device key to its device. */
export interface Caller {
  key: string;
  device?: string;
}

/** The peer's address, asked for only when a decision needs it (it costs a syscall). */
export type Peer = () => string | undefined;

export interface Auth {
  mode(role: Role): RoleMode;
  /** Throws ApiError 401/403 unless the request may act in `role`; returns the key used ("" if none). */
  check(role: Role, key: string | null | undefined, peer: Peer): string;
  /** The ingest check, saying also which device a device key is bound to. */
  ingest(key: string | null | undefined, peer: Peer): Caller;
}

const VARIABLE: Record<Role, string> = { ingest: "API_KEY", read: "API_KEY_WS", admin: "ADMIN_KEY" };

export function createAuth(
  config: Pick<Config, "apiKeys" | "readKeys" | "adminKeys" | "allowUnauthenticated">,
  deps: { deviceKeys?: DeviceKeyLookup; networks?: Networks } = {},
): Auth {
  // Comparing digests gives equal-length buffers, so the comparison time says nothing about the key.
  const hashes: Record<Role, Buffer[]> = {
    ingest: config.apiKeys.map(digest),
    read: config.readKeys.map(digest),
    admin: config.adminKeys.map(digest),
  };
  const { deviceKeys, networks } = deps;
  /** Whether the presented key's digest is one of the role's keys: every key compared, in constant time. */
  const matches = (role: Role, presented: Buffer) => {
    let match = false;
    for (const hash of hashes[role]) match = timingSafeEqual(hash, presented) || match;
    return match;
  };
  const hasKeys = (role: Role) => hashes[role].length > 0 || (role === "ingest" && (deviceKeys?.count() ?? 0) > 0);
  const mode = (role: Role): RoleMode => (hasKeys(role) ? "key" : config.allowUnauthenticated && role !== "admin" ? "open" : "loopback");

  const refuse = (role: Role): never => {
    throw new ApiError(
      403,
      "loopback_only",
      `No ${VARIABLE[role]} is configured, so this server answers only clients on its own machine. ` +
        `Set ${VARIABLE[role]}=<key> (and send it as X-API-Key)${role === "admin" ? "" : ", or ALLOW_UNAUTHENTICATED=true to accept anyone"}.`,
    );
  };
  const missing = (role: Role): never => {
    const where = role === "ingest" ? "the X-API-Key (or API-Key) header or the api-key query parameter" : "the X-API-Key header or the api-key query parameter";
    throw new ApiError(401, "missing_api_key", `This route needs a key from ${VARIABLE[role]}${role === "ingest" ? " or a device key" : ""}: send it in ${where}.`);
  };

  const ingest = (key: string | null | undefined, peer: Peer): Caller => {
    if (!key || !hasKeys("ingest")) {
      // Keyless boards: from a trusted network, or as protected mode allows.
      if (networks && networks.size > 0 && networks.contains(peer())) return { key: "" };
      const m = mode("ingest");
      if (m === "open") return { key: "" };
      if (m === "loopback") return isLoopback(peer()) ? { key: "" } : refuse("ingest");
      return missing("ingest");
    }
    const presented = digest(key);
    if (matches("ingest", presented)) return { key };
    // A device key is found by its hash: a map look-up over digests reveals nothing about the key.
    const found = deviceKeys?.find(presented.toString("hex"));
    if (found) return { key, device: found.device };
    throw new ApiError(401, "invalid_api_key", "The API key is not one of API_KEY, nor a device key that is still valid.");
  };

  return {
    mode,
    ingest,
    check(role, key, peer) {
      if (role === "ingest") return ingest(key, peer).key;
      const m = mode(role);
      if (m === "open") return "";
      if (m === "loopback") return isLoopback(peer()) ? "" : refuse(role);
      if (!key) return missing(role);
      if (!matches(role, digest(key))) throw new ApiError(401, "invalid_api_key", `The API key is not one of ${VARIABLE[role]}.`);
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
