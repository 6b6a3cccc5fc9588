/** Elementwise ops: add, bias, scale, GELU, tanh, multiply. Each forward with its backward beside it. */
import { accumulateGrad, addGrad, gradBuffer, record } from "../autograd.ts";
import { kernels } from "../kernels/index.ts";
import { Tensor, assertSameShape } from "../tensor.ts";

/** a + b (same shape). */
export function add(a: Tensor, b: Tensor): Tensor {
  assertSameShape("add", a, b);
  const out = Tensor.empty(a.shape);
  kernels.add(a.data, b.data, out.data, a.size);
  return record(out, [a, b], (g) => {
    addGrad(a, g);
    addGrad(b, g);
  });
}

/** x [rows, cols] + bias [cols] broadcast over rows. */
export function addBias(x: Tensor, bias: Tensor): Tensor {
  const cols = bias.size;
  if (x.shape[x.shape.length - 1] !== cols) throw new Error(`addBias: x${x.label()} does not end in bias size${bias.label()}`);
  const rows = x.size / cols;
  const out = Tensor.empty(x.shape);
  kernels.addBias(x.data, bias.data, out.data, rows, cols);
  return record(out, [x, bias], (g) => {
    addGrad(x, g);
    if (bias.requiresGrad) kernels.sumRows(g, gradBuffer(bias), rows, cols);
  });
}

/** alpha * x. */
export function scale(x: Tensor, alpha: number): Tensor {
  const out = Tensor.empty(x.shape);
  kernels.scale(x.data, alpha, out.data, x.size);
  return record(out, [x], (g) => {
    addGrad(x, g, alpha);
  });
}

/** a * b elementwise (same shape). */
export function mul(a: Tensor, b: Tensor): Tensor {
  assertSameShape("mul", a, b);
  const out = Tensor.empty(a.shape);
  const n = a.size;
  for (let i = 0; i < n; i++) out.data[i] = a.data[i]! * b.data[i]!;
  return record(out, [a, b], (g) => {
    if (a.requiresGrad) {
      const d = gradBuffer(a);
      for (let i = 0; i < n; i++) d[i] = d[i]! + g[i]! * b.data[i]!;
    }
    if (b.requiresGrad) {
      const d = gradBuffer(b);
      for (let i = 0; i < n; i++) d[i] = d[i]! + g[i]! * a.data[i]!;
    }
  });
}

/** Sum of terms with weights: sum_i w_i * t_i (same shapes); used to combine losses. */
export function weightedSum(terms: readonly Tensor[], weights: readonly number[]): Tensor {
  if (terms.length === 0 || terms.length !== weights.length) throw new Error("weightedSum: need as many weights as terms (at least one)");
  const first = terms[0]!;
  const out = Tensor.zeros(first.shape);
  terms.forEach((t, i) => {
    assertSameShape("weightedSum", first, t);
    kernels.axpy(weights[i]!, t.data, out.data, t.size);
  });
  return record(out, terms, (g) => {
    terms.forEach((t, i) => {
      if (t.requiresGrad) kernels.axpy(weights[i]!, g, gradBuffer(t), t.size);
    });
  });
}

/** GELU: exact erf form (HF "gelu") or the tanh approximation ("gelu_new"). */
export function gelu(x: Tensor, approximate = false): Tensor {
  const out = Tensor.empty(x.shape);
  kernels.geluForward(x.data, out.data, x.size, approximate);
  return record(out, [x], (g) => {
    accumulateGrad(x, (dst) => kernels.geluBackward(x.data, g, dst, x.size, approximate));
  });
}

/** tanh(x) (BERT pooler). d/dx = 1 - tanh^2. */
export function tanh(x: Tensor): Tensor {
  const out = Tensor.empty(x.shape);
  const n = x.size;
  for (let i = 0; i < n; i++) out.data[i] = Math.tanh(x.data[i]!);
  return record(out, [x], (g) => {
    const d = gradBuffer(x);
    for (let i = 0; i < n; i++) {
      const y = out.data[i]!;
      d[i] = d[i]! + g[i]! * (1 - y * y);
    }
  });
}
