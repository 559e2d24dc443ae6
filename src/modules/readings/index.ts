// Latest-value routes. Never invents values: before a device's first reading the answer is 404.
import { Elysia } from "elysia";
import type { Services } from "../../services";
import { ApiError, ErrorBody } from "../../errors";
import { guard, json } from "../../http";
import { DeviceList, DeviceParams, StoredReading, type DeviceSummary } from "./model";

const errors = { 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 422: ErrorBody };

export function readingsRoutes(s: Services) {
  const beforeHandle = guard(s.auth, "read");
  const latestOf = (device: string) => {
    const latest = s.latest.get(device);
    if (!latest) throw new ApiError(404, "no_reading", `No reading has arrived from device "${device}" yet.`);
    return json(latest.json);
  };
  const legacy = (path: string) =>
    ({
      beforeHandle,
      response: { 200: StoredReading, ...errors },
      detail: { summary: `Latest reading of the default device (${path})`, tags: ["readings"] },
    });

  return new Elysia({ name: "readings" })
    .get("/sensor_data", () => latestOf(s.config.defaultDevice), legacy("/sensor_data"))
    .get("/api/sensor_data", () => latestOf(s.config.defaultDevice), legacy("/api/sensor_data"))
    .get(
      "/api/devices",
      () => {
        const now = s.clock.now();
        const devices: DeviceSummary[] = [];
        for (const [device, latest] of s.latest.devices()) {
          const cycle = s.cycles.get(device);
          if (!cycle) continue;
          devices.push({
            device,
            state: s.boards.state(device, now),
            cip_id: cycle.cipId,
            cycle_started: s.clock.iso(cycle.startedMs),
            last_seen: s.clock.iso(cycle.lastMs),
            latest: latest.reading,
          });
        }
        devices.sort((a, b) => a.device.localeCompare(b.device));
        return { devices };
      },
      {
        beforeHandle,
        response: { 200: DeviceList, ...errors },
        detail: { summary: "Every device with its state (online, silent, idle), latest reading, current cycle and last seen time", tags: ["readings"] },
      },
    )
    .get("/api/devices/:device/latest", ({ params }) => latestOf(params.device), {
      params: DeviceParams,
      beforeHandle,
      response: { 200: StoredReading, ...errors },
      detail: { summary: "Latest reading of a device", tags: ["readings"] },
    });
}
