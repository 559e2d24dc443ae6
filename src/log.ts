// One line per event: readable text by default, one JSON object per line with LOG_FORMAT=json.
// Callers never pass keys; fields are plain facts (reason, peer, path).
import type { Config } from "./config";

type Level = Config["logLevel"];
type Fields = Record<string, string | number | boolean | undefined>;
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
}

export type LogSink = (line: string) => void;

const stderrSink: LogSink = (line) => process.stderr.write(line + "\n");

export function createLogger(
  options: Pick<Config, "logLevel" | "logFormat">,
  sink: LogSink = stderrSink,
): Logger {
  const min = RANK[options.logLevel];
  const write = (level: Level, message: string, fields: Fields = {}) => {
    if (RANK[level] < min) return;
    const time = new Date().toISOString();
    if (options.logFormat === "json") {
      sink(JSON.stringify({ time, level, msg: message, ...fields }));
      return;
    }
    const extra = Object.entries(fields)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => `${key}=${typeof value === "string" && /\s/.test(value) ? JSON.stringify(value) : value}`)
      .join(" ");
    sink(`${time} ${level.toUpperCase().padEnd(5)} ${message}${extra ? " " + extra : ""}`);
  };
  return {
    debug: (message, fields) => write("debug", message, fields),
    info: (message, fields) => write("info", message, fields),
    warn: (message, fields) => write("warn", message, fields),
    error: (message, fields) => write("error", message, fields),
  };
}
