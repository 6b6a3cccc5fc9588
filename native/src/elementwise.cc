// Simple elementwise kernels: addBias / sumRows (bias forward/backward), add, axpy, scale, sumSquares.
#include <vector>

#include "common.h"

namespace md2pr {

namespace {

constexpr size_t kMinPerThread = 65536;  // memory-bound: below this a second thread costs more than it saves

MD2PR_CLONES
void AddBiasRows(const float* x, const float* bias, float* out, size_t r0, size_t r1, size_t cols) {
  for (size_t r = r0; r < r1; r++) {
    const float* xr = x + r * cols;
    float* orow = out + r * cols;
    for (size_t j = 0; j < cols; j++) orow[j] = xr[j] + bias[j];
  }
}

MD2PR_CLONES
void SumRowsRange(const float* d, float* acc, size_t r0, size_t r1, size_t cols) {
  for (size_t r = r0; r < r1; r++) {
    const float* dr = d + r * cols;
    for (size_t j = 0; j < cols; j++) acc[j] += dr[j];
  }
}

MD2PR_CLONES
void AddRange(const float* a, const float* b, float* out, size_t i0, size_t i1) {
  for (size_t i = i0; i < i1; i++) out[i] = a[i] + b[i];
}

MD2PR_CLONES
void AxpyRange(float alpha, const float* src, float* dst, size_t i0, size_t i1) {
  for (size_t i = i0; i < i1; i++) dst[i] += alpha * src[i];
}

MD2PR_CLONES
void ScaleRange(const float* x, float alpha, float* out, size_t i0, size_t i1) {
  for (size_t i = i0; i < i1; i++) out[i] = alpha * x[i];
}

typedef double v4d __attribute__((vector_size(32), aligned(8)));

MD2PR_CLONES
double SumSquaresRange(const float* x, size_t i0, size_t i1) {
  v4d a0 = {0, 0, 0, 0}, a1 = {0, 0, 0, 0};
  size_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    v4d x0 = {x[i], x[i + 1], x[i + 2], x[i + 3]};
    v4d x1 = {x[i + 4], x[i + 5], x[i + 6], x[i + 7]};
    a0 += x0 * x0;
    a1 += x1 * x1;
  }
  v4d a = a0 + a1;
  double s = (a[0] + a[1]) + (a[2] + a[3]);
  for (; i < i1; i++) s += static_cast<double>(x[i]) * x[i];
  return s;
}

Napi::Value AddBias(const Napi::CallbackInfo& info) {
  Args args(info, "addBias", 5);
  size_t xl, bl, ol;
  float* x = args.f32(0, "x", &xl);
  float* bias = args.f32(1, "bias", &bl);
  float* out = args.f32(2, "out", &ol);
  int64_t rows = args.dim(3, "rows"), cols = args.dim(4, "cols");
  args.need("x", xl, rows * cols);
  args.need("out", ol, rows * cols);
  args.need("bias", bl, cols);
  if (!args.ok()) return args.fail();
  size_t minRows = cols >= (int64_t)kMinPerThread ? 1 : kMinPerThread / (cols ? cols : 1);
  ParallelFor(rows, minRows, [&](size_t b, size_t e) { AddBiasRows(x, bias, out, b, e, cols); }, 1);
  return info.Env().Undefined();
}

Napi::Value SumRows(const Napi::CallbackInfo& info) {
  Args args(info, "sumRows", 4);
  size_t dl, bl;
  float* d = args.f32(0, "dOut", &dl);
  float* dBias = args.f32(1, "dBias", &bl);
  int64_t rows = args.dim(2, "rows"), cols = args.dim(3, "cols");
  args.need("dOut", dl, rows * cols);
  args.need("dBias", bl, cols);
  if (!args.ok()) return args.fail();
  size_t minRows = cols >= (int64_t)kMinPerThread ? 1 : kMinPerThread / (cols ? cols : 1);
  int parts = NumThreads();
  if (static_cast<size_t>(rows) / minRows < static_cast<size_t>(parts)) parts = static_cast<int>(rows / minRows);
  if (parts < 1) parts = 1;
  // Per-part partial sums, combined in part order (deterministic for a given thread count).
  std::vector<float> partial(static_cast<size_t>(parts) * cols, 0.f);
  ParallelParts(parts, [&](int p, int np) {
    size_t chunk = (rows + np - 1) / np;
    size_t b = chunk * p, e = std::min<size_t>(b + chunk, rows);
    if (b < e) SumRowsRange(d, partial.data() + p * cols, b, e, cols);
  });
  for (int p = 0; p < parts; p++) {
    const float* s = partial.data() + p * cols;
    for (int64_t j = 0; j < cols; j++) dBias[j] += s[j];
  }
  return info.Env().Undefined();
}

Napi::Value Add(const Napi::CallbackInfo& info) {
  Args args(info, "add", 4);
  size_t al, bl, ol;
  float* a = args.f32(0, "a", &al);
  float* b = args.f32(1, "b", &bl);
  float* out = args.f32(2, "out", &ol);
  int64_t n = args.dim(3, "n");
  args.need("a", al, n);
  args.need("b", bl, n);
  args.need("out", ol, n);
  if (!args.ok()) return args.fail();
  ParallelFor(n, kMinPerThread, [&](size_t i0, size_t i1) { AddRange(a, b, out, i0, i1); });
  return info.Env().Undefined();
}

Napi::Value Axpy(const Napi::CallbackInfo& info) {
  Args args(info, "axpy", 4);
  size_t sl, dl;
  float alpha = static_cast<float>(args.num(0, "alpha"));
  float* src = args.f32(1, "src", &sl);
  float* dst = args.f32(2, "dst", &dl);
  int64_t n = args.dim(3, "n");
  args.need("src", sl, n);
  args.need("dst", dl, n);
  if (!args.ok()) return args.fail();
  ParallelFor(n, kMinPerThread, [&](size_t i0, size_t i1) { AxpyRange(alpha, src, dst, i0, i1); });
  return info.Env().Undefined();
}

Napi::Value Scale(const Napi::CallbackInfo& info) {
  Args args(info, "scale", 4);
  size_t xl, ol;
  float* x = args.f32(0, "x", &xl);
  float alpha = static_cast<float>(args.num(1, "alpha"));
  float* out = args.f32(2, "out", &ol);
  int64_t n = args.dim(3, "n");
  args.need("x", xl, n);
  args.need("out", ol, n);
  if (!args.ok()) return args.fail();
  ParallelFor(n, kMinPerThread, [&](size_t i0, size_t i1) { ScaleRange(x, alpha, out, i0, i1); });
  return info.Env().Undefined();
}

Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  Args args(info, "sumSquares", 2);
  size_t xl;
  float* x = args.f32(0, "x", &xl);
  int64_t n = args.dim(1, "n");
  args.need("x", xl, n);
  if (!args.ok()) return args.fail();
  double partial[64] = {0};
  int parts = NumThreads();
  if (static_cast<size_t>(n) / kMinPerThread < static_cast<size_t>(parts)) parts = static_cast<int>(n / kMinPerThread);
  if (parts < 1) parts = 1;
  ParallelParts(parts, [&](int p, int np) {
    size_t chunk = (n + np - 1) / np;
    size_t b = chunk * p, e = std::min<size_t>(b + chunk, n);
    partial[p] = b < e ? SumSquaresRange(x, b, e) : 0.0;
  });
  double s = 0;
  for (int p = 0; p < parts; p++) s += partial[p];
  return Napi::Number::New(info.Env(), s);
}

}  // namespace

void InitElementwise(Napi::Env env, Napi::Object exports) {
  exports.Set("addBias", Napi::Function::New(env, AddBias, "addBias"));
  exports.Set("sumRows", Napi::Function::New(env, SumRows, "sumRows"));
  exports.Set("add", Napi::Function::New(env, Add, "add"));
  exports.Set("axpy", Napi::Function::New(env, Axpy, "axpy"));
  exports.Set("scale", Napi::Function::New(env, Scale, "scale"));
  exports.Set("sumSquares", Napi::Function::New(env, SumSquares, "sumSquares"));
}

}  // namespace md2pr
