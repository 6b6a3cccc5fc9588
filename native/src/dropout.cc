// Inverted dropout with the counter-based hash RNG shared with the TypeScript kernels (types.ts).
#include "common.h"

namespace md2pr {

namespace {

// lowbias32 of seed ^ (i * 0x9E3779B9), i modulo 2^32: must match dropoutUniform() in types.ts bit for bit.
static inline __attribute__((always_inline)) uint32_t DropoutHash(uint32_t seed, uint32_t i) {
  uint32_t h = seed ^ (i * 0x9E3779B9u);
  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  h *= 0x846ca68bu;
  h ^= h >> 16;
  return h;
}

MD2PR_CLONES
void DropoutForwardRange(const float* x, float* out, uint8_t* keep, size_t b, size_t e, double p, uint32_t seed,
                         float s) {
  // keep <=> h / 2^32 >= p  <=>  h >= ceil(p * 2^32) (exact: h / 2^32 is exact in double).
  double t = p * 4294967296.0;
  uint64_t thr;
  if (t != t || t >= 4294967296.0) {
    thr = uint64_t(1) << 32;  // p NaN or >= 1: nothing kept (u >= NaN is false)
  } else if (t <= 0) {
    thr = 0;
  } else {
    thr = static_cast<uint64_t>(t);
  }
  if (static_cast<double>(thr) < t) thr++;  // ceil
  for (size_t i = b; i < e; i++) {
    uint32_t h = DropoutHash(seed, static_cast<uint32_t>(i));
    bool k = static_cast<uint64_t>(h) >= thr;
    keep[i] = k ? 1 : 0;
    out[i] = k ? x[i] * s : 0.f;
  }
}

MD2PR_CLONES
void DropoutBackwardRange(const float* dOut, const uint8_t* keep, float* dX, size_t b, size_t e, float s) {
  for (size_t i = b; i < e; i++) dX[i] = keep[i] ? dOut[i] * s : 0.f;
}

Napi::Value DropoutForward(const Napi::CallbackInfo& info) {
  Args args(info, "dropoutForward", 6);
  size_t xl, ol, kl;
  float* x = args.f32(0, "x", &xl);
  float* out = args.f32(1, "out", &ol);
  uint8_t* keep = args.u8(2, "keepMask", &kl);
  int64_t n = args.dim(3, "n");
  double p = args.num(4, "p");
  uint32_t seed = args.u32(5, "seed");
  args.need("x", xl, n);
  args.need("out", ol, n);
  args.need("keepMask", kl, n);
  if (!args.ok()) return args.fail();
  float s = static_cast<float>(1.0 / (1.0 - p));
  ParallelFor(static_cast<size_t>(n), 16384,
              [&](size_t b, size_t e) { DropoutForwardRange(x, out, keep, b, e, p, seed, s); });
  return info.Env().Undefined();
}

Napi::Value DropoutBackward(const Napi::CallbackInfo& info) {
  Args args(info, "dropoutBackward", 5);
  size_t gl, kl, dl;
  float* dOut = args.f32(0, "dOut", &gl);
  uint8_t* keep = args.u8(1, "keepMask", &kl);
  float* dX = args.f32(2, "dX", &dl);
  int64_t n = args.dim(3, "n");
  double p = args.num(4, "p");
  args.need("dOut", gl, n);
  args.need("keepMask", kl, n);
  args.need("dX", dl, n);
  if (!args.ok()) return args.fail();
  float s = static_cast<float>(1.0 / (1.0 - p));
  ParallelFor(static_cast<size_t>(n), 32768, [&](size_t b, size_t e) { DropoutBackwardRange(dOut, keep, dX, b, e, s); });
  return info.Env().Undefined();
}

}  // namespace

void InitDropout(Napi::Env env, Napi::Object exports) {
  exports.Set("dropoutForward", Napi::Function::New(env, DropoutForward, "dropoutForward"));
  exports.Set("dropoutBackward", Napi::Function::New(env, DropoutBackward, "dropoutBackward"));
}

}  // namespace md2pr
