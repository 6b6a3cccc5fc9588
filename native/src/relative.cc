// DeBERTa's disentangled attention. relativeGather*: the gather of the relative-position score terms and the
// scatter of their gradients over n blocks: scores [n, T, T], c2p and p2c [n, T, P], index tables [T, T] with
// values in [0, P):
//   out[m, i, j] = scores[m, i, j] + c2p[m, i, c2pIndex[i, j]] + p2c[m, j, p2cIndex[j, i]]
// Blocks are independent (split over the pool); within a block the order of the float operations is the
// reference's, so results match it bit for bit. disentangledScores*: the same with the score terms computed
// (GEMMs per batch element and head) instead of read from materialised tables; equal to the reference up to
// float rounding (the GEMMs, and the tables' row windows below). disentangledScoresPacked*: the same over
// sequences of different lengths stored back to back (padding-free).
#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common.h"

namespace md2pr {

namespace {

// Work per thread below which a split does not pay (elements of [T, T]).
constexpr size_t kMinElemsPerThread = 1 << 15;

bool CheckIndex(Args& args, const char* name, const int32_t* idx, size_t len, int64_t seq, int64_t P) {
  int64_t block = seq * seq;
  args.need(name, len, static_cast<size_t>(block));
  if (!args.ok()) return false;
  for (int64_t e = 0; e < block; e++) {
    if (idx[e] < 0 || idx[e] >= P) {
      args.rangeError(std::string(name) + " value " + std::to_string(idx[e]) + " at " + std::to_string(e) +
                      " outside [0, " + std::to_string(P) + ")");
      return false;
    }
  }
  return true;
}

// src[i * T + j] = j * P + index[j * ld + i]: the flat offset (within one [T, P] block) that element (i, j) of the
// transposed (p2c) gather reads (the index the top-left [T, T] part of a table with rows of ld values).
void TransposedOffsets(const int32_t* index, int64_t T, int64_t ld, int64_t P, std::vector<int32_t>& src) {
  src.resize(static_cast<size_t>(T * T));
  for (int64_t j = 0; j < T; j++) {
    const int32_t* row = index + j * ld;
    const int32_t base = static_cast<int32_t>(j * P);
    for (int64_t i = 0; i < T; i++) src[i * T + j] = base + row[i];
  }
}

// One block: o = s + c[gather] + p[gather], leaving out absent terms (and 0 when all are absent).
template <bool HasS, bool HasC, bool HasP>
void GatherBlock(const float* s, const float* c, const int32_t* cIndex, const float* p, const int32_t* pSrc, float* o,
                 int64_t T, int64_t P) {
  for (int64_t i = 0; i < T; i++) {
    const float* crow = HasC ? c + i * P : nullptr;
    const int32_t* ci = cIndex + i * T;
    const int32_t* pi = pSrc + i * T;
    const float* srow = HasS ? s + i * T : nullptr;
    float* orow = o + i * T;
    for (int64_t j = 0; j < T; j++) {
      float v = 0.f;
      if constexpr (HasS) v = srow[j];
      if constexpr (HasC) v = HasS ? v + crow[ci[j]] : crow[ci[j]];
      if constexpr (HasP) v = (HasS || HasC) ? v + p[pi[j]] : p[pi[j]];
      orow[j] = v;
    }
  }
}

using GatherFn = void (*)(const float*, const float*, const int32_t*, const float*, const int32_t*, float*, int64_t,
                          int64_t);

template <bool HasS>
GatherFn PickGather(bool hasC, bool hasP) {
  if (hasC) return hasP ? GatherBlock<HasS, true, true> : GatherBlock<HasS, true, false>;
  return hasP ? GatherBlock<HasS, false, true> : GatherBlock<HasS, false, false>;
}

// relativeGatherForward(scores|null, c2p|null, c2pIndex, p2c|null, p2cIndex, out, n, seq, P)
Napi::Value RelativeGatherForward(const Napi::CallbackInfo& info) {
  Args args(info, "relativeGatherForward", 9);
  size_t sl = 0, cl = 0, cil = 0, pl = 0, pil = 0, ol = 0;
  float* s = args.f32OrNull(0, "scores", &sl);
  float* c = args.f32OrNull(1, "c2p", &cl);
  int32_t* ci = args.i32(2, "c2pIndex", &cil);
  float* p = args.f32OrNull(3, "p2c", &pl);
  int32_t* pi = args.i32(4, "p2cIndex", &pil);
  float* o = args.f32(5, "out", &ol);
  int64_t n = args.dim(6, "n"), T = args.dim(7, "seq"), P = args.dim(8, "P");
  if (!args.ok()) return args.fail();
  const int64_t block = T * T, fblock = T * P;
  if (s) args.need("scores", sl, static_cast<size_t>(n * block));
  if (c) args.need("c2p", cl, static_cast<size_t>(n * fblock));
  if (p) args.need("p2c", pl, static_cast<size_t>(n * fblock));
  args.need("out", ol, static_cast<size_t>(n * block));
  if (c && !CheckIndex(args, "c2pIndex", ci, cil, T, P)) return args.fail();
  if (p && !CheckIndex(args, "p2cIndex", pi, pil, T, P)) return args.fail();
  if (!args.ok()) return args.fail();
  if (n == 0 || block == 0) return info.Env().Undefined();
  std::vector<int32_t> pSrc;
  if (p) TransposedOffsets(pi, T, T, P, pSrc);
  const int32_t* psrc = p ? pSrc.data() : ci;  // unused without p2c
  GatherFn fn = s ? PickGather<true>(c != nullptr, p != nullptr) : PickGather<false>(c != nullptr, p != nullptr);
  size_t minBlocks = std::max<size_t>(1, kMinElemsPerThread / static_cast<size_t>(block));
  ParallelFor(static_cast<size_t>(n), minBlocks, [&](size_t m0, size_t m1) {
    for (size_t m = m0; m < m1; m++) {
      fn(s ? s + m * block : nullptr, c ? c + m * fblock : nullptr, ci, p ? p + m * fblock : nullptr, psrc,
         o + m * block, T, P);
    }
  }, 1);
  return info.Env().Undefined();
}

// Adds the block g [T, T] into s [T, P] through the c2p index (transposed: the p2c index), each destination in
// order of its sources (increasing j for c2p, increasing i for p2c). The index is the top-left [T, T] part of a
// table with rows of ld values (ld >= T).
void ScatterRows(const float* g, const int32_t* index, int64_t ld, bool transposed, float* s, int64_t T, int64_t P) {
  if (!transposed) {
    for (int64_t i = 0; i < T; i++) {
      float* srow = s + i * P;
      const int32_t* idx = index + i * ld;
      const float* grow = g + i * T;
      for (int64_t j = 0; j < T; j++) srow[idx[j]] += grow[j];
    }
  } else {
    for (int64_t j = 0; j < T; j++) {
      float* srow = s + j * P;
      const int32_t* idx = index + j * ld;
      const float* gcol = g + j;
      for (int64_t i = 0; i < T; i++) srow[idx[i]] += gcol[i * T];
    }
  }
}

// Zeroes s [T, P] and scatters g into it (ScatterRows).
void ScatterBlock(const float* g, const int32_t* index, bool transposed, float* s, int64_t T, int64_t P) {
  std::memset(s, 0, static_cast<size_t>(T * P) * sizeof(float));
  ScatterRows(g, index, T, transposed, s, T, P);
}

// relativeGatherBackward(dOut, dC2p|null, c2pIndex, dP2c|null, p2cIndex, n, seq, P): overwrites dC2p / dP2c with
// the scatter of dOut (zeros where nothing lands). Each destination element accumulates its sources in the
// reference's order (increasing j for c2p, increasing i for p2c).
Napi::Value RelativeGatherBackward(const Napi::CallbackInfo& info) {
  Args args(info, "relativeGatherBackward", 8);
  size_t gl = 0, cl = 0, cil = 0, pl = 0, pil = 0;
  float* g = args.f32(0, "dOut", &gl);
  float* dc = args.f32OrNull(1, "dC2p", &cl);
  int32_t* ci = args.i32(2, "c2pIndex", &cil);
  float* dp = args.f32OrNull(3, "dP2c", &pl);
  int32_t* pi = args.i32(4, "p2cIndex", &pil);
  int64_t n = args.dim(5, "n"), T = args.dim(6, "seq"), P = args.dim(7, "P");
  if (!args.ok()) return args.fail();
  const int64_t block = T * T, fblock = T * P;
  args.need("dOut", gl, static_cast<size_t>(n * block));
  if (dc) args.need("dC2p", cl, static_cast<size_t>(n * fblock));
  if (dp) args.need("dP2c", pl, static_cast<size_t>(n * fblock));
  if (dc && !CheckIndex(args, "c2pIndex", ci, cil, T, P)) return args.fail();
  if (dp && !CheckIndex(args, "p2cIndex", pi, pil, T, P)) return args.fail();
  if (!args.ok()) return args.fail();
  if (n == 0 || fblock == 0) return info.Env().Undefined();
  size_t minBlocks = std::max<size_t>(1, kMinElemsPerThread / static_cast<size_t>(block ? block : 1));
  ParallelFor(static_cast<size_t>(n), minBlocks, [&](size_t m0, size_t m1) {
    for (size_t m = m0; m < m1; m++) {
      const float* gb = g + m * block;
      if (dc) ScatterBlock(gb, ci, false, dc + m * fblock, T, P);
      if (dp) ScatterBlock(gb, pi, true, dp + m * fblock, T, P);
    }
  }, 1);
  return info.Env().Undefined();
}

// ---------------------------------------------------------------------------------------------
// Disentangled attention scores, fused: per (sequence b, head h) the content score q k^T, and the c2p / p2c tables
// q kr^T and k qr^T computed into a [L, P] scratch block (cache-resident) and gathered at once, so the
// [B, heads, L, P] tables are never materialised; the backward scatters into the same scratch and multiplies from
// there. Row i of a table is read only at columns index[i, :], a window of about L of the P (= 2T - 1 unbucketed)
// columns, so the tables are computed (and their gradients multiplied) by blocks of rows over their windows only.
// Sequences may differ in length (the packed layout: sequence b's rows start after the lengths before it, its
// [heads, L_b, L_b] score block after the heads * L^2 before it); one of length L reads the top-left [L, L] part of
// the [ld, ld] index tables. The padded layout is the case of equal lengths T = ld.

struct Disentangled {
  const float *q, *k, *kr, *qr;
  const int32_t *ci, *pi;
  int64_t heads, H, P, dh, ld;
  std::vector<int64_t> lens, rowStart, blockStart;
  int64_t rows = 0, blockTotal = 0, maxLen = 0;
  int64_t nseq() const { return static_cast<int64_t>(lens.size()); }
  // offsets of the (b, h) slice in q / k, of the (b, h) score block, and of head h in kr / qr
  int64_t x(int64_t b, int64_t h) const { return rowStart[b] * H + h * dh; }
  int64_t o(int64_t b, int64_t h) const { return blockStart[b] + h * lens[b] * lens[b]; }
  int64_t r(int64_t h) const { return h * dh; }
};

// Rows [r0, r1) of a [L, P] table are read at columns [lo, hi) only.
struct Window {
  int64_t r0, r1, lo, hi;
};

// Rows per window: small enough that the windows stay narrow, large enough for efficient GEMMs.
constexpr int64_t kWindowRows = 32;

// The windows of the rows of the top-left [T, T] part of an index table with rows of ld values (values in [0, P));
// a single window over the columns the block reads when windows would save little (short tables, bucketed
// positions).
std::vector<Window> Windows(const int32_t* index, int64_t T, int64_t ld) {
  std::vector<Window> w;
  if (T == 0) return w;
  int64_t area = 0;
  int32_t lo = index[0], hi = lo;
  for (int64_t r0 = 0; r0 < T; r0 += kWindowRows) {
    const int64_t r1 = std::min(T, r0 + kWindowRows);
    int32_t wlo = index[r0 * ld], whi = wlo;
    for (int64_t r = r0; r < r1; r++) {
      const int32_t* row = index + r * ld;
      for (int64_t c = 0; c < T; c++) {
        wlo = std::min(wlo, row[c]);
        whi = std::max(whi, row[c]);
      }
    }
    w.push_back({r0, r1, wlo, static_cast<int64_t>(whi) + 1});
    area += (r1 - r0) * (whi + 1 - wlo);
    lo = std::min(lo, wlo);
    hi = std::max(hi, whi);
  }
  if (10 * area > 8 * T * (hi + 1 - lo)) w.assign(1, Window{0, T, lo, static_cast<int64_t>(hi) + 1});
  return w;
}

// What the items of one length share: the windows of both tables and the p2c gather offsets (forward only).
struct LengthPlan {
  std::vector<Window> cw, pw;
  std::vector<int32_t> pSrc;
};

// The plans of the lengths present, by length.
std::vector<std::unique_ptr<LengthPlan>> Plans(const Disentangled& z, bool withSrc) {
  std::vector<std::unique_ptr<LengthPlan>> plans(static_cast<size_t>(z.maxLen + 1));
  for (int64_t L : z.lens) {
    if (L == 0 || plans[L]) continue;
    auto pl = std::make_unique<LengthPlan>();
    if (z.kr) pl->cw = Windows(z.ci, L, z.ld);
    if (z.qr) pl->pw = Windows(z.pi, L, z.ld);
    if (z.qr && withSrc) TransposedOffsets(z.pi, L, z.ld, z.P, pl->pSrc);
    plans[L] = std::move(pl);
  }
  return plans;
}

// Reads q, k, kr|null, c2pIndex, qr|null, p2cIndex at o..o+5, then at d..d+4 either batch, seq, heads, hidden, P
// (padded) or lens, indexSeq, heads, hidden, P (packed), and checks them.
bool ReadDisentangled(Args& args, size_t o, size_t d, bool packed, Disentangled& z) {
  size_t ql = 0, kl = 0, krl = 0, cil = 0, qrl = 0, pil = 0, ll = 0;
  z.q = args.f32(o, "q", &ql);
  z.k = args.f32(o + 1, "k", &kl);
  z.kr = args.f32OrNull(o + 2, "kr", &krl);
  z.ci = args.i32(o + 3, "c2pIndex", &cil);
  z.qr = args.f32OrNull(o + 4, "qr", &qrl);
  z.pi = args.i32(o + 5, "p2cIndex", &pil);
  const int32_t* lens = nullptr;
  int64_t batch = 0;
  if (packed) {
    lens = args.i32(d, "lens", &ll);
    z.ld = args.dim(d + 1, "indexSeq");
  } else {
    batch = args.dim(d, "batch");
    z.ld = args.dim(d + 1, "seq");
  }
  z.heads = args.dim(d + 2, "heads");
  z.H = args.dim(d + 3, "hidden");
  z.P = args.dim(d + 4, "P");
  if (!args.ok()) return false;
  if (z.heads == 0 || z.H % z.heads != 0) {
    args.rangeError("hidden " + std::to_string(z.H) + " is not a multiple of heads " + std::to_string(z.heads));
    return false;
  }
  z.dh = z.H / z.heads;
  const size_t n = packed ? ll : static_cast<size_t>(batch);
  z.lens.resize(n);
  z.rowStart.resize(n);
  z.blockStart.resize(n);
  for (size_t b = 0; b < n; b++) {
    const int64_t L = packed ? lens[b] : z.ld;
    if (L < 0 || L > z.ld) {
      args.rangeError("lens value " + std::to_string(L) + " at " + std::to_string(b) + " outside [0, " +
                      std::to_string(z.ld) + "]");
      return false;
    }
    z.lens[b] = L;
    z.rowStart[b] = z.rows;
    z.blockStart[b] = z.blockTotal;
    z.rows += L;
    z.blockTotal += z.heads * L * L;
    z.maxLen = std::max(z.maxLen, L);
  }
  const size_t x = static_cast<size_t>(z.rows * z.H), r = static_cast<size_t>(z.P * z.H);
  args.need("q", ql, x);
  args.need("k", kl, x);
  if (z.kr) args.need("kr", krl, r);
  if (z.qr) args.need("qr", qrl, r);
  if (z.kr && !CheckIndex(args, "c2pIndex", z.ci, cil, z.ld, z.P)) return false;
  if (z.qr && !CheckIndex(args, "p2cIndex", z.pi, pil, z.ld, z.P)) return false;
  return args.ok();
}

// Runs fn(part, nparts, inPool) over min(NumThreads(), items) parts, OpenBLAS single-threaded while more than one
// runs.
void InParts(int64_t items, const std::function<void(int, int, bool)>& fn) {
  int parts = static_cast<int>(std::min<int64_t>(NumThreads(), items));
  if (parts <= 1) {
    if (items > 0) fn(0, 1, false);
    return;
  }
  int blasThreads = BlasGetThreads();
  if (blasThreads != 1) BlasSetThreads(1);
  ParallelParts(parts, [&](int p, int np) { fn(p, np, true); });
  if (blasThreads != 1) BlasSetThreads(blasThreads);
}

thread_local std::vector<float> tScratch;

float* Scratch(size_t n) {
  if (tScratch.size() < n) tScratch.resize(n);
  return tScratch.data();
}

// s[r0:r1, lo:hi] = X[r0:r1] R[lo:hi]^T per window (X rows at stride H, R the head's columns of [P, H]).
void TableByWindows(bool inPool, const std::vector<Window>& ws, const float* x, const float* r, int64_t H,
                    int64_t dh, float* s, int64_t P) {
  for (const Window& w : ws) {
    GemmInKernel(inPool, false, true, w.r1 - w.r0, w.hi - w.lo, dh, 1.f, x + w.r0 * H, H, r + w.lo * H, H, 0.f,
                 s + w.r0 * P + w.lo, P);
  }
}

// disentangledScoresForward(q, k, kr|null, c2pIndex, qr|null, p2cIndex, out, batch, seq, heads, hidden, P) and
// disentangledScoresPackedForward(q, k, kr|null, c2pIndex, qr|null, p2cIndex, out, lens, indexSeq, heads, hidden, P)
Napi::Value ScoresForward(const Napi::CallbackInfo& info, const char* name, bool packed) {
  Args args(info, name, 12);
  Disentangled z;
  if (!ReadDisentangled(args, 0, 7, packed, z)) return args.fail();
  size_t ol = 0;
  float* out = args.f32(6, "out", &ol);
  args.need("out", ol, static_cast<size_t>(z.blockTotal));
  if (!args.ok()) return args.fail();
  const std::vector<std::unique_ptr<LengthPlan>> plans = Plans(z, true);
  const int64_t P = z.P, H = z.H, dh = z.dh, ld = z.ld, items = z.nseq() * z.heads;
  InParts(items, [&](int part, int nparts, bool inPool) {
    float* s = Scratch(static_cast<size_t>(z.maxLen * P));
    for (int64_t it = part; it < items; it += nparts) {
      const int64_t b = it / z.heads, h = it % z.heads, L = z.lens[b];
      if (L == 0) continue;
      const LengthPlan& pl = *plans[L];
      const float* qb = z.q + z.x(b, h);
      const float* kb = z.k + z.x(b, h);
      float* o = out + z.o(b, h);
      GemmInKernel(inPool, false, true, L, L, dh, 1.f, qb, H, kb, H, 0.f, o, L);
      if (z.kr) {
        TableByWindows(inPool, pl.cw, qb, z.kr + z.r(h), H, dh, s, P);
        for (int64_t i = 0; i < L; i++) {
          const float* srow = s + i * P;
          const int32_t* idx = z.ci + i * ld;
          float* orow = o + i * L;
          for (int64_t j = 0; j < L; j++) orow[j] += srow[idx[j]];
        }
      }
      if (z.qr) {
        TableByWindows(inPool, pl.pw, kb, z.qr + z.r(h), H, dh, s, P);
        const int32_t* src = pl.pSrc.data();
        for (int64_t e = 0; e < L * L; e++) o[e] += s[src[e]];
      }
    }
  });
  return info.Env().Undefined();
}

Napi::Value DisentangledScoresForward(const Napi::CallbackInfo& info) {
  return ScoresForward(info, "disentangledScoresForward", false);
}

Napi::Value DisentangledScoresPackedForward(const Napi::CallbackInfo& info) {
  return ScoresForward(info, "disentangledScoresPackedForward", true);
}

// Zeroes the windows of s (the only part the scatter writes and the GEMMs read) and scatters g into it.
void ScatterWindows(const float* g, const int32_t* index, int64_t ld, bool transposed, const std::vector<Window>& ws,
                    float* s, int64_t T, int64_t P) {
  for (const Window& w : ws) {
    for (int64_t r = w.r0; r < w.r1; r++) std::memset(s + r * P + w.lo, 0, static_cast<size_t>(w.hi - w.lo) * sizeof(float));
  }
  ScatterRows(g, index, ld, transposed, s, T, P);
}

// One term's gradients for one (b, h) from its scatter s [L, P]: dx[rows] += s[rows, window] r[window] (X's rows:
// q for c2p, k for p2c) and dr[window] += s[rows, window]^T x[rows].
void TermBackward(bool inPool, const std::vector<Window>& ws, const float* s, int64_t P, const float* x, const float* r,
                  float* dx, float* dr, int64_t H, int64_t dh) {
  for (const Window& w : ws) {
    const int64_t rows = w.r1 - w.r0, cols = w.hi - w.lo;
    const float* sw = s + w.r0 * P + w.lo;
    if (dx) GemmInKernel(inPool, false, false, rows, dh, cols, 1.f, sw, P, r + w.lo * H, H, 1.f, dx + w.r0 * H, H);
    if (dr) GemmInKernel(inPool, true, false, cols, dh, rows, 1.f, sw, P, x + w.r0 * H, H, 1.f, dr + w.lo * H, H);
  }
}

// disentangledScoresBackward(dOut, q, k, kr|null, c2pIndex, qr|null, p2cIndex, dq|null, dk|null, dkr|null,
// dqr|null, batch, seq, heads, hidden, P) and disentangledScoresPackedBackward(..., dqr|null, lens, indexSeq, heads,
// hidden, P)
Napi::Value ScoresBackward(const Napi::CallbackInfo& info, const char* name, bool packed) {
  Args args(info, name, 16);
  Disentangled z;
  if (!ReadDisentangled(args, 1, 11, packed, z)) return args.fail();
  size_t gl = 0, dql = 0, dkl = 0, dkrl = 0, dqrl = 0;
  const float* g = args.f32(0, "dOut", &gl);
  float* dq = args.f32OrNull(7, "dq", &dql);
  float* dk = args.f32OrNull(8, "dk", &dkl);
  float* dkr = args.f32OrNull(9, "dkr", &dkrl);
  float* dqr = args.f32OrNull(10, "dqr", &dqrl);
  const size_t x = static_cast<size_t>(z.rows * z.H), r = static_cast<size_t>(z.P * z.H);
  args.need("dOut", gl, static_cast<size_t>(z.blockTotal));
  if (dq) args.need("dq", dql, x);
  if (dk) args.need("dk", dkl, x);
  if (dkr) args.need("dkr", dkrl, r);
  if (dqr) args.need("dqr", dqrl, r);
  if (args.ok() && ((dkr && !z.kr) || (dqr && !z.qr))) args.typeError("dkr / dqr given without kr / qr");
  if (!args.ok()) return args.fail();
  const int64_t P = z.P, dh = z.dh, H = z.H, ld = z.ld;
  // The relative gradients are accumulated window by window from zero (the rows no window reaches stay zero).
  if (dkr) std::memset(dkr, 0, r * sizeof(float));
  if (dqr) std::memset(dqr, 0, r * sizeof(float));
  const std::vector<std::unique_ptr<LengthPlan>> plans = Plans(z, false);
  // One (b, h): the content gradients (withX: dq, dk) and / or the relative ones (withR: dkr, dqr, accumulated over
  // b, so the items of one head must run in order of b).
  auto item = [&](int64_t b, int64_t h, bool withX, bool withR, bool inPool, float* s) {
    const int64_t L = z.lens[b];
    if (L == 0) return;
    const LengthPlan& pl = *plans[L];
    const float* gb = g + z.o(b, h);
    const float* qb = z.q + z.x(b, h);
    const float* kb = z.k + z.x(b, h);
    float* dqb = withX && dq ? dq + z.x(b, h) : nullptr;
    float* dkb = withX && dk ? dk + z.x(b, h) : nullptr;
    float* dkrh = withR && dkr ? dkr + z.r(h) : nullptr;
    float* dqrh = withR && dqr ? dqr + z.r(h) : nullptr;
    if (dqb) GemmInKernel(inPool, false, false, L, dh, L, 1.f, gb, L, kb, H, 0.f, dqb, H);
    if (dkb) GemmInKernel(inPool, true, false, L, dh, L, 1.f, gb, L, qb, H, 0.f, dkb, H);
    if (z.kr && (dqb || dkrh)) {
      ScatterWindows(gb, z.ci, ld, false, pl.cw, s, L, P);
      TermBackward(inPool, pl.cw, s, P, qb, z.kr + z.r(h), dqb, dkrh, H, dh);
    }
    if (z.qr && (dkb || dqrh)) {
      ScatterWindows(gb, z.pi, ld, true, pl.pw, s, L, P);
      TermBackward(inPool, pl.pw, s, P, kb, z.qr + z.r(h), dkb, dqrh, H, dh);
    }
  };
  const int64_t nseq = z.nseq(), items = nseq * z.heads;
  const size_t scratch = static_cast<size_t>(z.maxLen * P);
  auto allItems = [&](bool withR) {
    InParts(items, [&](int part, int nparts, bool inPool) {
      float* s = Scratch(scratch);
      for (int64_t it = part; it < items; it += nparts) item(it / z.heads, it % z.heads, true, withR, inPool, s);
    });
  };
  auto byHead = [&](bool withX) {
    InParts(z.heads, [&](int part, int nparts, bool inPool) {
      float* s = Scratch(scratch);
      for (int64_t h = part; h < z.heads; h += nparts) {
        for (int64_t b = 0; b < nseq; b++) item(b, h, withX, true, inPool, s);
      }
    });
  };
  if (nseq == 0) return info.Env().Undefined();
  if (!dkr && !dqr) {
    allItems(false);
  } else if (z.heads >= NumThreads()) {
    byHead(true);  // one pass, each head's items in order of b
  } else {
    allItems(false);  // more threads than heads: the content gradients over all (b, h), then the relative ones
    byHead(false);
  }
  return info.Env().Undefined();
}

Napi::Value DisentangledScoresBackward(const Napi::CallbackInfo& info) {
  return ScoresBackward(info, "disentangledScoresBackward", false);
}

Napi::Value DisentangledScoresPackedBackward(const Napi::CallbackInfo& info) {
  return ScoresBackward(info, "disentangledScoresPackedBackward", true);
}

}  // namespace

void InitRelative(Napi::Env env, Napi::Object exports) {
  exports.Set("relativeGatherForward", Napi::Function::New(env, RelativeGatherForward, "relativeGatherForward"));
  exports.Set("relativeGatherBackward", Napi::Function::New(env, RelativeGatherBackward, "relativeGatherBackward"));
  exports.Set("disentangledScoresForward",
              Napi::Function::New(env, DisentangledScoresForward, "disentangledScoresForward"));
  exports.Set("disentangledScoresBackward",
              Napi::Function::New(env, DisentangledScoresBackward, "disentangledScoresBackward"));
  exports.Set("disentangledScoresPackedForward",
              Napi::Function::New(env, DisentangledScoresPackedForward, "disentangledScoresPackedForward"));
  exports.Set("disentangledScoresPackedBackward",
              Napi::Function::New(env, DisentangledScoresPackedBackward, "disentangledScoresPackedBackward"));
}

}  // namespace md2pr
