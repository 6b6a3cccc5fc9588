/**
 * VarBuilder (after candle's): hands out named parameters, either loaded from a checkpoint (a missing tensor or
 * a shape mismatch is an error naming the tensor and the file) or freshly initialised from a seeded RNG.
 * Every parameter handed out is collected, under its full dotted name, in `params` (the model's state dict).
 */
import { Rng } from "../engine/rng.ts";
import { Tensor, sameShape } from "../engine/tensor.ts";

export type Init = { kind: "normal"; std: number } | { kind: "zeros" } | { kind: "ones" };

export interface NamedArray {
  shape: readonly number[];
  data: Float32Array;
}

interface Source {
  tensors: Map<string, NamedArray>;
  /** Where the tensors came from, for error messages. */
  origin: string;
  /** Name prefixes also tried when a name is missing (HF checkpoints may prefix "bert."). */
  fallbackPrefixes: readonly string[];
}

export class VarBuilder {
  private constructor(
    readonly params: Map<string, Tensor>,
    private readonly prefix: string,
    private readonly source: Source | null,
    private readonly rng: Rng | null,
    /** Names initialised randomly even though a source is given (for example a new head on a loaded encoder). */
    private readonly randomFor: ((name: string) => boolean) | null = null,
  ) {}

  /** This loading builder, except that names matching `when` are initialised randomly from `seed`. */
  withRandomFor(seed: number, when: (name: string) => boolean): VarBuilder {
    return new VarBuilder(this.params, this.prefix, this.source, new Rng(seed), when);
  }

  /** Parameters initialised randomly (normal std for weights as the caller asks; seeded). */
  static random(seed: number): VarBuilder {
    return new VarBuilder(new Map(), "", null, new Rng(seed));
  }

  /** Parameters read from loaded tensors (for example a safetensors file). */
  static fromTensors(tensors: Map<string, NamedArray>, origin: string, fallbackPrefixes: readonly string[] = ["bert."]): VarBuilder {
    return new VarBuilder(new Map(), "", { tensors, origin, fallbackPrefixes }, null);
  }

  /** A builder whose names are under `prefix.name` (shares the parameter collection). */
  pp(name: string | number): VarBuilder {
    return new VarBuilder(this.params, this.prefix ? `${this.prefix}.${name}` : String(name), this.source, this.rng, this.randomFor);
  }

  /** True when the source has a tensor of that name (random builders: false). */
  has(name: string): boolean {
    if (!this.source) return false;
    const full = this.fullName(name);
    const tensors = this.source.tensors;
    return tensors.has(full) || this.source.fallbackPrefixes.some((p) => tensors.has(p + full) || (full.startsWith(p) && tensors.has(full.slice(p.length))));
  }

  /** True when get(name) would initialise the tensor randomly rather than load it. */
  initialisesRandomly(name: string): boolean {
    const full = this.fullName(name);
    return this.source === null || (this.randomFor !== null && this.randomFor(full));
  }

  get isLoading(): boolean {
    return this.source !== null;
  }

  get(name: string, shape: readonly number[], init: Init): Tensor {
    const full = this.fullName(name);
    const existing = this.params.get(full);
    if (existing) {
      if (!sameShape(existing.shape, shape)) throw new Error(`parameter '${full}' requested as [${shape.join(", ")}] but exists as [${existing.shape.join(", ")}]`);
      return existing;
    }
    const tensor = this.initialisesRandomly(name) ? this.init(full, shape, init) : this.load(full, shape);
    tensor.requiresGrad = true;
    this.params.set(full, tensor);
    return tensor;
  }

  private fullName(name: string): string {
    return this.prefix ? `${this.prefix}.${name}` : name;
  }

  private load(full: string, shape: readonly number[]): Tensor {
    const src = this.source!;
    let found = src.tensors.get(full);
    for (const p of src.fallbackPrefixes) {
      // "embeddings.x" may be stored as "bert.embeddings.x", and "bert.embeddings.x" as "embeddings.x"
      found ??= src.tensors.get(p + full) ?? (full.startsWith(p) ? src.tensors.get(full.slice(p.length)) : undefined);
    }
    if (!found) throw new Error(`${src.origin}: missing tensor '${full}'`);
    if (!sameShape(found.shape, shape)) {
      throw new Error(`${src.origin}: tensor '${full}' has shape [${found.shape.join(", ")}], the model expects [${shape.join(", ")}]`);
    }
    return new Tensor(Float32Array.from(found.data), shape, true, full);
  }

  private init(full: string, shape: readonly number[], init: Init): Tensor {
    const t = Tensor.zeros(shape, true, full);
    if (init.kind === "ones") t.data.fill(1);
    else if (init.kind === "normal") {
      const rng = this.rng!;
      for (let i = 0; i < t.size; i++) t.data[i] = rng.normal() * init.std;
    }
    return t;
  }
}
