// Builds the optional native kernels (native/) with node-gyp. A failed build is not fatal:
// md2pr then runs on its TypeScript kernels and says so once at run time.
// Without --force the build is skipped when the addon exists and is newer than every native source.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const nativeDir = join(root, "native");
const addon = join(nativeDir, "build", "Release", "md2pr_native.node");
const force = process.argv.includes("--force");
if (process.env.MD2PR_SKIP_NATIVE === "1") {
  console.log("md2pr: MD2PR_SKIP_NATIVE=1, native kernels not built");
  process.exit(0);
}

function newestSource() {
  const files = [join(nativeDir, "binding.gyp"), join(root, "scripts", "has-openblas.sh")];
  const src = join(nativeDir, "src");
  if (existsSync(src)) for (const f of readdirSync(src)) files.push(join(src, f));
  return Math.max(...files.filter((f) => existsSync(f)).map((f) => statSync(f).mtimeMs));
}

if (!force && existsSync(addon) && statSync(addon).mtimeMs >= newestSource()) process.exit(0);

// npm passes its bundled node-gyp in npm_config_node_gyp; fall back to a node-gyp on PATH.
const npmGyp = process.env.npm_config_node_gyp;
const [cmd, args] = npmGyp && existsSync(npmGyp)
  ? [process.execPath, [npmGyp, "rebuild", "--jobs=max"]]
  : ["node-gyp", ["rebuild", "--jobs=max"]];
// Build against the headers of the running node when it ships them (distro packages and official tarballs
// do), so that no header download is needed; an explicit npm nodedir setting wins.
const prefix = dirname(dirname(process.execPath));
if (!process.env.npm_config_nodedir && existsSync(join(prefix, "include", "node", "node_api.h"))) {
  args.push(`--nodedir=${prefix}`);
}
const result = spawnSync(cmd, args, { cwd: nativeDir, stdio: "inherit" });
if (result.status !== 0) {
  const why = result.error ? ` (${result.error.message})` : "";
  console.warn(`md2pr: WARNING: native kernels failed to build${why}; md2pr will use the (slower) TypeScript kernels.`);
}
process.exit(0);
