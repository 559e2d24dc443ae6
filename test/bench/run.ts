// `bun run bench [--quick] [--only ingest,fanout,sse,footprint,mqtt,scale,slow-consumer]`: SensorFlow side by
// side with a raw Bun.serve baseline doing the same work, in the same run. Prints tables and writes JSON
// to test/bench/results/. Servers are pinned to CPU 0 and this load generator to CPU 1.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { RedisClient } from "bun";
import { createTestHost, run, stuckSubscriber } from "../helpers";
import { needs } from "../needs";
import { fanout, ingestClose, ingestKeepAlive, pin, startServer, startupMs, percentile, type FanoutResult, type IngestResult, type Server } from "./lib";

// fetch allows 256 connections at once by default; 1,000 SSE subscribers need more. Set it and re-run.
if (!process.env.BUN_CONFIG_MAX_HTTP_REQUESTS) {
  const child = Bun.spawn([process.execPath, ...process.argv.slice(1)], {
    env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: "8192" },
    stdio: ["inherit", "inherit", "inherit"],
  });
  process.exit(await child.exited);
}

const { values } = parseArgs({ args: Bun.argv.slice(2), options: { quick: { type: "boolean" }, only: { type: "string" }, seconds: { type: "string" } } });
const quick = values.quick ?? false;
const only = new Set((values.only ?? "ingest,fanout,sse,footprint,mqtt,scale,slow-consumer").split(","));
const seconds = values.seconds ? Number(values.seconds) : quick ? 0.5 : 5;
const pinned = pin(process.pid, "1");

const BUN = process.execPath;
const tmp = mkdtempSync(join(tmpdir(), "sensorflow-bench-"));
type Kind = "baseline" | "memory" | "sqlite" | "mqtt";
const start = (kind: Kind): Promise<Server> => {
  if (kind === "baseline") return startServer("baseline", [BUN, "test/bench/baseline.ts"], {});
  if (kind === "mqtt") {
    // The default storage, with every reading also published to the machine's Mosquitto.
    const env = { DATA_DIR: mkdtempSync(join(tmp, "data-")), RATE_LIMIT_PER_DEVICE: "0", RATE_LIMIT_PER_KEY: "0", MQTT_URL: "mqtt://127.0.0.1:1883", MQTT_PREFIX: `bench-${process.pid}` };
    return startServer("sensorflow (sqlite + MQTT)", [BUN, "src/index.ts"], env);
  }
  // One simulated device posts thousands of readings a second here: the per-device rate limit is off.
  const env: Record<string, string> = { STORAGE: kind, DATA_DIR: mkdtempSync(join(tmp, "data-")), MAX_WS_CONNECTIONS_PER_KEY: "0", RATE_LIMIT_PER_DEVICE: "0", RATE_LIMIT_PER_KEY: "0", MAX_STREAMS: "0" };
  return startServer(`sensorflow (${kind})`, [BUN, "src/index.ts"], env);
};

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : "-");
const table = (title: string, header: string[], rows: (string | number)[][]) => {
  console.log(`\n${title}`);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  console.log(header.map((h, i) => h.padEnd(widths[i]!)).join("  "));
  for (const row of rows) console.log(row.map((c, i) => String(c).padEnd(widths[i]!)).join("  "));
};

const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  quick,
  machine: { cpus: cpus().length, model: cpus()[0]?.model, bun: Bun.version, pinned: pinned ? "servers on CPU 0, load generator on CPU 1" : "not pinned (no taskset)" },
};
const problems: string[] = [];

if (only.has("ingest")) {
  const rows: (string | number)[][] = [];
  const ingest: Record<string, { keepAlive: IngestResult; close: IngestResult }> = {};
  for (const kind of ["baseline", "memory", "sqlite"] as const) {
    const server = await start(kind);
    await ingestKeepAlive(server.url, 4, 300); // warm-up
    const keepAlive = await ingestKeepAlive(server.url, 8, seconds * 1000);
    const close = await ingestClose(server.port, 8, seconds * 1000);
    await server.stop();
    ingest[kind] = { keepAlive, close };
    for (const error of [keepAlive.errors, close.errors]) if (error > 0) problems.push(`${server.name}: ${error} ingest errors`);
  }
  const base = ingest.baseline!;
  for (const [kind, r] of Object.entries(ingest)) {
    rows.push([
      kind,
      fmt(r.keepAlive.perSecond),
      fmt(r.keepAlive.p50, 2),
      fmt(r.keepAlive.p99, 2),
      fmt(r.keepAlive.perSecond / base.keepAlive.perSecond, 2),
      fmt(r.close.perSecond),
      fmt(r.close.p50, 2),
      fmt(r.close.p99, 2),
      fmt(r.close.perSecond / base.close.perSecond, 2),
    ]);
  }
  table("Ingest, 8 clients in flight (readings/s; latency ms)", ["server", "keep-alive/s", "p50", "p99", "ratio", "close/s", "p50", "p99", "ratio"], rows);
  const storeRatio = {
    keepAlive: ingest.sqlite!.keepAlive.perSecond / ingest.memory!.keepAlive.perSecond,
    close: ingest.sqlite!.close.perSecond / ingest.memory!.close.perSecond,
  };
  console.log(`store on (sqlite) vs STORAGE=memory: keep-alive ${fmt(storeRatio.keepAlive, 2)}, connection-per-request ${fmt(storeRatio.close, 2)}`);
  results.ingest = { ...ingest, storeRatio };
}

const fanoutSection = async (kind: "ws" | "sse", plan: [number, number | "max"][]) => {
  const rows: (string | number)[][] = [];
  const out: { baseline: FanoutResult; sensorflow: FanoutResult; ratio: number }[] = [];
  for (const [n, rate] of plan) {
    const pair: FanoutResult[] = [];
    for (const server of [await start("baseline"), await start("sqlite")]) {
      if (process.env.BENCH_DEBUG) console.error(`${server.name} ${kind} N=${n} ${rate}`);
      const r = await fanout(server.url, kind, n, rate, seconds * 1000);
      await server.stop();
      pair.push(r);
      if (rate !== "max" && r.lost > 0) problems.push(`${server.name} ${kind} N=${n} ${r.mode}: ${r.lost} messages lost`);
      rows.push([server.name, n, r.mode, fmt(r.acceptedPerSecond), fmt(r.deliveredPerSecond), r.lost, fmt(r.p50, 2), fmt(r.p99, 2), fmt(r.max, 2)]);
    }
    const ratio = pair[1]!.deliveredPerSecond / pair[0]!.deliveredPerSecond;
    rows.push(["  ratio delivered/s", "", "", "", fmt(ratio, 2), "", "", "", ""]);
    out.push({ baseline: pair[0]!, sensorflow: pair[1]!, ratio });
  }
  table(
    `Fan-out over ${kind === "ws" ? "WebSocket" : "SSE"} (latency: POST sent to message received, ms)`,
    ["server", "N", "rate", "accepted/s", "delivered/s", "lost", "p50", "p99", "max"],
    rows,
  );
  return out;
};

if (only.has("fanout")) {
  const plan: [number, number | "max"][] = quick
    ? [[20, 100], [20, "max"]]
    : [[100, 200], [100, "max"], [1000, 200], [1000, "max"], [5000, 20], [5000, "max"]];
  results.fanout = await fanoutSection("ws", plan);
}
if (only.has("sse")) {
  const plan: [number, number | "max"][] = quick ? [[20, 100]] : [[100, 200], [100, "max"], [1000, 100], [1000, "max"]];
  results.sse = await fanoutSection("sse", plan);
}

if (only.has("mqtt")) {
  const rows: (string | number)[][] = [];
  const mqttRuns: Record<string, { keepAlive: IngestResult; close: IngestResult }> = {};
  for (const kind of ["sqlite", "mqtt"] as const) {
    const server = await start(kind);
    await Bun.sleep(300); // let the bridge connect
    await ingestKeepAlive(server.url, 4, 300);
    mqttRuns[kind] = { keepAlive: await ingestKeepAlive(server.url, 8, seconds * 1000), close: await ingestClose(server.port, 8, seconds * 1000) };
    await server.stop();
    rows.push([server.name, fmt(mqttRuns[kind]!.keepAlive.perSecond), fmt(mqttRuns[kind]!.close.perSecond)]);
    if (mqttRuns[kind]!.keepAlive.errors + mqttRuns[kind]!.close.errors > 0) problems.push(`${server.name}: ingest errors`);
  }
  const ratio = { keepAlive: mqttRuns.mqtt!.keepAlive.perSecond / mqttRuns.sqlite!.keepAlive.perSecond, close: mqttRuns.mqtt!.close.perSecond / mqttRuns.sqlite!.close.perSecond };
  table("Ingest with the MQTT bridge on (readings/s)", ["server", "keep-alive/s", "close/s"], rows);
  console.log(`MQTT bridge on vs off: keep-alive ${fmt(ratio.keepAlive, 2)}, connection-per-request ${fmt(ratio.close, 2)}`);
  results.mqtt = { ...mqttRuns, ratio };
}

if (only.has("scale")) {
  // The same subscribers and the same posting rate, spread over 1, 2 and 3 instances sharing the
  // machine's Redis (BUS_URL), next to one process without the bus. Instances share CPU 0 (2 cores):
  // these figures show what the bus costs, not what more machines would add.
  const redisUrl = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
  const n = quick ? 30 : 600;
  const plan: (number | "max")[] = quick ? [100] : [200, "max"];
  const rows: (string | number)[][] = [];
  const scale: { instances: number; bus: boolean; rate: string; result: FanoutResult }[] = [];
  for (const rate of plan) {
    for (const instances of [0, 1, 2, 3]) {
      const namespace = `bench-${process.pid}-${instances}-${rate}`;
      const env = (i: number): Record<string, string> => ({
        STORAGE: "memory", RATE_LIMIT_PER_DEVICE: "0", RATE_LIMIT_PER_KEY: "0", MAX_WS_CONNECTIONS_PER_KEY: "0", MAX_STREAMS: "0",
        ...(instances > 0 && { BUS_URL: redisUrl, BUS_NAMESPACE: namespace, INSTANCE_ID: `i${i}`, DATA_DIR: mkdtempSync(join(tmp, "outbox-")) }),
      });
      const servers = await Promise.all(Array.from({ length: Math.max(1, instances) }, (_, i) => startServer(instances ? `instance ${i + 1}` : "single", [BUN, "src/index.ts"], env(i))));
      const r = await fanout(servers.map((server) => server.url), "ws", n, rate, seconds * 1000);
      await Promise.all(servers.map((server) => server.stop()));
      if (instances > 0) {
        const redis = new RedisClient(redisUrl);
        const found = (await redis.send("KEYS", [`{${namespace}}:*`])) as string[];
        if (found.length > 0) await redis.send("DEL", found);
        redis.close();
      }
      if (rate !== "max" && r.lost > 0) problems.push(`scale ${instances} instances ${r.mode}: ${r.lost} messages lost`);
      scale.push({ instances, bus: instances > 0, rate: r.mode, result: r });
      const single = scale.find((x) => x.rate === r.mode && !x.bus)!.result;
      rows.push([instances ? `${instances} instance${instances > 1 ? "s" : ""} + Redis` : "1 process, no bus", n, r.mode, fmt(r.acceptedPerSecond), fmt(r.deliveredPerSecond),
        fmt(r.deliveredPerSecond / single.deliveredPerSecond, 2), r.lost, fmt(r.p50, 2), fmt(r.p99, 2)]);
    }
  }
  table(`Scale-out: ${n} WebSocket subscribers and the posts spread evenly over the instances (latency ms)`,
    ["deployment", "N", "rate", "accepted/s", "delivered/s", "vs no bus", "lost", "p50", "p99"], rows);
  results.scale = scale;
}

if (only.has("slow-consumer")) {
  // What one WebSocket subscriber that stops reading costs the 200 others: the same fan-out (500
  // readings/s) without it and with it, on a test host whose TCP send buffers are capped at 64 KB
  // (as test/hardening/slow-consumer.test.ts, which asserts only that it is closed and nobody loses
  // anything; the latency and rate ratios below depend on the machine, so they are figures, not checks).
  const netns = needs("root", "ip", "python3");
  if (!netns.ok) console.log(`\nSlow consumer: not measured (${netns.reason})`);
  else {
    const host = await createTestHost(11);
    try {
      const tuned = await run(host.exec(["sysctl", "-w", "net.ipv4.tcp_wmem=4096 16384 65536"]));
      if (tuned.code !== 0) throw new Error(tuned.stderr);
      const env = { HOST: "0.0.0.0", ALLOW_UNAUTHENTICATED: "true", SLOW_CLIENT_BYTES: "65536", RATE_LIMIT_PER_DEVICE: "0", MAX_STREAMS: "0", MAX_WS_CONNECTIONS_PER_KEY: "0" };
      const server = await startServer("sensorflow (memory)", host.exec([BUN, "src/index.ts"]), env);
      const url = server.url.replace("0.0.0.0", host.ip);
      const duration = Math.max(seconds, quick ? 0.5 : 10) * 1000;
      const alone = await fanout(url, "ws", 200, 500, duration);
      const slow = await stuckSubscriber(netns.path("python3"), host.ip, server.port);
      const withSlow = await fanout(url, "ws", 200, 500, duration);
      // In --quick the run is too short to fill the buffers: no point waiting for the close.
      const said = await slow.release(quick ? 5 : 100);
      await server.stop();
      const closed = said.includes("closed 1013");
      const rows = [alone, withSlow].map((r, i) => [i === 0 ? "200 subscribers" : "200 + 1 stuck", r.mode, fmt(r.acceptedPerSecond), fmt(r.deliveredPerSecond), r.lost, fmt(r.p50, 2), fmt(r.p99, 2), fmt(r.max, 2)]);
      table("Slow consumer: one subscriber stops reading (latency ms)", ["run", "rate", "accepted/s", "delivered/s", "lost", "p50", "p99", "max"], rows);
      const ratio = { p99: withSlow.p99 / alone.p99, acceptedPerSecond: withSlow.acceptedPerSecond / alone.acceptedPerSecond };
      console.log(`with the stuck subscriber vs without: p99 x${fmt(ratio.p99, 2)}, accepted/s x${fmt(ratio.acceptedPerSecond, 2)}; stuck subscriber closed with 1013: ${closed ? "yes" : "no"}`);
      for (const [name, r] of [["alone", alone], ["with the stuck subscriber", withSlow]] as const) if (r.lost > 0) problems.push(`slow consumer, ${name}: ${r.lost} messages lost`);
      if (!quick && !closed) problems.push(`slow consumer: the stuck subscriber was not closed (${said.trim() || "said nothing"})`);
      results.slowConsumer = { alone, withSlow, ratio, closed };
    } finally {
      await host.destroy();
    }
  }
}

if (only.has("footprint")) {
  const rows: (string | number)[][] = [];
  const footprint: Record<string, unknown> = {};
  const subscribers = quick ? 100 : 1000;
  for (const kind of ["baseline", "sqlite"] as const) {
    const server = await start(kind);
    await fetch(`${server.url}/health`);
    await Bun.sleep(500);
    const idle = server.rssKb();
    const sockets: WebSocket[] = [];
    for (let i = 0; i < subscribers; i++) sockets.push(new WebSocket(`${server.url.replace("http", "ws")}/ws/sensor_updates`));
    await Promise.all(sockets.map((ws) => new Promise((resolve) => ((ws.onopen = resolve), (ws.onerror = resolve)))));
    await Bun.sleep(500);
    const loaded = server.rssKb();
    for (const ws of sockets) ws.close();
    await server.stop();
    const perThousand = ((loaded - idle) / subscribers) * 1000;
    footprint[kind] = { idleMb: idle / 1024, perThousandSubscribersMb: perThousand / 1024 };
    rows.push([server.name, fmt(idle / 1024, 1), fmt(perThousand / 1024, 1)]);
  }
  table(`Memory (RSS, MB; ${subscribers} idle WebSocket subscribers)`, ["server", "idle", "per 1,000 subscribers"], rows);

  const binary = join(tmp, "sensorflow");
  const built = Bun.spawnSync([BUN, "run", "src/build.ts", "--outfile", binary], { cwd: new URL("../..", import.meta.url).pathname, stdout: "ignore", stderr: "pipe" });
  if (built.exitCode !== 0) problems.push(`build failed: ${built.stderr}`);
  else {
    const times: number[] = [];
    for (let i = 0; i < (quick ? 2 : 5); i++) times.push(await startupMs([binary], { STORAGE: "sqlite", DATA_DIR: mkdtempSync(join(tmp, "start-")) }));
    footprint.startupMs = { median: percentile(times, 50), all: times };
    console.log(`\nCompiled executable, start-up to first healthy /health: median ${fmt(percentile(times, 50), 1)} ms of ${times.map((t) => fmt(t, 0)).join(", ")}`);
  }
  results.footprint = footprint;
}

const dir = new URL("results/", import.meta.url).pathname;
mkdirSync(dir, { recursive: true });
const file = join(dir, `bench-${quick ? "quick" : "full"}.json`);
writeFileSync(file, JSON.stringify({ ...results, problems }, null, 2));
console.log(`\n${results.machine && JSON.stringify(results.machine)}\nresults: ${file}`);
Bun.spawnSync(["rm", "-rf", tmp]);
if (problems.length > 0) {
  console.error(`\nproblems:\n- ${problems.join("\n- ")}`);
  process.exit(1);
}
