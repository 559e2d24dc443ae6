// The balancer of the compose profile 'scale', for real: the nginx configuration written in
// docker-compose.yml, run by nginx (from the PATH) in front of three instances on loopback (only the
// upstream addresses and the listening port are changed). Boards post through it, a WebSocket and
// an SSE subscriber read through it.
import { expect, setDefaultTimeout } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openWs, post, READ_KEY, SseClient, type Frame } from "../helpers";
import { needs } from "../needs";
import { createDeployment, requireServices, sseReadingIds, type Deployment } from "./scale";

setDefaultTimeout(30_000);

const { beforeAll, afterAll, test, path } = needs("nginx");
let d: Deployment;
let nginx: Bun.Subprocess<"ignore", "ignore", "pipe"> | undefined;
let balancer = "";

/** The server block the compose file writes for nginx, as nginx reads it (compose's `$$` is `$`). */
function composeNginxConf(): string {
  const compose = readFileSync(new URL("../../docker-compose.yml", import.meta.url), "utf8");
  const match = compose.match(/<<'CONF'\n([\s\S]*?)\n\s*CONF\n/);
  if (!match) throw new Error("no nginx configuration in docker-compose.yml");
  const lines = match[1]!.split("\n");
  const indent = lines[0]!.match(/^\s*/)![0].length;
  return lines.map((line) => line.slice(indent)).join("\n").replaceAll("$$", "$");
}

beforeAll(async () => {
  await requireServices();
  d = await createDeployment();
  const urls = (await Promise.all(["sensorflow-1", "sensorflow-2", "sensorflow-3"].map((name) => d.start(name)))).map((i) => i.url);
  const port = 30000 + Math.floor(Math.random() * 20000);
  let conf = composeNginxConf().replace("listen 80;", `listen 127.0.0.1:${port};`);
  urls.forEach((url, i) => (conf = conf.replace(`server sensorflow-${i + 1}:8000`, `server ${new URL(url).host}`)));
  const dir = mkdtempSync(join(tmpdir(), "sensorflow-nginx-"));
  writeFileSync(
    join(dir, "nginx.conf"),
    `daemon off;\nworker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n  access_log off;\n` +
      ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `  ${t}_temp_path ${dir}/${t};\n`).join("") +
      `${conf}\n}\n`,
  );
  nginx = Bun.spawn([path("nginx"), "-p", dir, "-c", join(dir, "nginx.conf")], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  balancer = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (await fetch(`${balancer}/health`).then((r) => r.ok, () => false)) return;
    await Bun.sleep(50);
  }
  throw new Error(`nginx did not answer: ${await new Response(nginx.stderr).text()}`);
});

afterAll(async () => {
  nginx?.kill();
  await d?.destroy();
});

test("through the compose file's balancer, readings posted to any instance reach a WebSocket and an SSE subscriber once, in order", async () => {
  const ws = await openWs(`${balancer.replace("http", "ws")}/ws?api-key=${READ_KEY}&topics=readings`);
  const sse = await SseClient.open(`${balancer}/api/stream?topics=readings`);
  expect(sse.response.headers.get("content-type")).toContain("text/event-stream");

  const seqs: number[] = [];
  for (let i = 0; i < 12; i++) {
    const reply = await post(`${balancer}/api/devices/behind-nginx/readings`, { temperature: 70, pressure: 2, concentration: 1, flow: i });
    expect(reply.status).toBe(201);
    seqs.push(((await reply.json()) as { seq: number }).seq);
  }
  // least_conn sends sequential requests to the idlest instance (the two streams hold the others);
  // requests at the same moment are spread over all three.
  const answers = await Promise.all(Array.from({ length: 30 }, () => fetch(`${balancer}/health`).then((r) => r.json() as Promise<{ bus: { instance: string } }>)));
  expect(new Set(answers.map((a) => a.bus.instance)).size).toBe(3);

  const frames: Frame[] = [];
  while (frames.length < 12) {
    const frame = await ws.next(5000);
    if (frame.type === "reading") frames.push(frame);
  }
  expect(frames.map((f) => f.seq)).toEqual(seqs);

  // SSE is not buffered by the balancer: the events are there as they happen.
  expect(await sseReadingIds(sse, 12)).toEqual(seqs);
  sse.abort();
  ws.close();
});
