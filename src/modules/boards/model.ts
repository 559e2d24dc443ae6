import { t } from "elysia";
import { DeviceId } from "../readings/model";

export const DeviceKeyView = t.Object({
  id: t.String({ description: "the key's id: shown in lists and logs, never the key itself" }),
  device: t.String({ description: "the only device this key may post for" }),
  label: t.String(),
  created_at: t.String(),
  revoked_at: t.Union([t.String(), t.Null()]),
});
export type DeviceKeyView = typeof DeviceKeyView.static;
export const DeviceKeyList = t.Object({ keys: t.Array(DeviceKeyView) });
export const NewDeviceKey = t.Object({
  device: DeviceId,
  label: t.Optional(t.String({ maxLength: 200, description: "where the board is, who fitted it" })),
});
export const CreatedDeviceKey = t.Composite([
  DeviceKeyView,
  t.Object({ key: t.String({ description: "the key itself: shown this once, only its SHA-256 is kept" }) }),
]);
export type CreatedDeviceKey = typeof CreatedDeviceKey.static;
export const KeyParams = t.Object({ id: t.String({ pattern: "^[a-z0-9]{8}$" }) });

export const AddressView = t.Object({
  address: t.String({ description: "the board's IP address" }),
  device: t.String(),
  source: t.Union([t.Literal("config"), t.Literal("admin")], { description: "config: DEVICE_ADDRESSES; admin: set through this API" }),
});
export type AddressView = typeof AddressView.static;
export const AddressList = t.Object({ addresses: t.Array(AddressView) });
export const AddressParams = t.Object({ address: t.String({ maxLength: 45, description: "IPv4 or IPv6 address" }) });
export const AddressBody = t.Object({ device: DeviceId });
