// The admin API for boards: per-device keys (made, listed, revoked without a restart) and the devices
// of keyless boards by address. Needs an ADMIN_KEY (with none set: this machine only).
import { Elysia } from "elysia";
import { isIP } from "node:net";
import type { Services } from "../../services";
import { jsonBody } from "../../body";
import { ApiError, ErrorBody } from "../../errors";
import { guard } from "../../http";
import { AddressBody, AddressList, AddressParams, AddressView, CreatedDeviceKey, DeviceKeyList, DeviceKeyView, KeyParams, NewDeviceKey } from "./model";

const errors = { 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody };

export function boardRoutes(s: Services) {
  const { keys, addresses } = s.boards;
  const address = (text: string) => {
    if (isIP(text) === 0) throw new ApiError(422, "invalid_address", `"${text.slice(0, 60)}" is not an IPv4 or IPv6 address.`, [{ field: "address", message: "must be an IP address" }]);
    return text;
  };
  return new Elysia({ name: "boards", prefix: "/api/admin" })
    .guard({ beforeHandle: guard(s.auth, "admin") })
    .get("/keys", () => ({ keys: keys.list() }), {
      response: { 200: DeviceKeyList, ...errors },
      detail: { summary: "Every device key (ids, devices, labels; never the keys)", tags: ["admin"] },
    })
    .post(
      "/keys",
      async ({ body, set }) => {
        const created = await keys.create(body.device, body.label ?? "");
        s.log.info("device key created", { id: created.id, device: created.device });
        set.status = 201;
        return created;
      },
      {
        body: NewDeviceKey,
        parse: jsonBody(),
        response: { 201: CreatedDeviceKey, ...errors },
        detail: {
          summary: "Make a key that posts only for one device",
          description: "The key is in this answer only: store it in the board's build settings (as X-API-Key, API-Key or ?api-key=).",
          tags: ["admin"],
        },
      },
    )
    .delete(
      "/keys/:id",
      async ({ params }) => {
        const revoked = await keys.revoke(params.id);
        if (!revoked) throw new ApiError(404, "no_such_key", `There is no device key "${params.id}".`);
        s.log.info("device key revoked", { id: revoked.id, device: revoked.device });
        return revoked;
      },
      { params: KeyParams, response: { 200: DeviceKeyView, ...errors }, detail: { summary: "Revoke a device key, at once", tags: ["admin"] } },
    )
    .get("/addresses", () => ({ addresses: addresses.list() }), {
      response: { 200: AddressList, ...errors },
      detail: { summary: "Devices named by board address (DEVICE_ADDRESSES and this API)", tags: ["admin"] },
    })
    .put("/addresses/:address", ({ params, body }) => addresses.set(address(params.address), body.device), {
      params: AddressParams,
      body: AddressBody,
      parse: jsonBody(),
      response: { 200: AddressView, ...errors },
      detail: { summary: "Name the device of the board at an address (for boards posting to /sensor_data)", tags: ["admin"] },
    })
    .delete(
      "/addresses/:address",
      async ({ params }) => {
        const result = await addresses.remove(address(params.address));
        if (result === "config") throw new ApiError(409, "set_in_config", `${params.address} is named in DEVICE_ADDRESSES; remove it there.`);
        if (result === "absent") throw new ApiError(404, "no_such_address", `No device is named for ${params.address}.`);
        return { addresses: addresses.list() };
      },
      { params: AddressParams, response: { 200: AddressList, ...errors }, detail: { summary: "Forget the device of an address", tags: ["admin"] } },
    );
}
