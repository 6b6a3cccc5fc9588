/**
 * Tape-based reverse-mode autodiff. Each op whose inputs require grad appends a backward closure to the
 * tape; `backward(loss)` seeds d loss = 1 and runs the tape in reverse. Gradients accumulate into `.grad`
 * (so parameters accumulate across micro-batches until zeroed). `noGrad` turns recording off.
 */
import { kernels } from "./kernels/index.ts";
import { Tensor, emptyFloat32 } from "./tensor.ts";

interface TapeEntry {
  output: Tensor;
  backward: (gradOut: Float32Array) => void;
}

let tape: TapeEntry[] = [];
let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn with gradient recording off (inference, teacher forward passes, evaluation). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/** True when an op on these inputs must record a backward step. */
export function needsGrad(...inputs: readonly (Tensor | null | undefined)[]): boolean {
  return gradEnabled && inputs.some((t) => t?.requiresGrad === true);
}

/**
 * Records `output`'s backward closure when any input requires grad. The closure receives d loss / d output
 * and must add the input gradients with `accumulateGrad`.
 */
export function record(output: Tensor, inputs: readonly (Tensor | null | undefined)[], backward: (gradOut: Float32Array) => void): Tensor {
  if (needsGrad(...inputs)) {
    output.requiresGrad = true;
    tape.push({ output, backward });
  }
  return output;
}

/**
 * Adds a gradient contribution to t. `fill(dst)` must OVERWRITE dst with the contribution; when t already has
 * a gradient the contribution goes through a temporary and is added.
 */
export function accumulateGrad(t: Tensor, fill: (dst: Float32Array) => void): void {
  if (!t.requiresGrad) return;
  if (t.grad === null) {
    t.grad = emptyFloat32(t.size);
    fill(t.grad);
    return;
  }
  const contribution = emptyFloat32(t.size);
  fill(contribution);
  kernels.axpy(1, contribution, t.grad, t.size);
}

/** t.grad += alpha * g (a copy when t has no gradient yet: no zero-fill, no add). */
export function addGrad(t: Tensor, g: Float32Array, alpha = 1): void {
  if (!t.requiresGrad) return;
  if (t.grad === null) {
    const d = emptyFloat32(t.size);
    if (alpha === 1) d.set(g.subarray(0, t.size));
    else kernels.scale(g, alpha, d, t.size);
    t.grad = d;
    return;
  }
  kernels.axpy(alpha, g, t.grad, t.size);
}

/** Gradient buffer of t for kernels that accumulate (+=) themselves; allocated as zeros if absent. */
export function gradBuffer(t: Tensor): Float32Array {
  if (t.grad === null) t.grad = new Float32Array(t.size);
  return t.grad;
}

/**
 * Where a kernel that computes dst = contribution + beta * dst (sgemm's beta) should write t's gradient:
 * a fresh buffer with beta 0 for the first contribution, else the existing gradient with beta 1 (no temporary).
 */
export function gradTarget(t: Tensor): [Float32Array, number] {
  if (t.grad === null) {
    t.grad = emptyFloat32(t.size);
    return [t.grad, 0];
  }
  return [t.grad, 1];
}

/** Backpropagates from a one-element loss through everything recorded since the last backward, then clears the tape. */
export function backward(loss: Tensor, gradScale = 1): void {
  if (loss.size !== 1) throw new Error(`backward: loss must have one element, got${loss.label()}`);
  if (!loss.requiresGrad) throw new Error("backward: the loss does not depend on any tensor that requires grad");
  const entries = tape;
  tape = [];
  const seed = gradBuffer(loss);
  seed[0] = seed[0]! + gradScale;
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i]!;
    const g = entry.output.grad;
    if (g !== null) entry.backward(g);
    // Intermediate gradients are not needed after their closure ran; free them early.
    if (entry.output !== loss) entry.output.grad = null;
  }
  loss.grad = null;
}

/** Drops everything recorded (for example after a forward pass whose loss is not backpropagated). */
export function clearTape(): void {
  tape = [];
}

export function tapeLength(): number {
  return tape.length;
}
