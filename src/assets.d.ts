// Files embedded with `import path from "..." with { type: "file" }`: the import is a path that
// Bun.file can read, in the compiled executable too.
declare module "*/standalone.js" {
  const path: string;
  export default path;
}

declare module "*.ico" {
  const path: string;
  export default path;
}
declare module "*.css" {
  const path: string;
  export default path;
}
declare module "*.iife.min.js" {
  const path: string;
  export default path;
}

// prom-client's metric classes, imported one file each: the package's index also loads cluster
// aggregation, default metrics, summaries and the push gateway, ~7 MB of memory we do not use.
declare module "prom-client/lib/registry" {
  import { Registry } from "prom-client";
  export default Registry;
}
declare module "prom-client/lib/counter" {
  import { Counter } from "prom-client";
  export default Counter;
}
declare module "prom-client/lib/gauge" {
  import { Gauge } from "prom-client";
  export default Gauge;
}
declare module "prom-client/lib/histogram" {
  import { Histogram } from "prom-client";
  export default Histogram;
}
