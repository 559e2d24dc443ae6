// API documentation at /docs, readable with no internet: the reference UI's script is embedded in
// the executable and served by the server itself instead of a CDN (plants are often offline).
import { Elysia } from "elysia";
import { swagger } from "@elysiajs/swagger";
import { pageHeaders } from "./http";
import scalarBundle from "../node_modules/@scalar/api-reference/dist/browser/standalone.js" with { type: "file" };

const SCRIPT_PATH = "/docs/assets/api-reference.js";

export function docsRoutes(version: string, units: Record<string, string>) {
  return new Elysia({ name: "docs" })
    .onAfterHandle(pageHeaders)
    .get(SCRIPT_PATH, () => new Response(Bun.file(scalarBundle), {
      headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "public, max-age=86400" },
    }), { detail: { hide: true } })
    .use(
      swagger({
        path: "/docs",
        scalarCDN: SCRIPT_PATH,
        // No web fonts and no hosted helpers: everything comes from this server.
        scalarConfig: { withDefaultFonts: false },
        documentation: {
          info: {
            title: "SensorFlow API",
            version,
            description:
              "Real-time monitoring of Clean-in-Place cycles: readings from sensor boards, latest values per device, live WebSocket topics and Server-Sent Events.\n\n" +
              `Units on this server: ${Object.entries(units).map(([metric, unit]) => `${metric} in ${unit}`).join(", ")} (UNIT_TEMPERATURE, UNIT_PRESSURE, UNIT_CONCENTRATION, UNIT_FLOW).`,
          },
          tags: [
            { name: "ingest", description: "Readings from sensor boards" },
            { name: "readings", description: "Latest values per device" },
            { name: "history", description: "Readings over time and cleaning cycles" },
            { name: "validation", description: "Recipes, alarms and cycle reports (with RECIPES_FILE)" },
            { name: "stream", description: "Live WebSocket topics and Server-Sent Events" },
            { name: "health", description: "Service health" },
            { name: "admin", description: "Device keys and device addresses (ADMIN_KEY)" },
          ],
          components: {
            securitySchemes: { apiKey: { type: "apiKey", in: "header", name: "X-API-Key" } },
          },
        },
      }),
    );
}
