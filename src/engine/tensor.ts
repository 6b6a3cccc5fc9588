/**
 * Tensor: a shape and a row-major Float32Array, with an optional gradient buffer of the same size.
 * Autograd is a tape (see autograd.ts): ops that take a tensor requiring grad record a backward closure.
 */
export class Tensor {
  /** Gradient, allocated lazily by the first backward contribution (same length as data). */
  grad: Float32Array | null = null;

  constructor(
    public data: Float32Array,
    public readonly shape: readonly number[],
    public requiresGrad = false,
    public name = "",
  ) {
    const expected = shapeSize(shape);
    if (expected !== data.length) {
      throw new Error(`Tensor${name ? ` '${name}'` : ""}: shape [${shape.join(", ")}] needs ${expected} values, got ${data.length}`);
    }
  }

  get size(): number {
    return this.data.length;
  }

  static zeros(shape: readonly number[], requiresGrad = false, name = ""): Tensor {
    return new Tensor(new Float32Array(shapeSize(shape)), shape, requiresGrad, name);
  }

  /**
   * A tensor whose values are NOT initialised (no zero-fill): only for outputs a kernel fully overwrites.
   */
  static empty(shape: readonly number[], requiresGrad = false, name = ""): Tensor {
    return new Tensor(emptyFloat32(shapeSize(shape)), shape, requiresGrad, name);
  }

  static from(values: ArrayLike<number>, shape: readonly number[], requiresGrad = false, name = ""): Tensor {
    return new Tensor(Float32Array.from(values), shape, requiresGrad, name);
  }

  static scalar(value: number): Tensor {
    return new Tensor(Float32Array.of(value), [1]);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.data.length !== 1) throw new Error(`item(): tensor${this.label()} has ${this.data.length} values, not 1`);
    return this.data[0]!;
  }

  /** A short description for error messages. */
  label(): string {
    return `${this.name ? ` '${this.name}'` : ""} [${this.shape.join(", ")}]`;
  }

  /** Size of dimension d (negative d counts from the end). */
  dim(d: number): number {
    const i = d < 0 ? this.shape.length + d : d;
    const v = this.shape[i];
    if (v === undefined) throw new Error(`dim(${d}): tensor${this.label()} has rank ${this.shape.length}`);
    return v;
  }

  zeroGrad(): void {
    if (this.grad) this.grad.fill(0);
  }
}

/**
 * A Float32Array of n values without the zero-fill V8 does for `new Float32Array(n)` (the memory comes from
 * Buffer.allocUnsafeSlow, not from Node's shared pool, so it is owned by this array alone). Small arrays are
 * allocated normally. Callers must overwrite every element before reading it.
 */
export function emptyFloat32(n: number): Float32Array {
  if (n < 1024) return new Float32Array(n);
  const buf = Buffer.allocUnsafeSlow(n * 4);
  return new Float32Array(buf.buffer, buf.byteOffset, n);
}

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape [${shape.join(", ")}]`);
    n *= d;
  }
  return n;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Throws an error naming the op and both shapes when they differ. */
export function assertSameShape(op: string, a: Tensor, b: Tensor): void {
  if (!sameShape(a.shape, b.shape)) {
    throw new Error(`${op}: shape mismatch:${a.label()} vs${b.label()}`);
  }
}

export function assertRank(op: string, t: Tensor, rank: number): void {
  if (t.shape.length !== rank) throw new Error(`${op}: expected a rank-${rank} tensor, got${t.label()}`);
}
