// Load generators and server handling for the benchmarks. Everything talks to 127.0.0.1 only, and
// every loop is bounded by a count and a deadline.
const ROOT = new URL("../..", import.meta.url).pathname;
export const BODY = (i: number) => `{"temperature":${i},"pressure":2.30,"concentration":0.80, "flow":1.20}`;

export interface Server {
  name: string;
  url: string;
  port: number;
  pid: number;
  rssKb(): number;
  stop(): Promise<void>;
}

/** Pins a process to some CPUs (2 cores: servers on one, the load generator on the other). */
export function pin(pid: number, cpus: string): boolean {
  const result = Bun.spawnSync(["taskset", "-pc", cpus, String(pid)], { stdout: "ignore", stderr: "ignore" });
  return result.exitCode === 0;
}

export function rssKb(pid: number): number {
  const status = require("node:fs").readFileSync(`/proc/${pid}/status`, "utf8") as string;
  return Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0);
}

export async function startServer(name: string, cmd: string[], env: Record<string, string>, cpus = "0"): Promise<Server> {
  const proc = Bun.spawn(cmd, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", PORT: "0", LOG_LEVEL: "info", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  pin(proc.pid, cpus);
  const decoder = new TextDecoder();
  let seen = "";
  const deadline = Date.now() + 15_000;
  const readers = [proc.stdout.getReader(), proc.stderr.getReader()];
  // Either stream may carry the listening line (SensorFlow logs on stderr, the baseline prints on stdout).
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start: ${seen}`)), deadline - Date.now());
    for (const reader of readers) {
      void (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          seen += decoder.decode(value);
          const match = seen.match(/listening on (http:\/\/[\d.:]+)/);
          if (match) {
            clearTimeout(timer);
            resolve(match[1]!);
          }
        }
      })();
    }
  });
  return {
    name,
    url,
    port: Number(new URL(url).port),
    pid: proc.pid,
    rssKb: () => rssKb(proc.pid),
    stop: async () => {
      proc.kill("SIGTERM");
      const exited = await Promise.race([proc.exited, Bun.sleep(5000).then(() => "timeout")]);
      if (exited === "timeout") proc.kill("SIGKILL");
    },
  };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export interface IngestResult {
  requests: number;
  errors: number;
  perSecond: number;
  p50: number;
  p99: number;
}

/** `concurrency` clients each sending one request after another until `durationMs` or `maxRequests`. */
async function load(concurrency: number, durationMs: number, maxRequests: number, request: (i: number) => Promise<boolean>): Promise<IngestResult> {
  const latencies: number[] = [];
  let errors = 0;
  let sent = 0;
  const end = performance.now() + durationMs;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end && sent < maxRequests) {
        const i = sent++;
        const t0 = performance.now();
        if (!(await request(i).catch(() => false))) errors++;
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = performance.now() - started;
  return { requests: latencies.length, errors, perSecond: (latencies.length / elapsed) * 1000, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** Posts readings from `concurrency` clients for `durationMs`, reusing connections (keep-alive). */
export function ingestKeepAlive(url: string, concurrency: number, durationMs: number, maxRequests = 5_000_000): Promise<IngestResult> {
  return load(concurrency, durationMs, maxRequests, async (i) => {
    const response = await fetch(`${url}/sensor_data`, { method: "POST", headers: { "content-type": "application/json" }, body: BODY(i) });
    await response.arrayBuffer();
    return response.status === 201;
  });
}

/** One request over a new TCP connection with `Connection: close`, as the boards send it. */
export function postOverNewConnection(port: number, body: string, timeoutMs = 5000): Promise<number> {
  const request =
    `POST /sensor_data HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
  return new Promise((resolve, reject) => {
    let head = "";
    const timer = setTimeout(() => reject(new Error("timeout")), timeoutMs);
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open: (socket) => void socket.write(request),
        data: (_s, data) => void (head.length < 16 && (head += data.toString("latin1"))),
        close: () => {
          clearTimeout(timer);
          resolve(Number(head.slice(9, 12)));
        },
        error: (_s, error) => {
          clearTimeout(timer);
          reject(error);
        },
      },
    }).catch(reject);
  });
}

/** As the boards do: a new TCP connection per reading, `Connection: close`. */
export function ingestClose(port: number, concurrency: number, durationMs: number, maxRequests = 2_000_000): Promise<IngestResult> {
  return load(concurrency, durationMs, maxRequests, async (i) => (await postOverNewConnection(port, BODY(i))) === 201);
}

export interface FanoutResult {
  subscribers: number;
  kind: "ws" | "sse";
  mode: string;
  posted: number;
  acceptedPerSecond: number;
  delivered: number;
  deliveredPerSecond: number;
  lost: number;
  p50: number;
  p99: number;
  max: number;
}

interface Subscriber {
  count: number;
  close(): void;
}

const SAMPLED = 20;

/**
 * N subscribers on `kind`, readings posted at `rate` per second (or as fast as 4 clients can:
 * "max") for `durationMs`. Every subscriber counts what it receives; the first 20 also time each
 * message from its POST being sent (the reading's temperature carries its index).
 */
export async function fanout(
  /** One server, or several instances: subscriber n joins urls[n % k], POST i goes to urls[i % k]. */
  target: string | string[],
  kind: "ws" | "sse",
  subscribers: number,
  rate: number | "max",
  durationMs: number,
  /** How long subscribers may take to catch up after the last post before what is missing counts as lost. */
  drainMs = 5000,
): Promise<FanoutResult> {
  const urls = typeof target === "string" ? [target] : target;
  const sentAt: number[] = [];
  const latencies: number[] = [];
  const subs: Subscriber[] = [];
  const ready: Promise<void>[] = [];
  for (let n = 0; n < subscribers; n++) {
    const url = urls[n % urls.length]!;
    const sampled = n < SAMPLED;
    const onFrame = (frame: string) => {
      if (!sampled) return;
      const at = performance.now();
      const start = frame.indexOf('"temperature":') + 14;
      const i = Number(frame.slice(start, frame.indexOf(",", start)));
      const sent = sentAt[i];
      if (sent !== undefined) latencies.push(at - sent);
    };
    if (kind === "ws") {
      const sub: Subscriber = { count: 0, close: () => ws.close() };
      const ws = new WebSocket(`${url.replace("http", "ws")}/ws/sensor_updates`);
      ws.onmessage = (event) => {
        sub.count++;
        onFrame(event.data as string);
      };
      ready.push(new Promise((resolve, reject) => ((ws.onopen = () => resolve()), (ws.onerror = () => reject(new Error("ws failed"))))));
      subs.push(sub);
    } else {
      const controller = new AbortController();
      const sub: Subscriber = { count: 0, close: () => controller.abort() };
      subs.push(sub);
      ready.push(
        fetch(`${url}/api/stream`, { signal: controller.signal }).then((response) => {
          const reader = response.body!.getReader();
          const decoder = new TextDecoder();
          let buffer = "";
          void (async () => {
            try {
              for (;;) {
                const { done, value } = await reader.read();
                if (done) return;
                buffer += decoder.decode(value, { stream: true });
                let end: number;
                while ((end = buffer.indexOf("\n\n")) >= 0) {
                  const block = buffer.slice(0, end);
                  buffer = buffer.slice(end + 2);
                  const data = block.indexOf("data: ");
                  if (data >= 0) {
                    sub.count++;
                    onFrame(block.slice(data + 6));
                  }
                }
              }
            } catch {
              // aborted at the end
            }
          })();
        }),
      );
    }
    if (n % 200 === 199) await Promise.all(ready.slice(-200));
  }
  await Promise.all(ready);
  await Bun.sleep(200);

  let posted = 0;
  let accepted = 0;
  const started = performance.now();
  const end = started + durationMs;
  const post = async () => {
    const i = posted++;
    sentAt[i] = performance.now();
    const response = await fetch(`${urls[i % urls.length]}/sensor_data`, { method: "POST", headers: { "content-type": "application/json" }, body: BODY(i) });
    await response.arrayBuffer();
    if (response.status === 201) accepted++;
  };
  if (rate === "max") {
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (performance.now() < end && posted < 1_000_000) await post();
    }));
  } else {
    const interval = 1000 / rate;
    const inFlight: Promise<void>[] = [];
    for (let i = 0; performance.now() < end && i < rate * (durationMs / 1000) + 1; i++) {
      inFlight.push(post());
      const next = started + (i + 1) * interval;
      const wait = next - performance.now();
      if (wait > 0) await Bun.sleep(wait);
    }
    await Promise.all(inFlight);
  }
  const postingMs = performance.now() - started;
  // Drain: wait until every subscriber has everything, or drainMs.
  const expected = accepted;
  const drainUntil = performance.now() + drainMs;
  while (performance.now() < drainUntil && subs.some((s) => s.count < expected)) await Bun.sleep(20);
  const elapsed = performance.now() - started;
  const delivered = subs.reduce((sum, s) => sum + s.count, 0);
  for (const s of subs) s.close();
  await Bun.sleep(100);
  return {
    subscribers,
    kind,
    mode: rate === "max" ? "saturation" : `${rate}/s`,
    posted: accepted,
    acceptedPerSecond: (accepted / postingMs) * 1000,
    delivered,
    deliveredPerSecond: (delivered / elapsed) * 1000,
    lost: expected * subscribers - delivered,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.length ? latencies.reduce((a, b) => (b > a ? b : a)) : Number.NaN,
  };
}

/** Time from spawning a command to its first healthy /health answer. */
export async function startupMs(cmd: string[], env: Record<string, string>): Promise<number> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const t0 = performance.now();
  const proc = Bun.spawn(cmd, { cwd: ROOT, env: { ...env, HOST: "127.0.0.1", PORT: String(port), LOG_LEVEL: "error" }, stdout: "ignore", stderr: "ignore" });
  let ms = NaN;
  for (let i = 0; i < 5000; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
    if (ok) {
      ms = performance.now() - t0;
      break;
    }
    await Bun.sleep(1);
  }
  proc.kill();
  await proc.exited;
  return ms;
}
