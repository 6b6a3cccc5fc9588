// AdamW step exactly as torch.optim.AdamW (single-tensor path): decoupled weight decay, then Adam.
#include <cmath>

#include "common.h"

namespace md2pr {

namespace {

MD2PR_CLONES
void AdamWRange(float* p, const float* g, float* m, float* v, size_t b, size_t e, float decay, float beta1, float beta2,
                float omb1, float omb2, float stepSize, float bias2Sqrt, float eps) {
  for (size_t i = b; i < e; i++) {
    float gi = g[i];
    float mi = beta1 * m[i] + omb1 * gi;
    float vi = beta2 * v[i] + omb2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float denom = std::sqrt(vi) / bias2Sqrt + eps;
    p[i] = p[i] * decay - stepSize * (mi / denom);
  }
}

Napi::Value AdamWStep(const Napi::CallbackInfo& info) {
  Args args(info, "adamwStep", 12);
  size_t pl, gl, ml, vl;
  float* p = args.f32(0, "p", &pl);
  float* g = args.f32(1, "g", &gl);
  float* m = args.f32(2, "m", &ml);
  float* v = args.f32(3, "v", &vl);
  int64_t n = args.dim(4, "n");
  double lr = args.num(5, "lr"), beta1 = args.num(6, "beta1"), beta2 = args.num(7, "beta2");
  double eps = args.num(8, "eps"), wd = args.num(9, "weightDecay");
  double bias1 = args.num(10, "bias1"), bias2 = args.num(11, "bias2");
  args.need("p", pl, n);
  args.need("g", gl, n);
  args.need("m", ml, n);
  args.need("v", vl, n);
  if (!args.ok()) return args.fail();
  float decay = static_cast<float>(1.0 - lr * wd);
  float stepSize = static_cast<float>(lr / bias1);
  float bias2Sqrt = static_cast<float>(std::sqrt(bias2));
  ParallelFor(n, 65536, [&](size_t b, size_t e) {
    AdamWRange(p, g, m, v, b, e, decay, static_cast<float>(beta1), static_cast<float>(beta2),
               static_cast<float>(1.0 - beta1), static_cast<float>(1.0 - beta2), stepSize, bias2Sqrt,
               static_cast<float>(eps));
  });
  return info.Env().Undefined();
}

}  // namespace

void InitAdamW(Napi::Env env, Napi::Object exports) {
  exports.Set("adamwStep", Napi::Function::New(env, AdamWStep, "adamwStep"));
}

}  // namespace md2pr
