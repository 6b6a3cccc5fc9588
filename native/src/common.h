// Shared helpers for the md2pr native kernels: cheap N-API argument checking, the thread pool,
// and the SIMD vector type used by the hand-vectorised kernels.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

// Hot loops are compiled twice (x86-64-v3 = AVX2+FMA, and the portable baseline) and picked at load time.
// (Not "arch=haswell": GCC dispatches that clone only on Intel Haswell-family CPUs, never on AMD.)
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(MD2PR_NO_CLONES)
#define MD2PR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define MD2PR_CLONES
#endif

namespace md2pr {

// 8 x float via GCC/Clang vector extensions (AVX2/FMA in the x86-64-v3 clones, 2 x SSE on the baseline).
typedef float v8f __attribute__((vector_size(32), aligned(4)));
typedef int32_t v8i __attribute__((vector_size(32), aligned(4)));

static inline __attribute__((always_inline)) v8f v8_load(const float* p) { v8f v; __builtin_memcpy(&v, p, sizeof v); return v; }
static inline __attribute__((always_inline)) void v8_store(float* p, v8f v) { __builtin_memcpy(p, &v, sizeof v); }
static inline __attribute__((always_inline)) v8f v8_set1(float x) { return v8f{x, x, x, x, x, x, x, x}; }

// Reads and checks the JS arguments of one kernel call. The first problem is remembered and turned
// into a JS exception by fail(); every accessor returns a harmless value after an error.
class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* kernel, size_t count);
  bool ok() const { return err_.empty(); }
  // Throws the recorded error (TypeError or RangeError, message prefixed by the kernel name).
  Napi::Value fail();

  float* f32(size_t i, const char* name, size_t* len);
  float* f32OrNull(size_t i, const char* name, size_t* len);
  int32_t* i32(size_t i, const char* name, size_t* len);
  uint8_t* u8(size_t i, const char* name, size_t* len);
  double num(size_t i, const char* name);
  // A non-negative integer below 2^31.
  int64_t dim(size_t i, const char* name);
  bool boolean(size_t i, const char* name);
  // ToUint32 (JS semantics: modulo 2^32).
  uint32_t u32(size_t i, const char* name);
  // Records a RangeError unless len >= need.
  void need(const char* name, size_t len, size_t need);
  void rangeError(const std::string& msg);
  void typeError(const std::string& msg);

  napi_env env() const { return env_; }

 private:
  void* typed(size_t i, const char* name, napi_typedarray_type want, const char* wantName, size_t* len, bool nullable);
  napi_env env_;
  const Napi::CallbackInfo& info_;
  const char* kernel_;
  std::string err_;
  bool range_ = false;
};

// ---- thread pool ----
int NumThreads();
// Sets the pool size (1..64) and OpenBLAS's thread count; returns the previous pool size.
int SetNumThreads(int n);
// Runs fn(part, nparts) for part in [0, nparts) on the pool, nparts <= NumThreads(). The caller runs part 0.
// Falls back to a serial loop when the pool is busy (e.g. called from two JS worker threads at once).
void ParallelParts(int nparts, const std::function<void(int, int)>& fn);
// Splits [0, n) into contiguous ranges for fn(begin, end), using more than one thread only when
// n >= 2 * minPerThread. Ranges are aligned to `align` elements.
void ParallelFor(size_t n, size_t minPerThread, const std::function<void(size_t, size_t)>& fn, size_t align = 16);

// ---- BLAS thread control (no-ops without OpenBLAS) ----
void BlasSetThreads(int n);
int BlasGetThreads();

// ---- GEMM for other kernels (gemm.cc) ----
// Row-major C = alpha op(A) op(B) + beta C, as sgemm: OpenBLAS with its current thread count when built with it,
// else the portable kernel (serial when inPool, i.e. called from a pool part; else split over the pool). Callers
// that run several of these from pool parts set OpenBLAS to one thread around them (BlasSetThreads).
void GemmInKernel(bool inPool, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                  int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// ---- registration, one per source file ----
void InitGemm(Napi::Env env, Napi::Object exports);
void InitSoftmax(Napi::Env env, Napi::Object exports);
void InitLayerNorm(Napi::Env env, Napi::Object exports);
void InitGelu(Napi::Env env, Napi::Object exports);
void InitDropout(Napi::Env env, Napi::Object exports);
void InitEmbedding(Napi::Env env, Napi::Object exports);
void InitElementwise(Napi::Env env, Napi::Object exports);
void InitAdamW(Napi::Env env, Napi::Object exports);
void InitRelative(Napi::Env env, Napi::Object exports);

}  // namespace md2pr
