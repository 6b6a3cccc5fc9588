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

typedef uint32_t v8u __attribute__((vector_size(32), aligned(4)));
typedef uint8_t v8b __attribute__((vector_size(8), aligned(1)));

// Keep threshold: keep <=> h / 2^32 >= p <=> h >= ceil(p * 2^32) (h / 2^32 is exact in double).
// Returns 2^32 when nothing is kept (p >= 1 or NaN, since u >= NaN is false).
uint64_t KeepThreshold(double p) {
  double t = p * 4294967296.0;
  if (t != t || t >= 4294967296.0) return uint64_t(1) << 32;
  if (t <= 0) return 0;
  uint64_t thr = static_cast<uint64_t>(t);
  if (static_cast<double>(thr) < t) thr++;  // ceil
  return thr;
}

MD2PR_CLONES
void DropoutForwardRange(const float* x, float* out, uint8_t* keep, size_t b, size_t e, uint64_t thr, uint32_t seed,
                         float s) {
  size_t i = b;
  if (thr >= (uint64_t(1) << 32)) {  // nothing kept
    for (; i < e; i++) {
      keep[i] = 0;
      out[i] = 0.f;
    }
    return;
  }
  {
    const v8u vseed = v8u{seed, seed, seed, seed, seed, seed, seed, seed};
    const uint32_t t32 = static_cast<uint32_t>(thr);
    const v8u vthr = v8u{t32, t32, t32, t32, t32, t32, t32, t32};
    const v8u lane = v8u{0, 1, 2, 3, 4, 5, 6, 7};
    const v8f vs = v8_set1(s), zero = v8_set1(0.f);
    for (; i + 8 <= e; i += 8) {
      const uint32_t i32 = static_cast<uint32_t>(i);
      v8u h = (lane + i32) * 0x9E3779B9u;
      h ^= vseed;
      h ^= h >> 16;
      h *= 0x7feb352du;
      h ^= h >> 15;
      h *= 0x846ca68bu;
      h ^= h >> 16;
      v8i k = h >= vthr;  // -1 where kept
      v8f xv = v8_load(x + i) * vs;
      v8_store(out + i, k ? xv : zero);
      v8b kb = __builtin_convertvector(k & 1, v8b);
      __builtin_memcpy(keep + i, &kb, 8);
    }
  }
  for (; i < e; i++) {
    uint32_t h = DropoutHash(seed, static_cast<uint32_t>(i));
    bool k = static_cast<uint64_t>(h) >= thr;
    keep[i] = k ? 1 : 0;
    out[i] = k ? x[i] * s : 0.f;
  }
}

MD2PR_CLONES
void DropoutBackwardRange(const float* dOut, const uint8_t* keep, float* dX, size_t b, size_t e, float s) {
  size_t i = b;
  const v8f vs = v8_set1(s), zero = v8_set1(0.f);
  for (; i + 8 <= e; i += 8) {
    v8i k = v8i{keep[i], keep[i + 1], keep[i + 2], keep[i + 3], keep[i + 4], keep[i + 5], keep[i + 6], keep[i + 7]};
    v8_store(dX + i, k != 0 ? v8_load(dOut + i) * vs : zero);
  }
  for (; i < e; i++) dX[i] = keep[i] ? dOut[i] * s : 0.f;
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
  const uint64_t thr = KeepThreshold(p);
  ParallelFor(static_cast<size_t>(n), 32768,
              [&](size_t b, size_t e) { DropoutForwardRange(x, out, keep, b, e, thr, seed, s); });
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
