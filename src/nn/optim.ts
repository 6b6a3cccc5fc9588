/**
 * AdamW (decoupled weight decay, exactly torch.optim.AdamW), global-norm gradient clipping, and the linear
 * warm-up / linear decay learning-rate schedule (HF get_linear_schedule_with_warmup).
 */
import { kernels } from "../engine/kernels/index.ts";
import type { Tensor } from "../engine/tensor.ts";

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Parameter names that get no weight decay; default: biases and LayerNorm weights (HF/BERT convention). */
  noDecay?: (name: string) => boolean;
}

export function isNoDecayParameter(name: string): boolean {
  return name.endsWith(".bias") || name === "bias" || /LayerNorm\.weight$|layer_norm\.weight$/.test(name);
}

export interface AdamWState {
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export class AdamW {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly noDecay: (name: string) => boolean;
  state: AdamWState = { step: 0, m: new Map(), v: new Map() };

  constructor(readonly params: Map<string, Tensor>, options: AdamWOptions) {
    this.lr = options.lr;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    this.noDecay = options.noDecay ?? isNoDecayParameter;
  }

  /** One update with the current gradients (parameters without a gradient are skipped, as in PyTorch). */
  step(): void {
    this.state.step += 1;
    const t = this.state.step;
    const bias1 = 1 - this.beta1 ** t;
    const bias2 = 1 - this.beta2 ** t;
    for (const [name, p] of this.params) {
      if (!p.requiresGrad || p.grad === null) continue;
      let m = this.state.m.get(name);
      let v = this.state.v.get(name);
      if (!m || !v) {
        m = new Float32Array(p.size);
        v = new Float32Array(p.size);
        this.state.m.set(name, m);
        this.state.v.set(name, v);
      }
      const wd = this.noDecay(name) ? 0 : this.weightDecay;
      kernels.adamwStep(p.data, p.grad, m, v, p.size, this.lr, this.beta1, this.beta2, this.eps, wd, bias1, bias2);
    }
  }

  zeroGrad(): void {
    for (const p of this.params.values()) p.grad = null;
  }
}

/** Scales all gradients so their global L2 norm is at most maxNorm; returns the norm before clipping. */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number): number {
  const list = [...params].filter((p) => p.grad !== null);
  let sq = 0;
  for (const p of list) sq += kernels.sumSquares(p.grad!, p.size);
  const norm = Math.sqrt(sq);
  if (Number.isFinite(maxNorm) && maxNorm > 0 && norm > maxNorm) {
    const factor = maxNorm / (norm + 1e-6);
    for (const p of list) kernels.scale(p.grad!, factor, p.grad!, p.size);
  }
  return norm;
}

/**
 * Multiplier of the base learning rate at optimizer step `step` (0-based), as HF get_linear_schedule_with_warmup:
 * step / warmup during warm-up, then linear decay to 0 at totalSteps.
 */
export function linearWarmupDecay(step: number, warmupSteps: number, totalSteps: number): number {
  if (step < warmupSteps) return step / Math.max(1, warmupSteps);
  return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
}
