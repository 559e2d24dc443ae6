// Server time: the receive instant of a reading, formatted as ISO 8601 with milliseconds and the
// UTC offset of the configured zone. The offset is computed with Intl once per quarter hour (zones
// change offset only on such boundaries), so the hot path does date arithmetic, not Intl.
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** `2024-01-15T10:30:00.000-03:00` for the configured zone. */
  iso(ms: number): string;
}

const QUARTER_HOUR = 15 * 60 * 1000;

export function offsetMinutes(timezone: string, ms: number): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: timezone,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    second: "numeric",
  }).formatToParts(ms);
  const get = (type: string) => Number(parts.find((part) => part.type === type)?.value);
  const local = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
  return Math.round((local - Math.floor(ms / 1000) * 1000) / 60000);
}

function formatOffset(minutes: number): string {
  if (minutes === 0) return "+00:00";
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

export function createClock(timezone: string, now: () => number = Date.now): Clock {
  let window = -1;
  let offsetMs = 0;
  let suffix = "+00:00";
  return {
    now,
    iso(ms) {
      const w = Math.floor(ms / QUARTER_HOUR);
      if (w !== window) {
        const minutes = offsetMinutes(timezone, ms);
        window = w;
        offsetMs = minutes * 60000;
        suffix = formatOffset(minutes);
      }
      // toISOString of the shifted instant gives the local wall time; swap its Z for the offset.
      return new Date(ms + offsetMs).toISOString().slice(0, -1) + suffix;
    },
  };
}
