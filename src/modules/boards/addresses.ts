// Which device a keyless legacy board is, by its network address: from DEVICE_ADDRESSES, or set at run
// time through the admin API (kept in the history database). Boards posting to /sensor_data then no
// longer all land on DEFAULT_DEVICE.
import type { Peer } from "../../auth";
import { canonicalAddress } from "../../networks";
import type { Store } from "../../store/types";
import type { AddressView } from "./model";

export interface Addresses {
  load(): Promise<void>;
  /** The device named for the peer's address; the address is looked up only if any is named. */
  deviceOf(peer: Peer): string | undefined;
  list(): AddressView[];
  set(address: string, device: string): Promise<AddressView>;
  /** Removes an address set through the admin API: "removed", "absent", or "config" (set in DEVICE_ADDRESSES). */
  remove(address: string): Promise<"removed" | "absent" | "config">;
}

export function createAddresses(deps: { configured: Record<string, string>; store: Store }): Addresses {
  const configured = new Map(Object.entries(deps.configured));
  const admin = new Map<string, string>();
  const lookup = new Map(configured);
  const rebuild = () => {
    lookup.clear();
    for (const [address, device] of admin) lookup.set(address, device);
    // The configuration file wins over the API: what the plant wrote down is what holds.
    for (const [address, device] of configured) lookup.set(address, device);
  };
  return {
    async load() {
      for (const [address, device] of await deps.store.settings("device_address")) admin.set(address, device);
      rebuild();
    },
    deviceOf(peer) {
      if (lookup.size === 0) return undefined;
      const address = peer();
      return address === undefined ? undefined : lookup.get(canonicalAddress(address));
    },
    list: () =>
      [...lookup].map(([address, device]): AddressView => ({ address, device, source: configured.has(address) ? "config" : "admin" }))
        .sort((a, b) => a.address.localeCompare(b.address)),
    async set(address, device) {
      const canonical = canonicalAddress(address);
      await deps.store.putSetting("device_address", canonical, device);
      admin.set(canonical, device);
      rebuild();
      return { address: canonical, device: lookup.get(canonical)!, source: configured.has(canonical) ? "config" : "admin" };
    },
    async remove(address) {
      const canonical = canonicalAddress(address);
      if (configured.has(canonical)) return "config";
      if (!admin.has(canonical)) return "absent";
      await deps.store.putSetting("device_address", canonical, null);
      admin.delete(canonical);
      rebuild();
      return "removed";
    },
  };
}
