// Files embedded with `import path from "..." with { type: "file" }`: the import is a path that
// Bun.file can read, in the compiled executable too.
declare module "*/standalone.js" {
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
