// Entry point of `bun run start` and of the compiled executable.
import { main } from "./cli";

const code = await main(process.argv.slice(2), process.env);
process.exit(code);
