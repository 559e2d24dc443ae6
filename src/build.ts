// `bun run build [--target bun-linux-arm64|bun-windows-x64|bun-linux-x64-baseline] [--outfile path]`:
// one self-contained executable with the version (package.json) and git commit baked in.
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    target: { type: "string" },
    outfile: { type: "string" },
    // Start-up was measured with and without these (README, "Run on a plant PC"); the defaults are the fastest.
    "no-bytecode": { type: "boolean" },
    "no-minify": { type: "boolean" },
  },
});

// BUILD_COMMIT: given by a builder without the git history (the Dockerfile's COMMIT build arg).
const given = process.env.BUILD_COMMIT?.trim();
const commit = given || (await Bun.$`git rev-parse --short=12 HEAD`.nothrow().quiet().text()).trim() || "unknown";
const dirty = !given && (await Bun.$`git status --porcelain --untracked-files=no`.nothrow().quiet().text()).trim() !== "";
const target = values.target as Bun.Build.CompileTarget | undefined;
const outfile = values.outfile ?? (target?.includes("windows") ? "dist/sensorflow.exe" : "dist/sensorflow");

const result = await Bun.build({
  entrypoints: ["src/index.ts"],
  compile: {
    outfile,
    ...(target ? { target } : {}),
    // Settings come from flags, the environment and the .env file that SensorFlow reads itself.
    autoloadDotenv: false,
    autoloadBunfig: false,
  },
  format: "esm",
  minify: !values["no-minify"],
  bytecode: !values["no-bytecode"],
  sourcemap: "linked",
  define: { BUILD_COMMIT: JSON.stringify(dirty ? `${commit}-dirty` : commit) },
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.log(`built ${outfile} (commit ${commit}${dirty ? ", uncommitted changes" : ""})`);
