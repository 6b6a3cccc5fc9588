// Row softmax with scale and an additive broadcast mask (forward), and its backward.
#include <cmath>

#include "common.h"
#include "vecmath.h"

namespace md2pr {

namespace {

MD2PR_CLONES
void SoftmaxRows(size_t r0, size_t r1, const float* x, float* out, size_t cols, float scale, const float* mask,
                 size_t rowsPerMaskRow) {
  const float ninf = -INFINITY;
  for (size_t r = r0; r < r1; r++) {
    const float* xr = x + r * cols;
    float* orow = out + r * cols;
    const float* mr = mask ? mask + (r / rowsPerMaskRow) * cols : nullptr;
    v8f vs = v8_set1(scale);
    v8f vmax = v8_set1(ninf);
    size_t j = 0;
    if (mr) {
      for (; j + 8 <= cols; j += 8) {
        v8f v = v8_load(xr + j) * vs + v8_load(mr + j);
        v8_store(orow + j, v);
        vmax = v > vmax ? v : vmax;
      }
    } else {
      for (; j + 8 <= cols; j += 8) {
        v8f v = v8_load(xr + j) * vs;
        v8_store(orow + j, v);
        vmax = v > vmax ? v : vmax;
      }
    }
    float mx = ninf;
    for (int q = 0; q < 8; q++) mx = vmax[q] > mx ? vmax[q] : mx;
    for (; j < cols; j++) {
      float v = xr[j] * scale + (mr ? mr[j] : 0.f);
      orow[j] = v;
      mx = v > mx ? v : mx;
    }
    if (mx == ninf) {
      for (j = 0; j < cols; j++) orow[j] = 0.f;  // fully masked row
      continue;
    }
    v8f vm = v8_set1(mx);
    v8f vsum = v8_set1(0.f);
    for (j = 0; j + 8 <= cols; j += 8) {
      v8f e = v8_exp(v8_load(orow + j) - vm);
      v8_store(orow + j, e);
      vsum += e;
    }
    if (j < cols) {
      float buf[8];
      for (int q = 0; q < 8; q++) buf[q] = j + q < cols ? orow[j + q] : ninf;
      v8f e = v8_exp(v8_load(buf) - vm);
      vsum += e;
      v8_store(buf, e);
      for (int q = 0; j + q < cols; q++) orow[j + q] = buf[q];
    }
    float sum = 0.f;
    for (int q = 0; q < 8; q++) sum += vsum[q];
    float inv = 1.f / sum;
    for (j = 0; j < cols; j++) orow[j] *= inv;
  }
}

MD2PR_CLONES
void SoftmaxBackwardRows(size_t r0, size_t r1, const float* p, const float* dOut, float* dX, size_t cols, float scale) {
  for (size_t r = r0; r < r1; r++) {
    const float* pr = p + r * cols;
    const float* gr = dOut + r * cols;
    float* dr = dX + r * cols;
    v8f vacc = v8_set1(0.f);
    size_t j = 0;
    for (; j + 8 <= cols; j += 8) vacc += v8_load(gr + j) * v8_load(pr + j);
    float dot = 0.f;
    for (int q = 0; q < 8; q++) dot += vacc[q];
    for (; j < cols; j++) dot += gr[j] * pr[j];
    for (j = 0; j < cols; j++) dr[j] = scale * pr[j] * (gr[j] - dot);
  }
}

// Rows per thread so that each part has at least ~16K elements.
size_t MinRows(size_t cols) { return cols >= 16384 ? 1 : 16384 / (cols ? cols : 1); }

Napi::Value SoftmaxForward(const Napi::CallbackInfo& info) {
  Args args(info, "softmaxForward", 7);
  size_t xl, ol, ml;
  float* x = args.f32(0, "x", &xl);
  float* out = args.f32(1, "out", &ol);
  int64_t rows = args.dim(2, "rows"), cols = args.dim(3, "cols");
  float scale = static_cast<float>(args.num(4, "scale"));
  float* mask = args.f32OrNull(5, "mask", &ml);
  int64_t rpm = args.dim(6, "rowsPerMaskRow");
  size_t n = static_cast<size_t>(rows * cols);
  args.need("x", xl, n);
  args.need("out", ol, n);
  if (mask) {
    if (args.ok() && rpm < 1) args.rangeError("rowsPerMaskRow must be >= 1");
    if (args.ok()) args.need("mask", ml, static_cast<size_t>((rows + rpm - 1) / rpm * cols));
  }
  if (!args.ok()) return args.fail();
  ParallelFor(static_cast<size_t>(rows), MinRows(cols), [&](size_t b, size_t e) {
    SoftmaxRows(b, e, x, out, cols, scale, mask, static_cast<size_t>(rpm));
  }, 1);
  return info.Env().Undefined();
}

Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  Args args(info, "softmaxBackward", 6);
  size_t pl, gl, dl;
  float* p = args.f32(0, "p", &pl);
  float* dOut = args.f32(1, "dOut", &gl);
  float* dX = args.f32(2, "dX", &dl);
  int64_t rows = args.dim(3, "rows"), cols = args.dim(4, "cols");
  float scale = static_cast<float>(args.num(5, "scale"));
  size_t n = static_cast<size_t>(rows * cols);
  args.need("p", pl, n);
  args.need("dOut", gl, n);
  args.need("dX", dl, n);
  if (!args.ok()) return args.fail();
  ParallelFor(static_cast<size_t>(rows), MinRows(cols), [&](size_t b, size_t e) {
    SoftmaxBackwardRows(b, e, p, dOut, dX, cols, scale);
  }, 1);
  return info.Env().Undefined();
}

}  // namespace

void InitSoftmax(Napi::Env env, Napi::Object exports) {
  exports.Set("softmaxForward", Napi::Function::New(env, SoftmaxForward, "softmaxForward"));
  exports.Set("softmaxBackward", Napi::Function::New(env, SoftmaxBackward, "softmaxBackward"));
}

}  // namespace md2pr
