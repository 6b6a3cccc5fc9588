// md2pr native kernels: module registration and build information. One source file per op family
// (gemm, softmax, layernorm, gelu, dropout, embedding, elementwise, adamw, relative), forward and backward
// side by side.
#include <napi.h>

#include <string>

#include "common.h"

namespace md2pr {
namespace {

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), NumThreads()); }

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Args args(info, "setNumThreads", 1);
  int64_t n = args.dim(0, "n");
  if (args.ok() && (n < 1 || n > 64)) args.rangeError("n must be in [1, 64]");
  if (!args.ok()) return args.fail();
  return Napi::Number::New(info.Env(), SetNumThreads(static_cast<int>(n)));
}

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  std::string s;
#ifdef MD2PR_HAVE_OPENBLAS
  s += "gemm=openblas";
#else
  s += "gemm=portable";
#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(MD2PR_NO_CLONES)
  s += " simd=x86-64-v3-clones";
  __builtin_cpu_init();
  s += __builtin_cpu_supports("x86-64-v3") ? "(avx2+fma active)" : "(baseline active)";
#endif
  s += " threads=" + std::to_string(NumThreads()) + " blasThreads=" + std::to_string(BlasGetThreads());
  return Napi::String::New(info.Env(), s);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("hasOpenBlas", Napi::Boolean::New(env,
#ifdef MD2PR_HAVE_OPENBLAS
                                                true
#else
                                                false
#endif
                                                ));
  // Keep OpenBLAS and the pool on the same thread count.
  BlasSetThreads(NumThreads());
  InitGemm(env, exports);
  InitSoftmax(env, exports);
  InitLayerNorm(env, exports);
  InitGelu(env, exports);
  InitDropout(env, exports);
  InitEmbedding(env, exports);
  InitElementwise(env, exports);
  InitAdamW(env, exports);
  InitRelative(env, exports);
  exports.Set("numThreads", Napi::Function::New(env, GetNumThreads, "numThreads"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetThreads, "setNumThreads"));
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo, "buildInfo"));
  return exports;
}

}  // namespace
}  // namespace md2pr

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return md2pr::Init(env, exports); }

NODE_API_MODULE(md2pr_native, InitModule)
