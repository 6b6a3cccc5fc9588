// Vectorised float math on v8f (used inside MD2PR_CLONES functions so it compiles to AVX2/FMA there).
// exp: Cephes-style range reduction + degree-5 polynomial, ~1 ulp on [-87.3, 88.7]; exactly 0 below.
// erf: Abramowitz & Stegun 7.1.26, |error| < 1.5e-7.
#pragma once
#include "common.h"

namespace md2pr {

static inline __attribute__((always_inline)) v8f v8_exp(v8f x) {
  const v8f hi = v8_set1(88.7228f), lo = v8_set1(-87.3365f);
  v8i under = x < lo;
  x = x > hi ? hi : x;
  x = x < lo ? lo : x;
  // n = round(x / ln2) by the 1.5 * 2^23 trick (exact for |n| < 2^22).
  const v8f magic = v8_set1(12582912.f);
  v8f n = (x * v8_set1(1.44269504088896341f) + magic) - magic;
  x = x - n * v8_set1(0.693359375f);
  x = x - n * v8_set1(-2.12194440e-4f);
  v8f z = x * x;
  v8f y = v8_set1(1.9875691500e-4f);
  y = y * x + v8_set1(1.3981999507e-3f);
  y = y * x + v8_set1(8.3334519073e-3f);
  y = y * x + v8_set1(4.1665795894e-2f);
  y = y * x + v8_set1(1.6666665459e-1f);
  y = y * x + v8_set1(5.0000001201e-1f);
  y = y * z + x + v8_set1(1.f);
  // 2^n: n in [-126, 128]; 2^128 only for x > 88.03, where we split it as 2^(n-1) * 2.
  v8i ni = __builtin_convertvector(n, v8i);
  v8i big = ni > 127;
  ni = big ? ni - 1 : ni;
  v8i bits = (ni + 127) << 23;
  v8f pow2;
  __builtin_memcpy(&pow2, &bits, sizeof pow2);
  y = y * pow2;
  y = big ? y * v8_set1(2.f) : y;
  return under ? v8_set1(0.f) : y;
}

static inline __attribute__((always_inline)) v8f v8_abs(v8f x) { return x < 0 ? -x : x; }

// erf(x), also returning exp(-x^2) (which it computes anyway) in *expNegSq.
static inline __attribute__((always_inline)) v8f v8_erf_exp(v8f x, v8f* expNegSq) {
  v8f z = v8_abs(x);
  v8f t = v8_set1(1.f) / (v8_set1(1.f) + v8_set1(0.3275911f) * z);
  v8f poly = v8_set1(1.061405429f);
  poly = poly * t + v8_set1(-1.453152027f);
  poly = poly * t + v8_set1(1.421413741f);
  poly = poly * t + v8_set1(-0.284496736f);
  poly = poly * t + v8_set1(0.254829592f);
  poly = poly * t;
  v8f e = v8_exp(-z * z);
  *expNegSq = e;
  v8f r = v8_set1(1.f) - poly * e;
  return x < 0 ? -r : r;
}

static inline __attribute__((always_inline)) v8f v8_erf(v8f x) {
  v8f z = v8_abs(x);
  v8f t = v8_set1(1.f) / (v8_set1(1.f) + v8_set1(0.3275911f) * z);
  v8f poly = v8_set1(1.061405429f);
  poly = poly * t + v8_set1(-1.453152027f);
  poly = poly * t + v8_set1(1.421413741f);
  poly = poly * t + v8_set1(-0.284496736f);
  poly = poly * t + v8_set1(0.254829592f);
  poly = poly * t;
  v8f r = v8_set1(1.f) - poly * v8_exp(-z * z);
  return x < 0 ? -r : r;
}

// tanh(x) = sign(x) * (1 - 2 / (exp(2|x|) + 1)); for small |x| an odd polynomial avoids cancellation.
static inline __attribute__((always_inline)) v8f v8_tanh(v8f x) {
  v8f z = v8_abs(x);
  v8f e = v8_exp(v8_set1(2.f) * (z > v8_set1(9.f) ? v8_set1(9.f) : z));
  v8f big = v8_set1(1.f) - v8_set1(2.f) / (e + v8_set1(1.f));
  // |x| < 0.625: tanh x = x + x^3 * P(x^2) (Cephes tanhf polynomial)
  v8f s = z * z;
  v8f p = v8_set1(-5.70498872745e-3f);
  p = p * s + v8_set1(2.06390887954e-2f);
  p = p * s + v8_set1(-5.37397155531e-2f);
  p = p * s + v8_set1(1.33314422036e-1f);
  p = p * s + v8_set1(-3.33332819422e-1f);
  v8f small = z + z * s * p;
  v8f r = z < v8_set1(0.625f) ? small : big;
  r = z > v8_set1(9.f) ? v8_set1(1.f) : r;  // tanh rounds to 1 in float beyond ~9.01
  return x < 0 ? -r : r;
}

}  // namespace md2pr
