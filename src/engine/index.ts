/** The engine: tensors, tape autograd, ops (forward + backward), kernels, RNG. */
export { Tensor, shapeSize, sameShape, assertSameShape } from "./tensor.ts";
export { backward, noGrad, isGradEnabled, clearTape, tapeLength } from "./autograd.ts";
export { Rng } from "./rng.ts";
export { kernels, kernelsInfo } from "./kernels/index.ts";
export * from "./ops/matmul.ts";
export * from "./ops/elementwise.ts";
export * from "./ops/normalization.ts";
export * from "./ops/indexing.ts";
export * from "./ops/reduce.ts";
export * from "./ops/loss.ts";
export * from "./ops/relative.ts";
