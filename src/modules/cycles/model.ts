import { t } from "elysia";

export const CycleOpened = t.Object({
  device: t.String(),
  cip_id: t.Integer(),
  started_at: t.String(),
  seq: t.Integer(),
});
export type CycleOpened = typeof CycleOpened.static;

export const CycleClosed = t.Object({
  device: t.String(),
  cip_id: t.Integer(),
  started_at: t.String(),
  ended_at: t.String({ description: "time of the cycle's last reading" }),
  duration_s: t.Number(),
  readings: t.Integer(),
  seq: t.Integer(),
});
export type CycleClosed = typeof CycleClosed.static;
