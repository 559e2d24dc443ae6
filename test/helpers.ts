// Shared test helpers: start the real app on port 0, and talk to it as devices and dashboards do.
import { createApp, type AppOptions } from "../src/app";
import { loadConfig, type Env } from "../src/config";
import { createLogger } from "../src/log";
import { SQL } from "bun";
import { tool } from "./needs";

export const INGEST_KEY = "board-key-1";
export const READ_KEY = "screen-key-1";

/** The firmware's exact body (DESIGN §2): printf("%.2f") with a space before "flow". */
export const FIRMWARE_BODY = '{"temperature":75.50,"pressure":2.30,"concentration":0.80, "flow":1.20}';
export const READING = { temperature: 75.5, pressure: 2.3, concentration: 0.8, flow: 1.2 };

export interface Running {
  url: string;
  ws: string;
  port: number;
  logs: string[];
  services: Awaited<ReturnType<typeof createApp>>["services"];
  /** Moves the server's clock forward. */
  advance(ms: number): void;
  stop(): Promise<void>;
}

/**
 * Starts the app in this process on port 0. Its clock stands still at `clockAt` (default
 * 2024-01-15T13:30:00Z) and moves only by `advance`, so no test depends on how fast the machine is.
 */
export async function start(
  env: Env = {},
  { clockAt, ...options }: AppOptions & { clockAt?: number } = {},
  listen: { idleTimeout?: number; hostname?: string } = {},
): Promise<Running> {
  const config = loadConfig({
    API_KEY: INGEST_KEY,
    API_KEY_WS: READ_KEY,
    TIMEZONE: "America/Sao_Paulo",
    LOG_LEVEL: "debug",
    STORAGE: "memory",
    // The test clock stands still unless a test moves it, so rate limits are off unless a test turns them on.
    RATE_LIMIT_PER_DEVICE: "0",
    RATE_LIMIT_PER_KEY: "0",
    ...env,
  });
  let now = clockAt ?? Date.parse("2024-01-15T13:30:00.000Z");
  const logs: string[] = [];
  const { app, services, closed } = await createApp(config, {
    now: () => now,
    log: createLogger(config, (line) => logs.push(line)),
    ...options,
  });
  app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false, ...listen });
  const port = app.server!.port!;
  return {
    url: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}`,
    port,
    logs,
    services,
    advance: (ms) => void (now += ms),
    stop: async () => {
      await app.stop(true);
      await closed();
    },
  };
}

export function post(url: string, body: unknown, key: string | null = INGEST_KEY): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (key) headers["x-api-key"] = key;
  return fetch(url, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
}

export function get(url: string, key: string | null = READ_KEY): Promise<Response> {
  return fetch(url, { headers: key ? { "x-api-key": key } : {} });
}

/** Sends raw bytes over a new TCP connection and returns everything the server answers until it closes. */
export async function rawHttp(port: number, bytes: string, timeoutMs = 15_000): Promise<string> {
  const chunks: Uint8Array[] = [];
  const { promise, resolve, reject } = Promise.withResolvers<string>();
  const timer = setTimeout(() => reject(new Error(`no close within ${timeoutMs} ms; got: ${Buffer.concat(chunks)}`)), timeoutMs);
  await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      open: (socket) => void socket.write(bytes),
      data: (_socket, data) => void chunks.push(new Uint8Array(data)),
      close: () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks).toString("latin1"));
      },
      error: (_socket, error) => reject(error),
    },
  });
  return promise;
}

export function firmwareRequest(path: string, body = FIRMWARE_BODY, key = INGEST_KEY): string {
  return (
    `POST ${path} HTTP/1.1\r\nHost: 192.168.0.10\r\nContent-Type: application/json\r\n` +
    `X-API-Key: ${key}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`
  );
}

export type Frame = Record<string, unknown>;

/** A WebSocket client that queues what it receives, so a test can await the next frame. */
export class WsClient {
  readonly socket: WebSocket;
  private frames: Frame[] = [];
  private waiters: ((frame: Frame) => void)[] = [];
  closed: Promise<{ code: number; reason: string }>;
  opened: Promise<void>;

  constructor(url: string) {
    this.socket = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      this.socket.addEventListener("open", () => resolve(), { once: true });
      this.socket.addEventListener("error", () => reject(new Error(`cannot open ${url}`)), { once: true });
    });
    this.closed = new Promise((resolve) =>
      this.socket.addEventListener("close", (event) => resolve({ code: event.code, reason: event.reason }), { once: true }),
    );
    this.socket.addEventListener("message", (event) => {
      const frame = JSON.parse(String(event.data)) as Frame;
      const waiter = this.waiters.shift();
      if (waiter) waiter(frame);
      else this.frames.push(frame);
    });
  }

  // Waits end when the frame comes: the bounds are generous so a loaded machine is not a failure.
  next(timeoutMs = 15_000): Promise<Frame> {
    const frame = this.frames.shift();
    if (frame) return Promise.resolve(frame);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no frame within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (f: Frame) => {
        clearTimeout(timer);
        resolve(f);
      };
      this.waiters.push(waiter);
    });
  }

  /** The next frame of a given type, skipping others. */
  async nextOf(type: string, timeoutMs = 15_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = await this.next(Math.max(1, deadline - Date.now()));
      if (frame.type === type) return frame;
    }
  }

  /** Frames already received and not yet taken. */
  pending(): Frame[] {
    return this.frames.splice(0);
  }

  send(body: unknown) {
    this.socket.send(typeof body === "string" ? body : JSON.stringify(body));
  }

  close() {
    this.socket.close();
  }
}

export async function openWs(url: string): Promise<WsClient> {
  const client = new WsClient(url);
  await client.opened;
  return client;
}

export interface SseEvent {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
}

/** Reads an SSE response as a queue of events (comments included, as `comment`). */
export class SseClient {
  private buffer = "";
  private events: SseEvent[] = [];
  private reader: { read: ReadableStreamDefaultReader<Uint8Array>["read"] };
  private decoder = new TextDecoder();
  private pendingRead?: ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]>;
  readonly controller = new AbortController();

  constructor(readonly response: Response) {
    this.reader = response.body!.getReader();
  }

  static async open(url: string, key: string | null = READ_KEY): Promise<SseClient> {
    const controller = new AbortController();
    const response = await fetch(url, { headers: key ? { "x-api-key": key } : {}, signal: controller.signal });
    const client = new SseClient(response);
    client.abort = () => controller.abort();
    return client;
  }

  abort = () => {};

  async next(timeoutMs = 15_000): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no SSE event within ${timeoutMs} ms`);
      // One read stays pending across timeouts, so no chunk is lost to a lost race.
      const read = (this.pendingRead ??= this.reader.read());
      const chunk = await Promise.race([read, Bun.sleep(left).then(() => "timeout" as const)]);
      if (chunk === "timeout") continue;
      this.pendingRead = undefined;
      if (chunk.done) throw new Error("SSE stream ended");
      this.buffer += this.decoder.decode(chunk.value, { stream: true });
      let end: number;
      while ((end = this.buffer.indexOf("\n\n")) >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const event: SseEvent = {};
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) event.comment = line.slice(1).trim();
          else {
            const colon = line.indexOf(":");
            const field = line.slice(0, colon);
            const value = line.slice(colon + 1).replace(/^ /, "");
            if (field === "id" || field === "event" || field === "data") event[field] = value;
          }
        }
        this.events.push(event);
      }
    }
    return this.events.shift()!;
  }

  async nextEvent(timeoutMs = 15_000): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const event = await this.next(Math.max(1, deadline - Date.now()));
      if (event.event) return event;
    }
  }
}

export interface Spawned {
  url: string;
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** Every stderr line so far (the server logs there). */
  lines: string[];
  exited: Promise<number>;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

const ROOT = new URL("..", import.meta.url).pathname;

/** Runs `bun src/index.ts` as a separate process, as a user would, and waits for its listening line. */
export async function spawnServer(env: Record<string, string>, cmd = [process.execPath, "src/index.ts"]): Promise<Spawned> {
  const proc = Bun.spawn(cmd, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", PORT: "0", STORAGE: "memory", ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const lines: string[] = [];
  const { promise: listening, resolve, reject } = Promise.withResolvers<string>();
  const exited = proc.exited;
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of proc.stderr) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        lines.push(line);
        const match = line.match(/listening on (https?:\/\/[\w.:[\]-]+)/);
        if (match) resolve(match[1]!);
      }
    }
    if (buffer) lines.push(buffer);
    reject(new Error(`server exited before listening:\n${lines.join("\n")}`));
  })();
  const timer = setTimeout(() => reject(new Error(`server did not listen within 30 s:\n${lines.join("\n")}`)), 30_000);
  try {
    const url = await listening;
    return {
      url,
      proc,
      lines,
      exited,
      stop: async (signal = "SIGTERM") => {
        proc.kill(signal);
        return exited;
      },
    };
  } catch (error) {
    proc.kill();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a command to completion and returns its exit code and output. */
export async function run(cmd: string[], env: Record<string, string> = {}, timeoutMs = 30_000) {
  const proc = Bun.spawn(cmd, { cwd: ROOT, env: { PATH: process.env.PATH ?? "", ...env }, stdout: "pipe", stderr: "pipe", timeout: timeoutMs });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

export interface TestHost {
  /** The namespace's name, for `ip netns exec`. */
  ns: string;
  /** This machine's end of the link, as the test host sees it. */
  hostIp: string;
  /** The test host's address. */
  ip: string;
  /** The command line that runs `cmd` inside the test host. */
  exec(cmd: string[]): string[];
  destroy(): Promise<void>;
}

/**
 * A test host of our own: a network namespace joined to this machine by a veth pair (needs root and
 * iproute2: tests using it are gated with `needs("root", "ip")`). Traffic to it stays on this machine.
 */
export async function createTestHost(octet: number): Promise<TestHost> {
  const ipCmd = tool("ip");
  const id = `${process.pid % 10000}${octet}`;
  const ns = `sf-test-${id}`;
  const hostIf = `sfh${id}`;
  // A /30 of its own per process too: two test runs on one machine must not share a subnet.
  const net = `10.${200 + octet}.${process.pid % 256}`;
  const block = (Math.floor(process.pid / 256) % 63) * 4;
  const hostIp = `${net}.${block + 1}`;
  const ip = `${net}.${block + 2}`;
  const sh = async (...cmd: string[]) => {
    const result = await run(cmd);
    if (result.code !== 0) throw new Error(`${cmd.join(" ")} failed: ${result.stderr}`);
  };
  await run([ipCmd, "netns", "del", ns]);
  await sh(ipCmd, "netns", "add", ns);
  await sh(ipCmd, "link", "add", hostIf, "type", "veth", "peer", "name", "sfpeer", "netns", ns);
  await sh(ipCmd, "addr", "add", `${hostIp}/30`, "dev", hostIf);
  await sh(ipCmd, "link", "set", hostIf, "up");
  await sh(ipCmd, "netns", "exec", ns, ipCmd, "addr", "add", `${ip}/30`, "dev", "sfpeer");
  await sh(ipCmd, "netns", "exec", ns, ipCmd, "link", "set", "sfpeer", "up");
  await sh(ipCmd, "netns", "exec", ns, ipCmd, "link", "set", "lo", "up");
  return {
    ns,
    hostIp,
    ip,
    /** Runs a command inside the test host (`ip netns exec`). */
    exec: (cmd: string[]) => [ipCmd, "netns", "exec", ns, ...cmd],
    destroy: async () => {
      await run([ipCmd, "link", "del", hostIf]);
      await run([ipCmd, "netns", "del", ns]);
    },
  };
}

export const TEST_PG_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const pgDatabases: string[] = [];

/** A fresh, empty PostgreSQL database for one server (DATABASE_URL); `dropDatabases` removes them. */
export async function postgresEnv(extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const name = `sensorflow_t_${process.pid}_${pgDatabases.length}_${Math.random().toString(36).slice(2, 6)}`;
  const admin = new SQL(TEST_PG_URL, { max: 1 });
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await admin.close();
  }
  pgDatabases.push(name);
  return { DATABASE_URL: TEST_PG_URL.replace(/\/[^/]*$/, `/${name}`), ...extra };
}

export async function dropDatabases(): Promise<void> {
  const admin = new SQL(TEST_PG_URL, { max: 1 });
  for (const name of pgDatabases.splice(0)) await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.close();
}

/**
 * A WebSocket subscriber with a tiny receive buffer (test/hardening/slow-client.py) on `host`, opened
 * and then stopped (SIGSTOP), so it reads nothing: the server must close it without the others paying.
 * `said()` is what it printed ("open", then "closed <code> <reason>" once it is let go and sees the close).
 */
export async function stuckSubscriber(python: string, host: string, port: number | string) {
  const script = new URL("hardening/slow-client.py", import.meta.url).pathname;
  const proc = Bun.spawn([python, script, host, String(port), "/ws/sensor_updates", "1"], { stdout: "pipe" });
  let said = "";
  const opened = Promise.withResolvers<void>();
  void (async () => {
    for await (const chunk of proc.stdout) {
      said += new TextDecoder().decode(chunk);
      if (said.includes("open")) opened.resolve();
    }
  })();
  await opened.promise;
  proc.kill("SIGSTOP");
  return {
    said: () => said,
    /** Lets it run again so it can see the close, waiting at most `tries` × 100 ms for it. */
    async release(tries: number) {
      proc.kill("SIGCONT");
      for (let i = 0; i < tries && !said.includes("closed"); i++) await Bun.sleep(100);
      proc.kill();
      return said;
    },
  };
}
