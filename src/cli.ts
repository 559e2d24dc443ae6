// The command line: `sensorflow [serve] [flags]`, `sensorflow healthcheck`, `--help`, `--version`.
// Settings come from, strongest first: flags, the environment, the .env file, built-in defaults.
import { parseArgs } from "node:util";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parse as parseDotenv } from "dotenv";
import { COMMIT, VERSION } from "./build-info";
import { ConfigError, VARIABLES, loadConfig, type Config, type Env } from "./config";
import { serve } from "./server";
import { parse as parseToml } from "smol-toml";
import { EXAMPLE_RECIPES } from "./modules/recipes/example";
import { checkRecipes, loadRecipesFile } from "./modules/recipes/service";
import { simulate, type Fault } from "./simulate";
import { adminCommand } from "./admin-cli";

const FLAGS = {
  port: { variable: "PORT", help: "TCP port" },
  host: { variable: "HOST", help: "address to listen on" },
  "data-dir": { variable: "DATA_DIR", help: "folder for the embedded database" },
} as const;

export function usage(): string {
  const lines = [
    `SensorFlow ${VERSION}: real-time monitoring server for Clean-in-Place cycles.`,
    "",
    "Usage:",
    "  sensorflow [serve] [flags]   run the server (the default command)",
    "  sensorflow healthcheck       exit 0 if the server on --host/--port answers healthy, else 1",
    "  sensorflow recipes --example print a commented example recipes file (typical dairy values)",
    "  sensorflow keys add <device> [--label <text>] | list | revoke <id>",
    "                               per-device keys on the running server (--url, --key <ADMIN_KEY>)",
    "  sensorflow addresses list | set <address> <device> | remove <address>",
    "                               the device of a keyless board by its address",
    "  sensorflow simulate          play boards through a cleaning cycle against a server:",
    "      --url <url> (http://127.0.0.1:8000)  --device <id> (line-1)  --boards <n> (1)",
    "      --speed <x> (60: a minute a second)  --fault none|dip|short-dip|caution|nan (on the last board)",
    "      --key <ingest key> (API_KEY)  --recipe <name>  --send-phase (boards that know their phase)",
    "",
    "Flags (a flag wins over the environment, the environment over the .env file):",
    ...Object.entries(FLAGS).map(([flag, f]) => `  --${(flag + " <value>").padEnd(20)} ${f.help} (same as ${f.variable})`),
    `  --${"env-file <path>".padEnd(20)} read settings from this file instead of ./.env`,
    `  --${"help".padEnd(20)} print this help`,
    `  --${"version".padEnd(20)} print the version and build commit`,
    "",
    "Environment variables (default in brackets):",
    ...Object.entries(VARIABLES).map(([name, v]) => `  ${name.padEnd(28)} ${v.help} [${v.default || "none"}]`),
  ];
  return lines.join("\n") + "\n";
}

/** Where the executable itself lives when compiled (`bun build --compile`); null when run from source. */
function executableDir(): string | null {
  const compiled = Bun.main.startsWith("/$bunfs/") || /^[A-Z]:[\\/]~BUN[\\/]/.test(Bun.main);
  return compiled ? dirname(process.execPath) : null;
}

/**
 * The settings file: the one named by --env-file (which must exist), else ./.env, else (for the
 * executable) the .env beside it, so a plant PC can keep both in one folder and start it from anywhere.
 */
export function findEnvFile(path: string | undefined, besideExecutable = executableDir()): string | null {
  if (path !== undefined) {
    if (!existsSync(path)) throw new ConfigError(`--env-file ${path}: no such file.`);
    return resolve(path);
  }
  if (existsSync(".env")) return resolve(".env");
  const beside = besideExecutable === null ? null : join(besideExecutable, ".env");
  return beside !== null && existsSync(beside) ? beside : null;
}

export function resolveEnv(values: Record<string, string | boolean | undefined>, env: Env): { env: Env; file: string | null } {
  const flags: Env = {};
  for (const [flag, f] of Object.entries(FLAGS)) {
    const value = values[flag];
    if (typeof value === "string") flags[f.variable] = value;
  }
  const file = findEnvFile(typeof values["env-file"] === "string" ? values["env-file"] : undefined);
  return { env: { ...(file ? parseDotenv(readFileSync(file)) : {}), ...env, ...flags }, file };
}

async function healthcheck(config: Config): Promise<number> {
  const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  try {
    const response = await fetch(`http://${host.includes(":") ? `[${host}]` : host}:${config.port}/health`, {
      signal: AbortSignal.timeout(3000),
    });
    const body = (await response.json()) as { status?: string };
    return response.ok && body.status === "healthy" ? 0 : 1;
  } catch {
    return 1;
  }
}

async function runSimulation(values: Record<string, string | boolean | undefined>, config: Config): Promise<number> {
  const str = (name: string) => (typeof values[name] === "string" ? (values[name] as string) : undefined);
  const file = config.recipesFile ? loadRecipesFile(config.recipesFile) : checkRecipes(parseToml(EXAMPLE_RECIPES), "the example recipes");
  const name = str("recipe") ?? Object.keys(file.recipes)[0]!;
  const recipe = file.recipes[name];
  if (!recipe) {
    process.stderr.write(`sensorflow: no recipe "${name}" (known: ${Object.keys(file.recipes).join(", ")}).\n`);
    return 2;
  }
  const url = new URL(str("url") ?? `http://127.0.0.1:${config.port}`);
  const boards = Math.max(1, Number(str("boards") ?? 1));
  const speed = Number(str("speed") ?? 60);
  const fault = (str("fault") ?? "none") as Fault;
  if (!["none", "dip", "short-dip", "caution", "nan"].includes(fault) || !(speed > 0)) {
    process.stderr.write("sensorflow: --fault is none, dip, short-dip, caution or nan; --speed is a number above 0.\n");
    return 2;
  }
  const base = str("device") ?? "line-1";
  const devices = boards === 1 ? [base] : Array.from({ length: boards }, (_, i) => `${base.replace(/-\d+$/, "")}-${i + 1}`);
  process.stdout.write(`simulating recipe "${name}" on ${devices.join(", ")} against ${url.origin} at ${speed}x${fault !== "none" ? `, fault "${fault}" on ${devices.at(-1)}` : ""}\n`);
  const results = await Promise.all(
    devices.map((device, i) =>
      simulate({
        host: url.hostname,
        port: Number(url.port || 80),
        device,
        key: str("key") ?? config.apiKeys[0],
        recipe,
        speed,
        fault: i === devices.length - 1 ? fault : "none",
        sendPhase: values["send-phase"] === true,
        log: (line) => process.stdout.write(line + "\n"),
      }),
    ),
  );
  results.forEach((r, i) => process.stdout.write(`${devices[i]}: ${r.sent} readings, answers ${JSON.stringify(r.statuses)}\n`));
  return results.every((r) => Object.keys(r.statuses).every((s) => s === "201")) ? 0 : 1;
}

/** Runs the command line; resolves to the exit code (the server's `serve` resolves only on shutdown). */
export async function main(argv: string[], env: Env): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
        "env-file": { type: "string" },
        example: { type: "boolean" },
        url: { type: "string" },
        device: { type: "string" },
        boards: { type: "string" },
        speed: { type: "string" },
        fault: { type: "string" },
        key: { type: "string" },
        recipe: { type: "string" },
        "send-phase": { type: "boolean" },
        label: { type: "string" },
        ...Object.fromEntries(Object.keys(FLAGS).map((flag) => [flag, { type: "string" as const }])),
      },
    });
  } catch (error) {
    process.stderr.write(`sensorflow: ${error instanceof Error ? error.message : error}. See sensorflow --help.\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(usage());
    return 0;
  }
  if (values.version) {
    process.stdout.write(`sensorflow ${VERSION} (commit ${COMMIT})\n`);
    return 0;
  }
  const command = positionals[0] ?? "serve";
  if (command === "recipes") {
    if (!values.example) {
      process.stderr.write("sensorflow: use `sensorflow recipes --example > recipes.toml`.\n");
      return 2;
    }
    process.stdout.write(EXAMPLE_RECIPES);
    return 0;
  }
  const admin = command === "keys" || command === "addresses";
  if (!admin && (!["serve", "healthcheck", "simulate"].includes(command) || positionals.length > 1)) {
    process.stderr.write(`sensorflow: unknown command "${positionals.join(" ")}". See sensorflow --help.\n`);
    return 2;
  }
  let config: Config;
  let envFile: string | null;
  try {
    const resolved = resolveEnv(values, env);
    envFile = resolved.file;
    config = loadConfig(resolved.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`sensorflow: ${error.message}\n`);
    return 2;
  }
  if (command === "simulate") return runSimulation(values, config);
  if (admin) {
    const write = (stream: NodeJS.WriteStream) => (text: string) => void stream.write(text);
    return adminCommand(positionals, { url: values.url, key: values.key, label: values.label }, config, { stdout: write(process.stdout), stderr: write(process.stderr) });
  }
  return command === "healthcheck" ? healthcheck(config) : serve(config, { envFile });
}
