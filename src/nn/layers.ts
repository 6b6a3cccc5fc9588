/** Basic layers over the engine ops, with parameters named as in PyTorch / Hugging Face. */
import { embedding, gelu, layerNorm, linear, tanh } from "../engine/index.ts";
import type { Tensor } from "../engine/tensor.ts";
import type { VarBuilder } from "./var-builder.ts";

/** nn.Linear: weight [out, in], bias [out]. */
export class Linear {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(vb: VarBuilder, inFeatures: number, outFeatures: number, std: number, withBias = true) {
    this.weight = vb.get("weight", [outFeatures, inFeatures], { kind: "normal", std });
    this.bias = withBias ? vb.get("bias", [outFeatures], { kind: "zeros" }) : null;
  }
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

/** nn.LayerNorm over the last dimension: weight (gamma), bias (beta). */
export class LayerNorm {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(vb: VarBuilder, size: number, readonly eps: number) {
    this.weight = vb.get("weight", [size], { kind: "ones" });
    this.bias = vb.get("bias", [size], { kind: "zeros" });
  }
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

/** nn.Embedding: weight [num, dim]. */
export class Embedding {
  readonly weight: Tensor;
  constructor(vb: VarBuilder, num: number, dim: number, std: number) {
    this.weight = vb.get("weight", [num, dim], { kind: "normal", std });
  }
  forward(ids: Int32Array): Tensor {
    return embedding(this.weight, ids);
  }
}

export type Activation = "gelu" | "gelu_tanh" | "tanh";

export function activate(x: Tensor, act: Activation): Tensor {
  if (act === "tanh") return tanh(x);
  return gelu(x, act === "gelu_tanh");
}
