// The command line: `sensorflow [serve] [flags]`, `sensorflow healthcheck`, `--help`, `--version`.
// Settings come from, strongest first: flags, the environment, the .env file, built-in defaults.
import { parseArgs } from "node:util";
import { existsSync, readFileSync } from "node:fs";
import { parse as parseDotenv } from "dotenv";
import { COMMIT, VERSION } from "./build-info";
import { ConfigError, VARIABLES, loadConfig, type Config, type Env } from "./config";
import { serve } from "./server";

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

/** The settings file: the one named by --env-file (which must exist), else ./.env if present. */
function readEnvFile(path: string | undefined): Env {
  const file = path ?? ".env";
  if (!existsSync(file)) {
    if (path !== undefined) throw new ConfigError(`--env-file ${path}: no such file.`);
    return {};
  }
  return parseDotenv(readFileSync(file));
}

export function resolveEnv(values: Record<string, string | boolean | undefined>, env: Env): Env {
  const flags: Env = {};
  for (const [flag, f] of Object.entries(FLAGS)) {
    const value = values[flag];
    if (typeof value === "string") flags[f.variable] = value;
  }
  const file = readEnvFile(typeof values["env-file"] === "string" ? values["env-file"] : undefined);
  return { ...file, ...env, ...flags };
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
  if (!["serve", "healthcheck"].includes(command) || positionals.length > 1) {
    process.stderr.write(`sensorflow: unknown command "${positionals.join(" ")}". See sensorflow --help.\n`);
    return 2;
  }
  let config: Config;
  try {
    config = loadConfig(resolveEnv(values, env));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`sensorflow: ${error.message}\n`);
    return 2;
  }
  return command === "healthcheck" ? healthcheck(config) : serve(config);
}
