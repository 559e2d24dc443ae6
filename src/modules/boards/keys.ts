// Per-device keys: a board's own key posts only for its own device, so one leaked key cannot post as
// another circuit. Only the SHA-256 of a key is kept (in the history database); the key is shown
// once, when it is made. Looked up by that hash, in memory, on every post.
import { randomBytes } from "node:crypto";
import { digest } from "../../auth";
import type { Clock } from "../../clock";
import type { Store } from "../../store/types";
import type { CreatedDeviceKey, DeviceKeyView } from "./model";

interface Stored {
  device: string;
  label: string;
  hash: string;
  created_ms: number;
  revoked_ms: number | null;
}

export interface DeviceKeys {
  load(): Promise<void>;
  find(hash: string): { id: string; device: string } | undefined;
  /** Keys still valid. */
  count(): number;
  create(device: string, label: string): Promise<CreatedDeviceKey>;
  list(): DeviceKeyView[];
  /** Revokes a key at once; undefined if there is no such key. */
  revoke(id: string): Promise<DeviceKeyView | undefined>;
}

const ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789";

export function createDeviceKeys(deps: { store: Store; clock: Clock }): DeviceKeys {
  const { store, clock } = deps;
  const all = new Map<string, Stored>();
  const valid = new Map<string, { id: string; device: string }>();
  const view = (id: string, k: Stored): DeviceKeyView => ({
    id,
    device: k.device,
    label: k.label,
    created_at: clock.iso(k.created_ms),
    revoked_at: k.revoked_ms === null ? null : clock.iso(k.revoked_ms),
  });
  const put = (id: string, k: Stored) => {
    all.set(id, k);
    if (k.revoked_ms === null) valid.set(k.hash, { id, device: k.device });
    else valid.delete(k.hash);
  };

  return {
    async load() {
      for (const [id, value] of await store.settings("device_key")) put(id, JSON.parse(value) as Stored);
    },
    find: (hash) => valid.get(hash),
    count: () => valid.size,
    async create(device, label) {
      let id: string;
      do id = Array.from(randomBytes(8), (b) => ID_CHARS[b % ID_CHARS.length]).join("");
      while (all.has(id));
      // URL-safe, so a board can carry it in its TARGET_PATH (?api-key=…): 44 characters.
      const key = `sf_${id}_${randomBytes(24).toString("base64url")}`;
      const stored: Stored = { device, label, hash: digest(key).toString("hex"), created_ms: clock.now(), revoked_ms: null };
      await store.putSetting("device_key", id, JSON.stringify(stored));
      put(id, stored);
      return { ...view(id, stored), key };
    },
    list: () => [...all].map(([id, k]) => view(id, k)).sort((a, b) => a.device.localeCompare(b.device) || a.created_at.localeCompare(b.created_at)),
    async revoke(id) {
      const found = all.get(id);
      if (!found) return undefined;
      if (found.revoked_ms === null) {
        const revoked = { ...found, revoked_ms: clock.now() };
        await store.putSetting("device_key", id, JSON.stringify(revoked));
        put(id, revoked);
      }
      return view(id, all.get(id)!);
    },
  };
}
