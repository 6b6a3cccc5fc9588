// GEMM: sgemm and sgemmBatched (OpenBLAS when MD2PR_HAVE_OPENBLAS, else the portable kernel below), and
// sgemmPortable, the cache-blocked C++ GEMM (always built, exported for tests and benchmarks).
#include <algorithm>
#include <cstring>
#include <vector>

#include "common.h"

#ifdef MD2PR_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace md2pr {

namespace {

// ---------------------------------------------------------------------------------------------
// Portable GEMM: Goto-style blocking. A is packed in MR-row strips (alpha folded in), B in NR-column
// strips; a 6x16 register tile micro-kernel written with vector extensions (AVX2/FMA on the
// haswell clone, SSE on the baseline).
constexpr int MR = 6;
constexpr int NR = 16;
constexpr int KC = 256;
constexpr int MC = 96;    // multiple of MR
constexpr int NC = 1024;  // multiple of NR

struct View {
  const float* p;
  int64_t ld;
  bool trans;
  // Element (r, c) of op(X).
  float at(int64_t r, int64_t c) const { return trans ? p[c * ld + r] : p[r * ld + c]; }
};

// Packs op(A)[i0:i0+mc, p0:p0+kc] * alpha into MR-row strips: strip s, step p -> MR consecutive floats.
void PackA(const View& a, int64_t i0, int mc, int64_t p0, int kc, float alpha, float* out) {
  for (int s = 0; s < mc; s += MR) {
    int rows = std::min(MR, mc - s);
    float* o = out + static_cast<int64_t>(s) * kc;
    if (!a.trans) {
      for (int r = 0; r < MR; r++) {
        if (r < rows) {
          const float* src = a.p + (i0 + s + r) * a.ld + p0;
          for (int p = 0; p < kc; p++) o[p * MR + r] = alpha * src[p];
        } else {
          for (int p = 0; p < kc; p++) o[p * MR + r] = 0.f;
        }
      }
    } else {
      for (int p = 0; p < kc; p++) {
        const float* src = a.p + (p0 + p) * a.ld + i0 + s;
        for (int r = 0; r < MR; r++) o[p * MR + r] = r < rows ? alpha * src[r] : 0.f;
      }
    }
  }
}

// Packs op(B)[p0:p0+kc, j0:j0+nc] into NR-column strips: strip s, step p -> NR consecutive floats.
void PackB(const View& b, int64_t p0, int kc, int64_t j0, int nc, float* out) {
  for (int s = 0; s < nc; s += NR) {
    int cols = std::min(NR, nc - s);
    float* o = out + static_cast<int64_t>(s) * kc;
    if (!b.trans) {
      for (int p = 0; p < kc; p++) {
        const float* src = b.p + (p0 + p) * b.ld + j0 + s;
        if (cols == NR) {
          std::memcpy(o + p * NR, src, NR * sizeof(float));
        } else {
          for (int c = 0; c < NR; c++) o[p * NR + c] = c < cols ? src[c] : 0.f;
        }
      }
    } else {
      for (int c = 0; c < NR; c++) {
        if (c < cols) {
          const float* src = b.p + (j0 + s + c) * b.ld + p0;
          for (int p = 0; p < kc; p++) o[p * NR + c] = src[p];
        } else {
          for (int p = 0; p < kc; p++) o[p * NR + c] = 0.f;
        }
      }
    }
  }
}

// C[0:mc, 0:nc] += packedA * packedB.
MD2PR_CLONES
void MacroKernel(int mc, int nc, int kc, const float* pa, const float* pb, float* c, int64_t ldc) {
  for (int j = 0; j < nc; j += NR) {
    const float* bp = pb + static_cast<int64_t>(j) * kc;
    int cols = std::min(NR, nc - j);
    for (int i = 0; i < mc; i += MR) {
      const float* ap = pa + static_cast<int64_t>(i) * kc;
      int rows = std::min(MR, mc - i);
      v8f acc[MR][2];
      for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = v8_set1(0.f);
      for (int p = 0; p < kc; p++) {
        v8f b0 = v8_load(bp + p * NR);
        v8f b1 = v8_load(bp + p * NR + 8);
        for (int r = 0; r < MR; r++) {
          v8f av = v8_set1(ap[p * MR + r]);
          acc[r][0] += av * b0;
          acc[r][1] += av * b1;
        }
      }
      if (rows == MR && cols == NR) {
        for (int r = 0; r < MR; r++) {
          float* cr = c + (i + r) * ldc + j;
          v8_store(cr, v8_load(cr) + acc[r][0]);
          v8_store(cr + 8, v8_load(cr + 8) + acc[r][1]);
        }
      } else {
        float tile[MR][NR];
        for (int r = 0; r < MR; r++) {
          v8_store(tile[r], acc[r][0]);
          v8_store(tile[r] + 8, acc[r][1]);
        }
        for (int r = 0; r < rows; r++) {
          float* cr = c + (i + r) * ldc + j;
          for (int q = 0; q < cols; q++) cr[q] += tile[r][q];
        }
      }
    }
  }
}

void ScaleC(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  if (beta == 1.f) return;
  for (int64_t i = 0; i < m; i++) {
    float* cr = c + i * ldc;
    if (beta == 0.f) {
      std::fill(cr, cr + n, 0.f);  // beta = 0 ignores NaN/garbage in C, as BLAS does
    } else {
      for (int64_t j = 0; j < n; j++) cr[j] *= beta;
    }
  }
}

// Single-threaded portable GEMM.
void GemmPortableSerial(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                        const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  ScaleC(m, n, beta, c, ldc);
  if (m == 0 || n == 0 || k == 0 || alpha == 0.f) return;
  thread_local std::vector<float> bufA, bufB;
  bufA.resize(static_cast<size_t>(MC) * KC);
  bufB.resize(static_cast<size_t>(NC) * KC);
  View va{a, lda, ta}, vb{b, ldb, tb};
  for (int64_t j0 = 0; j0 < n; j0 += NC) {
    int nc = static_cast<int>(std::min<int64_t>(NC, n - j0));
    for (int64_t p0 = 0; p0 < k; p0 += KC) {
      int kc = static_cast<int>(std::min<int64_t>(KC, k - p0));
      PackB(vb, p0, kc, j0, nc, bufB.data());
      for (int64_t i0 = 0; i0 < m; i0 += MC) {
        int mc = static_cast<int>(std::min<int64_t>(MC, m - i0));
        PackA(va, i0, mc, p0, kc, alpha, bufA.data());
        MacroKernel(mc, nc, kc, bufA.data(), bufB.data(), c + i0 * ldc + j0, ldc);
      }
    }
  }
}

// Multi-threaded portable GEMM: rows of C split across the pool.
void GemmPortable(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                  const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  double flops = static_cast<double>(m) * n * k;
  if (flops < 2e6 || m < 2 * MR || NumThreads() == 1) {
    GemmPortableSerial(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  ParallelFor(static_cast<size_t>(m), MR, [&](size_t i0, size_t i1) {
    const float* ai = ta ? a + i0 : a + static_cast<int64_t>(i0) * lda;
    GemmPortableSerial(ta, tb, static_cast<int64_t>(i1 - i0), n, k, alpha, ai, lda, b, ldb, beta,
                       c + static_cast<int64_t>(i0) * ldc, ldc);
  }, MR);
}

void GemmBlas(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
#ifdef MD2PR_HAVE_OPENBLAS
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == 0.f) {
    ScaleC(m, n, beta, c, ldc);
    return;
  }
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta,
              c, static_cast<int>(ldc));
#else
  GemmPortable(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

// Batched strategy: 0 = auto, 1 = loop of (multi-threaded) BLAS calls, 2 = batch split over the pool with
// single-threaded BLAS per item, 3 = batch split over the pool with the portable kernel.
int g_batchedStrategy = 0;

struct GemmArgs {
  bool ta, tb;
  int64_t m, n, k;
  float alpha, beta;
  float *a, *b, *c;
  int64_t lda, ldb, ldc;
  size_t alen, blen, clen;
};

// Reads (transA, transB, m, n, k, alpha) at 0..5, and the A/B/C arrays and beta at the given positions;
// validates leading dimensions.
bool ReadGemm(Args& args, GemmArgs& g, bool batched) {
  g.ta = args.boolean(0, "transA");
  g.tb = args.boolean(1, "transB");
  g.m = args.dim(2, "m");
  g.n = args.dim(3, "n");
  g.k = args.dim(4, "k");
  g.alpha = static_cast<float>(args.num(5, "alpha"));
  g.a = args.f32(6, "a", &g.alen);
  g.lda = args.dim(8, "lda");
  g.b = args.f32(9, "b", &g.blen);
  g.ldb = args.dim(11, "ldb");
  g.beta = static_cast<float>(args.num(12, "beta"));
  g.c = args.f32(13, "c", &g.clen);
  g.ldc = args.dim(15, "ldc");
  (void)batched;
  if (!args.ok()) return false;
  int64_t acols = g.ta ? g.m : g.k, bcols = g.tb ? g.k : g.n;
  if (g.lda < std::max<int64_t>(1, acols) || g.ldb < std::max<int64_t>(1, bcols) ||
      g.ldc < std::max<int64_t>(1, g.n)) {
    args.rangeError("leading dimension too small (lda=" + std::to_string(g.lda) + ", ldb=" + std::to_string(g.ldb) +
                    ", ldc=" + std::to_string(g.ldc) + ")");
    return false;
  }
  return true;
}

inline int64_t Span(int64_t rows, int64_t cols, int64_t off, int64_t ld) {
  return rows == 0 || cols == 0 ? 0 : off + (rows - 1) * ld + cols;
}

// Bounds of one GEMM at the given offsets.
bool CheckGemmBounds(Args& args, const GemmArgs& g, int64_t aOff, int64_t bOff, int64_t cOff) {
  int64_t ar = g.ta ? g.k : g.m, ac = g.ta ? g.m : g.k;
  int64_t br = g.tb ? g.n : g.k, bc = g.tb ? g.k : g.n;
  if (aOff < 0 || bOff < 0 || cOff < 0) {
    args.rangeError("negative offset");
    return false;
  }
  args.need("a", g.alen, static_cast<size_t>(Span(ar, ac, aOff, g.lda)));
  args.need("b", g.blen, static_cast<size_t>(Span(br, bc, bOff, g.ldb)));
  args.need("c", g.clen, static_cast<size_t>(Span(g.m, g.n, cOff, g.ldc)));
  return args.ok();
}

using GemmFn = void (*)(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                        float, float*, int64_t);

Napi::Value SgemmImpl(const Napi::CallbackInfo& info, const char* name, GemmFn fn) {
  Args args(info, name, 16);
  GemmArgs g;
  if (!ReadGemm(args, g, false)) return args.fail();
  int64_t aOff = args.dim(7, "aOff"), bOff = args.dim(10, "bOff"), cOff = args.dim(14, "cOff");
  if (!args.ok() || !CheckGemmBounds(args, g, aOff, bOff, cOff)) return args.fail();
  fn(g.ta, g.tb, g.m, g.n, g.k, g.alpha, g.a + aOff, g.lda, g.b + bOff, g.ldb, g.beta, g.c + cOff, g.ldc);
  return info.Env().Undefined();
}

Napi::Value Sgemm(const Napi::CallbackInfo& info) { return SgemmImpl(info, "sgemm", GemmBlas); }
Napi::Value SgemmPortable(const Napi::CallbackInfo& info) { return SgemmImpl(info, "sgemmPortable", GemmPortable); }

Napi::Value SgemmBatched(const Napi::CallbackInfo& info) {
  Args args(info, "sgemmBatched", 16);
  GemmArgs g;
  if (!ReadGemm(args, g, true)) return args.fail();
  size_t na, nb, nc;
  int32_t* aOffs = args.i32(7, "aOffs", &na);
  int32_t* bOffs = args.i32(10, "bOffs", &nb);
  int32_t* cOffs = args.i32(14, "cOffs", &nc);
  if (args.ok() && (na != nb || na != nc)) args.rangeError("aOffs, bOffs and cOffs must have the same length");
  if (!args.ok()) return args.fail();
  for (size_t i = 0; i < na; i++) {
    if (!CheckGemmBounds(args, g, aOffs[i], bOffs[i], cOffs[i])) return args.fail();
  }
  int strategy = g_batchedStrategy;
  if (strategy == 0) {
#ifdef MD2PR_HAVE_OPENBLAS
    strategy = 2;
#else
    strategy = 3;
#endif
  }
  const int64_t batch = static_cast<int64_t>(na);
  auto item = [&](int64_t i, GemmFn fn) {
    fn(g.ta, g.tb, g.m, g.n, g.k, g.alpha, g.a + aOffs[i], g.lda, g.b + bOffs[i], g.ldb, g.beta, g.c + cOffs[i], g.ldc);
  };
  // Tiny batches: a pool hand-off (microseconds, far more on a busy machine) costs more than the work.
  if (g_batchedStrategy == 0 && 2.0 * batch * g.m * g.n * g.k < 4e6) strategy = 1;
  if (strategy != 1 && batch > 1) {
    // Items run concurrently only when their C tiles start at distinct offsets (repeated offsets mean
    // accumulation into one C, which must stay sequential).
    std::vector<int32_t> sorted(cOffs, cOffs + batch);
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) strategy = 1;
  }
  if (strategy == 1) {
    for (int64_t i = 0; i < batch; i++) item(i, GemmBlas);
  } else {
    GemmFn fn = strategy == 2 ? GemmBlas : GemmPortableSerial;
    int parts = static_cast<int>(std::min<int64_t>(NumThreads(), batch));
    int blasThreads = BlasGetThreads();
    if (strategy == 2 && blasThreads != 1) BlasSetThreads(1);
    // Items are independent unless C slices overlap (callers never do that for batched GEMM).
    ParallelParts(parts, [&](int p, int np) {
      for (int64_t i = p; i < batch; i += np) item(i, fn);
    });
    if (strategy == 2 && blasThreads != 1) BlasSetThreads(blasThreads);
  }
  return info.Env().Undefined();
}

Napi::Value SetBatchedStrategy(const Napi::CallbackInfo& info) {
  Args args(info, "setBatchedStrategy", 1);
  int64_t s = args.dim(0, "strategy");
  if (args.ok() && s > 3) args.rangeError("strategy must be 0..3");
  if (!args.ok()) return args.fail();
  int prev = g_batchedStrategy;
  g_batchedStrategy = static_cast<int>(s);
  return Napi::Number::New(info.Env(), prev);
}

}  // namespace

void GemmInKernel(bool inPool, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                  int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
#ifdef MD2PR_HAVE_OPENBLAS
  (void)inPool;
  GemmBlas(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
  if (inPool) {
    GemmPortableSerial(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  } else {
    GemmPortable(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
#endif
}

void InitGemm(Napi::Env env, Napi::Object exports) {
  exports.Set("sgemm", Napi::Function::New(env, Sgemm, "sgemm"));
  exports.Set("sgemmPortable", Napi::Function::New(env, SgemmPortable, "sgemmPortable"));
  exports.Set("sgemmBatched", Napi::Function::New(env, SgemmBatched, "sgemmBatched"));
  exports.Set("setBatchedStrategy", Napi::Function::New(env, SetBatchedStrategy, "setBatchedStrategy"));
}

}  // namespace md2pr
