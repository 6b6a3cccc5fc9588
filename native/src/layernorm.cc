// Layer norm over the last dimension: forward (writes mean and rstd) and backward (dX overwritten,
// dGamma/dBeta accumulated).
#include <cmath>
#include <vector>

#include "common.h"

namespace md2pr {

namespace {

static inline __attribute__((always_inline)) float HSum(v8f v) {
  return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

MD2PR_CLONES
void LayerNormRows(size_t r0, size_t r1, const float* x, const float* gamma, const float* beta, float* out, float* mean,
                   float* rstd, size_t cols, float eps) {
  const size_t cv = cols & ~size_t(7);
  for (size_t r = r0; r < r1; r++) {
    const float* xr = x + r * cols;
    float* orow = out + r * cols;
    v8f a = v8_set1(0.f);
    for (size_t j = 0; j < cv; j += 8) a += v8_load(xr + j);
    float s = HSum(a);
    for (size_t j = cv; j < cols; j++) s += xr[j];
    float mu = s / static_cast<float>(cols);
    v8f vmu = v8_set1(mu);
    a = v8_set1(0.f);
    for (size_t j = 0; j < cv; j += 8) {
      v8f d = v8_load(xr + j) - vmu;
      a += d * d;
    }
    float v = HSum(a);
    for (size_t j = cv; j < cols; j++) {
      float d = xr[j] - mu;
      v += d * d;
    }
    float rs = 1.f / std::sqrt(v / static_cast<float>(cols) + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (size_t j = 0; j < cols; j++) orow[j] = (xr[j] - mu) * rs * gamma[j] + beta[j];
  }
}

// dX for rows [r0, r1), and this part's dGamma/dBeta sums added into dg/db.
MD2PR_CLONES
void LayerNormBackwardRows(size_t r0, size_t r1, const float* dOut, const float* x, const float* gamma,
                           const float* mean, const float* rstd, float* dX, float* dg, float* db, size_t cols) {
  const float invC = 1.f / static_cast<float>(cols);
  const size_t cv = cols & ~size_t(7);
  for (size_t r = r0; r < r1; r++) {
    const float* gr = dOut + r * cols;
    const float* xr = x + r * cols;
    float* dr = dX + r * cols;
    float mu = mean[r], rs = rstd[r];
    v8f vmu = v8_set1(mu), vrs = v8_set1(rs);
    v8f aD = v8_set1(0.f), aDX = v8_set1(0.f);
    for (size_t j = 0; j < cv; j += 8) {
      v8f g = v8_load(gr + j);
      v8f xh = (v8_load(xr + j) - vmu) * vrs;
      v8f dxh = g * v8_load(gamma + j);
      aD += dxh;
      aDX += dxh * xh;
      v8_store(dg + j, v8_load(dg + j) + g * xh);
      v8_store(db + j, v8_load(db + j) + g);
    }
    float sumD = HSum(aD), sumDX = HSum(aDX);
    for (size_t j = cv; j < cols; j++) {
      float xh = (xr[j] - mu) * rs;
      float dxh = gr[j] * gamma[j];
      sumD += dxh;
      sumDX += dxh * xh;
      dg[j] += gr[j] * xh;
      db[j] += gr[j];
    }
    float mD = sumD * invC, mDX = sumDX * invC;
    for (size_t j = 0; j < cols; j++) {
      float xh = (xr[j] - mu) * rs;
      dr[j] = rs * (gr[j] * gamma[j] - mD - xh * mDX);
    }
  }
}

Napi::Value LayerNormForward(const Napi::CallbackInfo& info) {
  Args args(info, "layerNormForward", 9);
  size_t xl, gl, bl, ol, ml, rl;
  float* x = args.f32(0, "x", &xl);
  float* gamma = args.f32(1, "gamma", &gl);
  float* beta = args.f32(2, "beta", &bl);
  float* out = args.f32(3, "out", &ol);
  float* mean = args.f32(4, "mean", &ml);
  float* rstd = args.f32(5, "rstd", &rl);
  int64_t rows = args.dim(6, "rows"), cols = args.dim(7, "cols");
  float eps = static_cast<float>(args.num(8, "eps"));
  size_t n = static_cast<size_t>(rows * cols);
  args.need("x", xl, n);
  args.need("out", ol, n);
  args.need("gamma", gl, cols);
  args.need("beta", bl, cols);
  args.need("mean", ml, rows);
  args.need("rstd", rl, rows);
  if (!args.ok()) return args.fail();
  size_t minRows = cols >= 16384 ? 1 : 16384 / (cols ? cols : 1);
  ParallelFor(static_cast<size_t>(rows), minRows, [&](size_t b, size_t e) {
    LayerNormRows(b, e, x, gamma, beta, out, mean, rstd, cols, eps);
  }, 1);
  return info.Env().Undefined();
}

Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  Args args(info, "layerNormBackward", 10);
  size_t l0, l1, l2, l3, l4, l5, l6, l7;
  float* dOut = args.f32(0, "dOut", &l0);
  float* x = args.f32(1, "x", &l1);
  float* gamma = args.f32(2, "gamma", &l2);
  float* mean = args.f32(3, "mean", &l3);
  float* rstd = args.f32(4, "rstd", &l4);
  float* dX = args.f32(5, "dX", &l5);
  float* dGamma = args.f32(6, "dGamma", &l6);
  float* dBeta = args.f32(7, "dBeta", &l7);
  int64_t rows = args.dim(8, "rows"), cols = args.dim(9, "cols");
  size_t n = static_cast<size_t>(rows * cols);
  args.need("dOut", l0, n);
  args.need("x", l1, n);
  args.need("gamma", l2, cols);
  args.need("mean", l3, rows);
  args.need("rstd", l4, rows);
  args.need("dX", l5, n);
  args.need("dGamma", l6, cols);
  args.need("dBeta", l7, cols);
  if (!args.ok()) return args.fail();
  size_t minRows = cols >= 16384 ? 1 : 16384 / (cols ? cols : 1);
  int parts = NumThreads();
  if (static_cast<size_t>(rows) / minRows < static_cast<size_t>(parts)) parts = static_cast<int>(rows / minRows);
  if (parts <= 1) {
    LayerNormBackwardRows(0, rows, dOut, x, gamma, mean, rstd, dX, dGamma, dBeta, cols);
    return info.Env().Undefined();
  }
  // Each part accumulates its own dGamma/dBeta partial sums (part 0 directly into the outputs).
  std::vector<float> partial(static_cast<size_t>(parts - 1) * 2 * cols, 0.f);
  ParallelParts(parts, [&](int p, int np) {
    size_t chunk = (rows + np - 1) / np;
    size_t b = chunk * p, e = std::min<size_t>(b + chunk, rows);
    float* dg = p == 0 ? dGamma : partial.data() + (p - 1) * 2 * cols;
    float* db = p == 0 ? dBeta : dg + cols;
    if (b < e) LayerNormBackwardRows(b, e, dOut, x, gamma, mean, rstd, dX, dg, db, cols);
  });
  for (int p = 1; p < parts; p++) {
    const float* dg = partial.data() + (p - 1) * 2 * cols;
    for (int64_t j = 0; j < cols; j++) {
      dGamma[j] += dg[j];
      dBeta[j] += dg[cols + j];
    }
  }
  return info.Env().Undefined();
}

}  // namespace

void InitLayerNorm(Napi::Env env, Napi::Object exports) {
  exports.Set("layerNormForward", Napi::Function::New(env, LayerNormForward, "layerNormForward"));
  exports.Set("layerNormBackward", Napi::Function::New(env, LayerNormBackward, "layerNormBackward"));
}

}  // namespace md2pr
