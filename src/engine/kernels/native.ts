/**
 * The native kernels: a thin adapter over the C++ N-API addon built from `native/` (see
 * scripts/build-native.mjs). The addon exports one function per kernel with the exact `Kernels`
 * signature, so this file only loads it and checks that every kernel is present.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Kernels } from "./types.ts";

/** Repo root, from src/engine/kernels/. */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const NATIVE_ADDON_PATH = join(ROOT, "native", "build", "Release", "md2pr_native.node");

export const KERNEL_NAMES = [
  "sgemm", "sgemmBatched", "softmaxForward", "softmaxBackward", "layerNormForward", "layerNormBackward",
  "geluForward", "geluBackward", "dropoutForward", "dropoutBackward", "embeddingForward", "embeddingBackward",
  "addBias", "sumRows", "add", "axpy", "scale", "sumSquares", "adamwStep", "relativeGatherForward",
  "relativeGatherBackward", "disentangledScoresForward", "disentangledScoresBackward", "disentangledScoresPackedForward",
  "disentangledScoresPackedBackward",
] as const satisfies readonly (keyof Kernels)[];

/** Extra entry points of the addon beyond the `Kernels` contract (used by tests and benchmarks). */
export interface NativeExtras {
  /** The portable (non-BLAS) C++ GEMM, same signature as sgemm. */
  sgemmPortable: Kernels["sgemm"];
  /** Threads used by the addon's own elementwise kernels. */
  numThreads(): number;
  /** Sets the thread count of the addon's pool (and of OpenBLAS); returns the previous value. */
  setNumThreads(n: number): number;
  /**
   * Selects how sgemmBatched runs (for benchmarks/tests): 0 auto, 1 loop of multi-threaded BLAS calls,
   * 2 batch split over the pool with single-threaded BLAS, 3 batch split over the pool with the portable
   * kernel. Returns the previous value.
   */
  setBatchedStrategy(s: number): number;
  /** Build description (compiler flags, BLAS configuration). */
  buildInfo(): string;
  hasOpenBlas: boolean;
}

export type NativeKernels = Kernels & { readonly native: NativeExtras };

export type NativeLoad = { ok: true; kernels: NativeKernels } | { ok: false; reason: string };

let cached: NativeLoad | undefined;

/** Loads the addon once; never throws. */
export function loadNativeKernels(): NativeLoad {
  if (cached) return cached;
  cached = tryLoad();
  return cached;
}

function tryLoad(): NativeLoad {
  let addon: Record<string, unknown>;
  try {
    const require = createRequire(import.meta.url);
    // MD2PR_NATIVE_ADDON overrides the path (used to test other builds, e.g. without OpenBLAS).
    addon = require(process.env.MD2PR_NATIVE_ADDON || NATIVE_ADDON_PATH) as Record<string, unknown>;
  } catch (e) {
    const msg = e instanceof Error ? e.message.split("\n")[0]! : String(e);
    return { ok: false, reason: (e as { code?: string }).code === "MODULE_NOT_FOUND" ? "addon not built" : msg };
  }
  for (const name of [...KERNEL_NAMES, "sgemmPortable", "numThreads", "setNumThreads", "setBatchedStrategy", "buildInfo"]) {
    if (typeof addon[name] !== "function") return { ok: false, reason: `addon lacks ${name}(); rebuild with npm run build:native` };
  }
  const fns = Object.fromEntries(KERNEL_NAMES.map((n) => [n, addon[n]])) as unknown as Omit<Kernels, "backend" | "blas">;
  const kernels: NativeKernels = {
    backend: "native",
    blas: addon.hasOpenBlas === true,
    ...fns,
    native: {
      sgemmPortable: addon.sgemmPortable as Kernels["sgemm"],
      numThreads: addon.numThreads as () => number,
      setNumThreads: addon.setNumThreads as (n: number) => number,
      setBatchedStrategy: addon.setBatchedStrategy as (s: number) => number,
      buildInfo: addon.buildInfo as () => string,
      hasOpenBlas: addon.hasOpenBlas === true,
    },
  };
  return { ok: true, kernels };
}
