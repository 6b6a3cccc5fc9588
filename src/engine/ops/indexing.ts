/** Embedding lookup, row gather/scatter, reshape, concat, slicing of rows. */
import { accumulateGrad, addGrad, gradBuffer, record } from "../autograd.ts";
import { kernels } from "../kernels/index.ts";
import { Tensor, shapeSize } from "../tensor.ts";

/** out[i] = table[ids[i]] : [n, dim]; gradient scatter-added into the table. */
export function embedding(table: Tensor, ids: Int32Array): Tensor {
  const vocab = table.dim(0);
  const dim = table.dim(1);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (id < 0 || id >= vocab) throw new Error(`embedding: id ${id} at position ${i} is outside table${table.label()}`);
  }
  const out = Tensor.empty([ids.length, dim]);
  kernels.embeddingForward(table.data, ids, out.data, ids.length, dim);
  return record(out, [table], (g) => {
    kernels.embeddingBackward(g, ids, gradBuffer(table), ids.length, dim);
  });
}

/** Rows of a 2-D tensor by index: out[i] = x[rows[i]]. Same as embedding, for activations. */
export function gatherRows(x: Tensor, rows: Int32Array): Tensor {
  return embedding(x, rows);
}

/** A view with another shape of the same size (shares data; gradient flows through unchanged). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  if (shapeSize(shape) !== x.size) throw new Error(`reshape: cannot view${x.label()} as [${shape.join(", ")}]`);
  const out = new Tensor(x.data, shape);
  return record(out, [x], (g) => addGrad(x, g));
}

/** Concatenates 2-D tensors along rows (all with the same number of columns). */
export function concatRows(parts: readonly Tensor[]): Tensor {
  if (parts.length === 0) throw new Error("concatRows: nothing to concatenate");
  const cols = parts[0]!.dim(1);
  let rows = 0;
  for (const p of parts) {
    if (p.shape.length !== 2 || p.dim(1) !== cols) throw new Error(`concatRows: part${p.label()} does not have ${cols} columns`);
    rows += p.dim(0);
  }
  const out = Tensor.empty([rows, cols]);
  let offset = 0;
  for (const p of parts) {
    out.data.set(p.data, offset);
    offset += p.size;
  }
  return record(out, parts, (g) => {
    let o = 0;
    for (const p of parts) {
      if (p.requiresGrad) kernels.axpy(1, g.subarray(o, o + p.size), gradBuffer(p), p.size);
      o += p.size;
    }
  });
}

/** Rows [start, end) of a 2-D tensor. */
export function sliceRows(x: Tensor, start: number, end: number): Tensor {
  const cols = x.dim(1);
  if (start < 0 || end > x.dim(0) || start > end) throw new Error(`sliceRows: [${start}, ${end}) outside${x.label()}`);
  const out = new Tensor(x.data.slice(start * cols, end * cols), [end - start, cols]);
  return record(out, [x], (g) => {
    accumulateGrad(x, (dst) => {
      dst.fill(0);
      dst.set(g, start * cols);
    });
  });
}

/** Transpose of a 2-D tensor (copies). */
export function transpose(x: Tensor): Tensor {
  const r = x.dim(0);
  const c = x.dim(1);
  const out = Tensor.empty([c, r]);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out.data[j * r + i] = x.data[i * c + j]!;
  return record(out, [x], (g) => {
    const d = gradBuffer(x);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) d[i * c + j] = d[i * c + j]! + g[j * r + i]!;
  });
}

/**
 * Sets entries where keep[i] === 0 to `value` (for example -Infinity to remove a candidate from a softmax);
 * their gradient is zero.
 */
export function maskedFill(x: Tensor, keep: Uint8Array, value: number): Tensor {
  if (keep.length !== x.size) throw new Error(`maskedFill: mask of ${keep.length} values for x${x.label()}`);
  const out = Tensor.empty(x.shape);
  for (let i = 0; i < x.size; i++) out.data[i] = keep[i] ? x.data[i]! : value;
  return record(out, [x], (g) => {
    const d = gradBuffer(x);
    for (let i = 0; i < x.size; i++) if (keep[i]) d[i] = d[i]! + g[i]!;
  });
}

/** Picks elements by flat index: out (shape `shape`) [j] = x.data[indices[j]]; gradient scattered back. */
export function takeElements(x: Tensor, indices: Int32Array, shape: readonly number[]): Tensor {
  if (shapeSize(shape) !== indices.length) throw new Error(`takeElements: ${indices.length} indices for shape [${shape.join(", ")}]`);
  const out = Tensor.empty(shape);
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j]!;
    if (i < 0 || i >= x.size) throw new Error(`takeElements: index ${i} outside${x.label()}`);
    out.data[j] = x.data[i]!;
  }
  return record(out, [x], (g) => {
    const d = gradBuffer(x);
    for (let j = 0; j < indices.length; j++) d[indices[j]!] = d[indices[j]!]! + g[j]!;
  });
}
