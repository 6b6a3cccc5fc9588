/**
 * Fixed-capacity top-k selection with a binary min-heap over typed arrays.
 * Order: higher score first; on equal scores the larger tie key wins (when a key array is given),
 * else the smaller index wins. `sorted()` returns the kept entries best first.
 */
export class TopK {
  readonly k: number;
  private readonly scores: Float64Array;
  private readonly idx: Int32Array;
  private size = 0;
  private readonly tieKey: Int32Array | null;

  constructor(k: number, tieKey: Int32Array | null = null) {
    if (!Number.isInteger(k) || k <= 0) throw new Error(`TopK: k must be a positive integer, got ${k}`);
    this.k = k;
    this.scores = new Float64Array(k);
    this.idx = new Int32Array(k);
    this.tieKey = tieKey;
  }

  get length(): number {
    return this.size;
  }

  /** The worst kept score, or -Infinity while fewer than k are kept (a cheap pre-filter for push). */
  threshold(): number {
    return this.size < this.k ? -Infinity : this.scores[0]!;
  }

  reset(): void {
    this.size = 0;
  }

  /** true when (sa, ia) ranks below (sb, ib). */
  private worse(sa: number, ia: number, sb: number, ib: number): boolean {
    if (sa !== sb) return sa < sb;
    if (this.tieKey) return this.tieKey[ia]! < this.tieKey[ib]!;
    return ia > ib;
  }

  push(score: number, index: number): void {
    const s = this.scores;
    const x = this.idx;
    if (this.size < this.k) {
      let i = this.size++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!this.worse(score, index, s[p]!, x[p]!)) break;
        s[i] = s[p]!;
        x[i] = x[p]!;
        i = p;
      }
      s[i] = score;
      x[i] = index;
      return;
    }
    if (!this.worse(s[0]!, x[0]!, score, index)) return;
    // replace the root and sift down
    let i = 0;
    const n = this.size;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.worse(s[r]!, x[r]!, s[l]!, x[l]!)) c = r;
      if (!this.worse(s[c]!, x[c]!, score, index)) break;
      s[i] = s[c]!;
      x[i] = x[c]!;
      i = c;
    }
    s[i] = score;
    x[i] = index;
  }

  /** Kept entries, best first. */
  sorted(): { indices: Int32Array; scores: Float64Array } {
    const n = this.size;
    const order = Array.from({ length: n }, (_, i) => i);
    order.sort((a, b) => (this.worse(this.scores[a]!, this.idx[a]!, this.scores[b]!, this.idx[b]!) ? 1 : -1));
    const indices = new Int32Array(n);
    const scores = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      indices[i] = this.idx[order[i]!]!;
      scores[i] = this.scores[order[i]!]!;
    }
    return { indices, scores };
  }
}
