// GELU forward/backward, exact (erf) and tanh-approximate forms, vectorised.
#include <cmath>

#include "common.h"
#include "vecmath.h"

namespace md2pr {

namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;
constexpr float kC = 0.044715f;

static inline __attribute__((always_inline)) v8f GeluF(v8f x, bool approximate) {
  const v8f half = v8_set1(0.5f), one = v8_set1(1.f);
  if (approximate) {
    v8f t = v8_tanh(v8_set1(kSqrt2OverPi) * (x + v8_set1(kC) * x * x * x));
    return half * x * (one + t);
  }
  return half * x * (one + v8_erf(x * v8_set1(kInvSqrt2)));
}

static inline __attribute__((always_inline)) v8f GeluD(v8f x, bool approximate) {
  const v8f half = v8_set1(0.5f), one = v8_set1(1.f);
  if (approximate) {
    v8f t = v8_tanh(v8_set1(kSqrt2OverPi) * (x + v8_set1(kC) * x * x * x));
    v8f d = half * (one + t) + half * x * (one - t * t) * v8_set1(kSqrt2OverPi) * (one + v8_set1(3.f * kC) * x * x);
    // Saturated (also avoids 0 * inf = NaN for huge |x|): the derivative is exactly 1 or 0 in float.
    v8f sat = x > 0 ? one : v8_set1(0.f);
    return v8_abs(x) > v8_set1(10.f) ? sat : d;
  }
  // phi(x) = exp(-x^2 / 2) / sqrt(2 pi) = exp(-(x / sqrt 2)^2) / sqrt(2 pi): shares the exp inside erf.
  v8f e;
  v8f erf = v8_erf_exp(x * v8_set1(kInvSqrt2), &e);
  return half * (one + erf) + x * v8_set1(kInvSqrt2Pi) * e;
}

MD2PR_CLONES
void GeluForwardRange(const float* x, float* out, size_t b, size_t e, bool approximate) {
  size_t i = b;
  for (; i + 8 <= e; i += 8) v8_store(out + i, GeluF(v8_load(x + i), approximate));
  if (i < e) {
    float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t q = 0; i + q < e; q++) buf[q] = x[i + q];
    v8_store(buf, GeluF(v8_load(buf), approximate));
    for (size_t q = 0; i + q < e; q++) out[i + q] = buf[q];
  }
}

MD2PR_CLONES
void GeluBackwardRange(const float* x, const float* dOut, float* dX, size_t b, size_t e, bool approximate) {
  size_t i = b;
  for (; i + 8 <= e; i += 8) v8_store(dX + i, v8_load(dOut + i) * GeluD(v8_load(x + i), approximate));
  if (i < e) {
    float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t q = 0; i + q < e; q++) buf[q] = x[i + q];
    v8_store(buf, GeluD(v8_load(buf), approximate));
    for (size_t q = 0; i + q < e; q++) dX[i + q] = dOut[i + q] * buf[q];
  }
}

Napi::Value GeluForward(const Napi::CallbackInfo& info) {
  Args args(info, "geluForward", 4);
  size_t xl, ol;
  float* x = args.f32(0, "x", &xl);
  float* out = args.f32(1, "out", &ol);
  int64_t n = args.dim(2, "n");
  bool approximate = args.boolean(3, "approximate");
  args.need("x", xl, n);
  args.need("out", ol, n);
  if (!args.ok()) return args.fail();
  ParallelFor(static_cast<size_t>(n), 16384, [&](size_t b, size_t e) { GeluForwardRange(x, out, b, e, approximate); });
  return info.Env().Undefined();
}

Napi::Value GeluBackward(const Napi::CallbackInfo& info) {
  Args args(info, "geluBackward", 5);
  size_t xl, gl, dl;
  float* x = args.f32(0, "x", &xl);
  float* dOut = args.f32(1, "dOut", &gl);
  float* dX = args.f32(2, "dX", &dl);
  int64_t n = args.dim(3, "n");
  bool approximate = args.boolean(4, "approximate");
  args.need("x", xl, n);
  args.need("dOut", gl, n);
  args.need("dX", dl, n);
  if (!args.ok()) return args.fail();
  ParallelFor(static_cast<size_t>(n), 16384,
              [&](size_t b, size_t e) { GeluBackwardRange(x, dOut, dX, b, e, approximate); });
  return info.Env().Undefined();
}

}  // namespace

void InitGelu(Napi::Env env, Napi::Object exports) {
  exports.Set("geluForward", Napi::Function::New(env, GeluForward, "geluForward"));
  exports.Set("geluBackward", Napi::Function::New(env, GeluBackward, "geluBackward"));
}

}  // namespace md2pr
