// Copies the files under src/ that tsc does not emit (the search page: html, css, js) to the same place under dist/,
// so that the compiled package finds them next to its modules. READMEs and TypeScript sources are left out.
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src");
const dist = join(root, "dist");

function* assets(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* assets(path);
    else if (!entry.name.endsWith(".ts") && entry.name !== "README.md") yield path;
  }
}

let n = 0;
for (const file of assets(src)) {
  const target = join(dist, relative(src, file));
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(file, target);
  n++;
}
console.log(`md2pr: copied ${n} asset file(s) from src/ to dist/`);
