/**
 * The kernels the engine uses: the native addon when it loads (and MD2PR_KERNELS is not "typescript"),
 * else the TypeScript reference kernels, with one warning on stderr when the addon failed to load.
 */
import { loadNativeKernels } from "./native.ts";
import { referenceKernels } from "./reference.ts";
import type { Kernels } from "./types.ts";

export type { Kernels } from "./types.ts";
export { dropoutUniform } from "./types.ts";
export { referenceKernels } from "./reference.ts";

let info: string;

function select(): Kernels {
  if (process.env.MD2PR_KERNELS === "typescript") {
    info = "typescript (MD2PR_KERNELS=typescript)";
    return referenceKernels;
  }
  const loaded = loadNativeKernels();
  if (loaded.ok) {
    const k = loaded.kernels;
    info = `native (${k.blas ? "OpenBLAS GEMM" : "portable C++ GEMM"}, ${k.native.numThreads()} threads)`;
    return k;
  }
  process.stderr.write(`md2pr: native kernels unavailable (${loaded.reason}); using TypeScript kernels\n`);
  info = `typescript (native unavailable: ${loaded.reason})`;
  return referenceKernels;
}

export const kernels: Kernels = select();

/** One line describing the active kernel backend, for logs and `--version`-style output. */
export function kernelsInfo(): string {
  return info;
}
