// Version and commit of this build. `bun run build` defines BUILD_COMMIT; a run from source has none.
import pkg from "../package.json";

declare const BUILD_COMMIT: string | undefined;

export const VERSION: string = pkg.version;
export const COMMIT: string = typeof BUILD_COMMIT === "string" ? BUILD_COMMIT : "source";
