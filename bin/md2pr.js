#!/usr/bin/env node
// Launcher for the md2pr command line. An installed package runs the compiled JavaScript (dist/). In a checkout it
// runs dist/ when that is at least as new as every file under src/ (`npm run build`), else the TypeScript sources
// through tsx's loader registered in this process (what `node --import tsx` does), so an edit is never shadowed by
// a stale build. Staying in one process keeps stdin/stdout/stderr and the exit code as they are.
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const built = join(root, "dist", "cli", "main.js");
const source = join(root, "src", "cli", "main.ts");

/** The newest modification time of the files under `dir` (0 when it does not exist). */
function newest(dir) {
  let t = 0;
  if (!existsSync(dir)) return t;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return t;
}

const useBuilt = existsSync(built) && (!existsSync(source) || statSync(built).mtimeMs >= newest(join(root, "src")));
if (useBuilt) {
  await import("../dist/cli/main.js");
} else {
  await import("tsx");
  await import("../src/cli/main.ts");
}
