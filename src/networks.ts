// Network addresses: which networks may post without a key (INGEST_NETWORKS), and the one spelling of
// a peer's address used to look up its device (DEVICE_ADDRESSES), whether Bun reports it as IPv4 or
// as IPv4-mapped IPv6. Matching is node:net's BlockList, not hand-written bit arithmetic.
import { BlockList, isIP } from "node:net";

/** `10.0.5.0/24` → its parts, or undefined if it is not a network in CIDR form (a bare address is /32 or /128). */
export function parseNetwork(cidr: string): { address: string; prefix: number; family: "ipv4" | "ipv6" } | undefined {
  const [address, bits, extra] = cidr.trim().split("/");
  const version = isIP(address ?? "");
  if (extra !== undefined || version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (!/^\d+$/.test(bits ?? String(max)) || prefix > max) return undefined;
  return { address: address!, prefix, family: version === 4 ? "ipv4" : "ipv6" };
}

/** `::ffff:10.0.5.21` and `10.0.5.21` are one board: the IPv4 spelling is kept. */
export function canonicalAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return (mapped ? mapped[1]! : address).toLowerCase();
}

export interface Networks {
  readonly size: number;
  contains(address: string | undefined): boolean;
}

export function createNetworks(cidrs: readonly string[]): Networks {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const network = parseNetwork(cidr);
    if (network) list.addSubnet(network.address, network.prefix, network.family);
  }
  return {
    size: cidrs.length,
    contains(address) {
      if (!address || cidrs.length === 0) return false;
      const canonical = canonicalAddress(address);
      const version = isIP(canonical);
      return version !== 0 && list.check(canonical, version === 4 ? "ipv4" : "ipv6");
    },
  };
}
