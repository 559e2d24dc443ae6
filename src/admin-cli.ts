// `sensorflow keys …` and `sensorflow addresses …`: the admin API of the running server, from its own
// machine (no ADMIN_KEY needed there while none is set) or with --key. Changes take effect at once.
import type { Config } from "./config";

type Out = { stdout: (text: string) => void; stderr: (text: string) => void };

const USAGE = `usage:
  sensorflow keys add <device> [--label <text>]   make a key that posts only for <device> (shown once)
  sensorflow keys list                            every device key (ids and devices, never the keys)
  sensorflow keys revoke <id>                     refuse a key from now on
  sensorflow addresses list                       devices named by board address
  sensorflow addresses set <address> <device>     name the device of the board at <address>
  sensorflow addresses remove <address>
  (--url <server> defaults to this machine's; --key <admin key> defaults to the first ADMIN_KEY)`;

export async function adminCommand(args: string[], options: { url?: string; key?: string; label?: string }, config: Config, out: Out): Promise<number> {
  const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  const base = (options.url ?? `http://${host.includes(":") ? `[${host}]` : host}:${config.port}`).replace(/\/$/, "");
  const key = options.key ?? config.adminKeys[0];
  const call = async (method: string, path: string, body?: unknown) => {
    const headers: Record<string, string> = key ? { "x-api-key": key } : {};
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(`${base}/api/admin${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
    } catch (error) {
      throw new Error(`cannot reach the server at ${base} (${error instanceof Error ? error.message : error}); is it running? (--url)`);
    }
    const answer = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (!response.ok) throw new Error(String(answer.message ?? `the server answered ${response.status}`));
    return answer;
  };
  const table = (rows: Record<string, unknown>[], columns: string[]) => {
    if (rows.length === 0) return "(none)\n";
    const width = columns.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? "").length)));
    const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(width[i]!)).join("  ").trimEnd() + "\n";
    return line(columns) + rows.map((r) => line(columns.map((c) => String(r[c] ?? "")))).join("");
  };

  const [group, verb, ...rest] = args;
  try {
    if (group === "keys" && verb === "add" && rest.length === 1) {
      const made = await call("POST", "/keys", { device: rest[0], label: options.label ?? "" });
      out.stdout(`device key ${made.id} for ${made.device}:\n\n  ${made.key}\n\nIt is shown once: put it in the board's build settings now, as the X-API-Key or API-Key header,\nor in its TARGET_PATH: /api/devices/${made.device}/readings?api-key=${made.key}\n`);
      return 0;
    }
    if (group === "keys" && verb === "list" && rest.length === 0) {
      out.stdout(table(((await call("GET", "/keys")).keys as Record<string, unknown>[]), ["id", "device", "label", "created_at", "revoked_at"]));
      return 0;
    }
    if (group === "keys" && verb === "revoke" && rest.length === 1) {
      const revoked = await call("DELETE", `/keys/${encodeURIComponent(rest[0]!)}`);
      out.stdout(`device key ${revoked.id} for ${revoked.device} revoked at ${revoked.revoked_at}\n`);
      return 0;
    }
    if (group === "addresses" && verb === "list" && rest.length === 0) {
      out.stdout(table(((await call("GET", "/addresses")).addresses as Record<string, unknown>[]), ["address", "device", "source"]));
      return 0;
    }
    if (group === "addresses" && verb === "set" && rest.length === 2) {
      const set = await call("PUT", `/addresses/${encodeURIComponent(rest[0]!)}`, { device: rest[1] });
      out.stdout(`${set.address} → ${set.device}\n`);
      return 0;
    }
    if (group === "addresses" && verb === "remove" && rest.length === 1) {
      await call("DELETE", `/addresses/${encodeURIComponent(rest[0]!)}`);
      out.stdout(`${rest[0]} forgotten\n`);
      return 0;
    }
  } catch (error) {
    out.stderr(`sensorflow: ${error instanceof Error ? error.message : error}\n`);
    return 1;
  }
  out.stderr(USAGE + "\n");
  return 2;
}
