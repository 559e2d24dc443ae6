// The container, for real: the project's Dockerfile built and run by a Docker engine. No registry
// can be reached here, so its two base images are swapped (build args) for local ones made of the
// files `ldd` names: a build base holding Bun, and a runtime base holding only glibc.
import { expect, setDefaultTimeout } from "bun:test";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { realpathSync } from "node:fs";
import { READING, run } from "../helpers";
import { describe, needs } from "../needs";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

// The first Docker client on the PATH whose engine answers (DESIGN §6: the first `docker` on this
// machine's PATH is not Debian's; any client that reaches the engine builds and runs these images).
const engine = needs("docker");
// The compose file is checked by Debian's docker-compose (v1); it needs no engine.
const compose = needs("docker-compose");
const DOCKER = engine.ok ? engine.path("docker") : "docker";
const tag = `sensorflow-ci-${process.pid}`;
const volume = `${tag}-data`;
const work = mkdtempSync(join(tmpdir(), "sensorflow-docker-"));
let container = "";
/** The commit the image is built from, handed to the build as the COMMIT build arg. */
const commit = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"]).stdout.toString().trim();

const docker = async (args: string[], timeoutMs = 60_000) => {
  const result = await run([DOCKER, ...args], {}, timeoutMs);
  if (result.code !== 0) throw new Error(`docker ${args.join(" ")} failed (${result.code}): ${result.stderr}`);
  return result.stdout.trim();
};

const GLIBC = [
  "/lib/x86_64-linux-gnu/libc.so.6",
  "/lib/x86_64-linux-gnu/libpthread.so.0",
  "/lib/x86_64-linux-gnu/libdl.so.2",
  "/lib/x86_64-linux-gnu/libm.so.6",
  "/lib64/ld-linux-x86-64.so.2",
];

/** A FROM-scratch image from a map of image path → host file (followed through links). */
async function baseImage(name: string, files: Record<string, string>, extra: (root: string) => void, env: string) {
  const context = join(work, name);
  const root = join(context, "rootfs");
  for (const [target, source] of Object.entries(files)) {
    mkdirSync(dirname(join(root, target)), { recursive: true });
    cpSync(realpathSync(source), join(root, target));
  }
  mkdirSync(join(root, "tmp"), { recursive: true });
  chmodSync(join(root, "tmp"), 0o1777);
  extra(root);
  writeFileSync(join(context, "Dockerfile"), `FROM scratch\nCOPY rootfs/ /\n${env}\n`);
  await docker(["build", "-q", "-t", `${tag}/${name}`, context]);
}

engine.beforeAll(async () => {
  await docker(["info", "--format", "{{.ServerVersion}}"]);
  const glibc = Object.fromEntries(GLIBC.map((path) => [path, path]));
  await baseImage(
    "bun",
    { ...glibc, "/usr/local/bin/bun": process.execPath, "/etc/ssl/certs/ca-certificates.crt": "/etc/ssl/certs/ca-certificates.crt" },
    (root) => mkdirSync(join(root, "root"), { recursive: true }),
    // Bun trusts its own CA list plus this machine's, as bun on the host does.
    "ENV PATH=/usr/local/bin HOME=/root NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt",
  );
  await baseImage("runtime", glibc, (root) => {
    mkdirSync(join(root, "etc"), { recursive: true });
    writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/sbin/nologin\nsensorflow:x:10001:10001::/data:/sbin/nologin\n");
    writeFileSync(join(root, "etc/group"), "root:x:0:\nsensorflow:x:10001:\n");
  }, "");
  // --network host: `bun install` in the build stage reaches the npm registry as this machine does.
  await docker(
    ["build", "-q", "--network", "host", "--build-arg", `BUN_IMAGE=${tag}/bun`, "--build-arg", `RUNTIME_IMAGE=${tag}/runtime`, "--build-arg", `COMMIT=${commit}`, "-t", `${tag}/app`, "."],
    300_000,
  );
  await docker(["volume", "create", volume]);
  // Settings as the README says: a .env copied from .env.example (DATA_DIR must stay the image's /data).
  container = await docker(["run", "-d", "-p", "127.0.0.1::8000", "-v", `${volume}:/data`, "--env-file", new URL("../../.env.example", import.meta.url).pathname, "-e", "TIMEZONE=UTC", `${tag}/app`]);
}, 400_000);

engine.afterAll(async () => {
  if (container) await run([DOCKER, "rm", "-f", container]);
  await run([DOCKER, "volume", "rm", "-f", volume]);
  await run([DOCKER, "rmi", "-f", `${tag}/app`, `${tag}/bun`, `${tag}/runtime`]);
  await run(["rm", "-rf", work]);
}, 60_000);

describe("the container", () => {
  engine.test("runs the executable as a non-root user", async () => {
    expect(await docker(["inspect", "--format", "{{.Config.User}}", container])).toBe("10001:10001");
    const processes = await docker(["top", container, "-o", "pid,uid,args"]);
    expect(processes).toContain("10001");
    expect(processes).toContain("/app/sensorflow");
    expect(processes).not.toMatch(/^\s*\d+\s+0\s/m);
  });

  engine.test("answers /health on the published port, and its HEALTHCHECK turns healthy", async () => {
    const port = (await docker(["port", container, "8000/tcp"])).split(":").pop();
    let health: Response | undefined;
    for (let i = 0; i < 300 && !health?.ok; i++) {
      health = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
      if (!health?.ok) await Bun.sleep(100);
    }
    expect(await health!.json()).toMatchObject({ status: "healthy", service: "sensorflow" });
    let status = "";
    for (let i = 0; i < 240 && status !== "healthy"; i++) {
      status = await docker(["inspect", "--format", "{{.State.Health.Status}}", container]);
      if (status !== "healthy") await Bun.sleep(500);
    }
    expect(status).toBe("healthy");
  }, 180_000);

  engine.test("the data volume is writable by the container's user: the server keeps its database there", async () => {
    const probe = await run([DOCKER, "run", "--rm", "--user", "10001:10001", "-v", `${volume}:/data`, `${tag}/bun`, "bun", "-e",
      "const fs = require('node:fs'); console.log(fs.statSync('/data').uid, fs.statSync('/data/sensorflow.db').uid, fs.existsSync('/data/data'))"]);
    expect(probe.stderr).toBe("");
    expect(probe.stdout.trim()).toBe("10001 10001 false");
  });

  engine.test("its --version names the commit it was built from", async () => {
    expect(await docker(["run", "--rm", `${tag}/app`, "--version"])).toContain(`(commit ${commit})`);
  });

  compose.test("docker-compose.yml is valid for Debian's docker-compose and runs this image's healthcheck", async () => {
    const dir = mkdtempSync(join(work, "compose-"));
    cpSync(new URL("../../docker-compose.yml", import.meta.url).pathname, join(dir, "docker-compose.yml"));
    writeFileSync(join(dir, ".env"), "API_KEY=k\n");
    const result = await run([compose.path("docker-compose"), "--project-directory", dir, "-f", join(dir, "docker-compose.yml"), "config"]);
    expect(result.stderr).toBe("");
    expect(result.stdout).toContain("/app/sensorflow");
    expect(result.stdout).toContain("restart: unless-stopped");
    expect(result.stdout).toContain("8000");
    expect(result.stdout).toContain("/data");
  });

  compose.test("the compose profile 'scale' declares Redis, PostgreSQL, three instances sharing them, and a balancer", async () => {
    const dir = mkdtempSync(join(work, "compose-scale-"));
    cpSync(new URL("../../docker-compose.yml", import.meta.url).pathname, join(dir, "docker-compose.yml"));
    writeFileSync(join(dir, ".env"), "API_KEY=k\nPOSTGRES_PASSWORD=secret\n");
    const config = (args: string[]) => run([compose.path("docker-compose"), "--project-directory", dir, "-f", join(dir, "docker-compose.yml"), ...args]);
    const services = await config(["--profile", "scale", "config", "--services"]);
    expect(services.stderr).toBe("");
    expect(services.stdout.split("\n").filter(Boolean).sort()).toEqual(["balancer", "postgres", "redis", "sensorflow", "sensorflow-1", "sensorflow-2", "sensorflow-3"]);
    const text = (await config(["--profile", "scale", "config"])).stdout;
    for (const n of [1, 2, 3]) expect(text).toContain(`INSTANCE_ID: sensorflow-${n}`);
    expect(text.match(/BUS_URL: redis:\/\/redis:6379/g)).toHaveLength(3);
    expect(text.match(/DATABASE_URL: postgres:\/\/sensorflow:secret@postgres:5432\/sensorflow/g)).toHaveLength(3);
    expect(text).toContain("proxy_set_header Upgrade");
    expect(text).toContain("proxy_buffering off");
  });

  engine.test("from a non-loopback peer (the Docker bridge) it serves health but keeps data to itself until a key is set", async () => {
    const port = (await docker(["port", container, "8000/tcp"])).split(":").pop();
    const response = await fetch(`http://127.0.0.1:${port}/sensor_data`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(READING) });
    expect(response.status).toBe(403);
  });
});
