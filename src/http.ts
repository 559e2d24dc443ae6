// Small request helpers shared by the feature routes.
import type { Server } from "bun";
import type { Auth, Peer, Role } from "./auth";

type Query = Record<string, unknown>;
type Ctx = { request: Request; server: Server<unknown> | null; query: Query };

export function peerOf(server: Server<unknown> | null, request: Request): string | undefined {
  return server?.requestIP(request)?.address;
}

/** The peer's address, looked up only if a decision needs it. */
export const lazyPeer = (server: Server<unknown> | null, request: Request): Peer => () => peerOf(server, request);

/**
 * The key a client presented: the X-API-Key header, the `API-Key` header of older board firmware
 * (HTTP header names are case-blind, so `x-api-key` too), or the `api-key` query parameter, which is
 * how a board whose firmware sends no key header carries one in its TARGET_PATH.
 */
export function presentedKey(request: Request, query: Query): string | null {
  const headers = request.headers;
  const fromQuery = query["api-key"];
  return headers.get("x-api-key") ?? headers.get("api-key") ?? (typeof fromQuery === "string" ? fromQuery : null);
}

/** A beforeHandle hook that lets the request through only if it may act in `role`. */
export function guard(auth: Auth, role: Role) {
  return ({ request, server, query }: Ctx): void => {
    auth.check(role, presentedKey(request, query), lazyPeer(server, request));
  };
}

export function json(text: string, status = 200): Response {
  return new Response(text, { status, headers: { "content-type": "application/json" } });
}

/** Pages load only from this server; inline styles are allowed for the API reference's theme. */
export const PAGE_HEADERS = {
  "content-security-policy":
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
} as const;

/** An onAfterHandle hook that gives a browser page its security headers (only pages: not the hot path). */
export function pageHeaders({ set }: { set: { headers: Record<string, string | number> } }): void {
  Object.assign(set.headers, PAGE_HEADERS);
}
